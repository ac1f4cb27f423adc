"""The weekly digest: its figures, when it is due, and sending it exactly once per manager and week.

A digest covers, for each department a manager manages, one ISO week of the manager's own time
zone (Monday 00:00 to Monday 00:00 local, so a DST week is 167 or 169 hours long) against the week
before, with a trend over the last eight weeks. `period="last"` is the week that has ended (what
the scheduled digest sends); `period="current"` is this week so far, compared with the same part
of last week (what `/handoff digest` shows).

When: each department has a `digest_day` and `digest_time` (default Monday 09:00), in each
manager's own time zone; a manager of several departments gets one digest, at the earliest of
their departments' moments. Once that moment of the current local week has passed, the digest of
the week that ended is due until it is sent — so after downtime it goes out as soon as the app
is back, the same week. A week missed entirely is not sent the week after (that week's digest
covers the newer week). Nor is a week that had ended before the manager managed any of their
departments (the `added_at` of their places): the app's first start, a new department or a new
manager sends no digest of a week already over; their first digest is of the week they came in.

Exactly once: `send_due` inserts a `digest_sent` row (unique per manager and week) and queues the
digest in the outbox in one transaction. A second process racing for the same manager fails on
the unique constraint, rolls back its savepoint and skips; a crash before the commit leaves
nothing behind, so the digest is still due.

The figures are computed in the database (`handoff_bot.digests.queries`) and stored in the
outbox notice, so the message shows the week as it was when the digest was sent, even if its
delivery is retried later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff_bot.departments.config_file import DIGEST_DAYS
from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole
from handoff_bot.digests import queries
from handoff_bot.digests.models import DigestSent
from handoff_bot.digests.queries import Span
from handoff_bot.outbox.models import NoticeKind
from handoff_bot.outbox.service import enqueue
from handoff_bot.people import SlackUser

log = logging.getLogger(__name__)

UTC = timezone.utc
WEEK = timedelta(days=7)
TREND_WEEKS = 8
LIST_LIMIT = 5         # items shown per list; the rest are "and N more"
PAIR_LIMIT = 3         # partner departments shown per bottleneck list
STALLED_AFTER = timedelta(days=3)  # an open handoff with no activity this long is stalled
COMMENT_MAX = 300
Period = Literal["last", "current"]


# --------------------------------------------------------------------------- weeks


def week_label(day: date) -> str:
    """The ISO week of a date: `2026-W10`."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def zone_of(tz: str | None) -> ZoneInfo:
    """The named time zone, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of a local day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """The spans one digest covers (UTC, end exclusive)."""

    period: Period
    week: str                 # the ISO week of `this`
    this: Span
    before: Span              # the week before (for "current": the same part of last week)
    trend: tuple[Span, ...]   # the last TREND_WEEKS weeks, oldest first, `this` last


def window(now: datetime, zone: ZoneInfo, period: Period = "last") -> Window:
    """The spans of a digest built at `now` for a manager in `zone`.

    Args:
        now: the current time.
        zone: the manager's time zone; weeks run Monday 00:00 to Monday 00:00 there.
        period: "last", the ISO week that has ended; "current", this week up to `now`.
    """
    local = now.astimezone(zone)
    monday = monday_of(local.date())
    if period == "last":
        first = monday - WEEK
        weeks = [first - WEEK * k for k in range(TREND_WEEKS - 1, -1, -1)]
        trend = tuple((local_midnight(d, zone), local_midnight(d + WEEK, zone)) for d in weeks)
        return Window("last", week_label(first), trend[-1], trend[-2], trend)
    this = (local_midnight(monday, zone), now)
    # The same local weekday and wall-clock time a week earlier (zoneinfo does wall-clock arithmetic).
    before = (local_midnight(monday - WEEK, zone), (local - WEEK).astimezone(UTC))
    weeks = [monday - WEEK * k for k in range(TREND_WEEKS - 1, 0, -1)]
    trend = (*((local_midnight(d, zone), local_midnight(d + WEEK, zone)) for d in weeks), this)
    return Window("current", week_label(monday), this, before, trend)


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """One department in one span."""

    received: int = 0
    sent: int = 0
    confirmed: int = 0
    in_standard: int = 0
    median_confirm_s: float | None = None
    done: int = 0
    median_complete_s: float | None = None
    clarified: int = 0
    rounds: int = 0
    questions: int = 0
    escalations: int = 0
    rated: int = 0
    rating_avg: float | None = None
    low_ratings: int = 0

    @property
    def in_standard_share(self) -> float | None:
        """The share of confirmations within the standard, None when nothing was confirmed."""
        return self.in_standard / self.confirmed if self.confirmed else None

    @property
    def empty(self) -> bool:
        return not (self.received or self.sent or self.confirmed or self.done or self.rated or self.questions
                    or self.escalations)


@dataclass
class Item:
    """A handoff in a list: what it is, with whom, and the moment that put it there."""

    id: int
    title: str
    partner: str | None        # the requesting department
    requester_id: str
    recipient_id: str | None
    at: datetime | None        # overdue: the deadline; escalated: sent; stalled: last activity; rated: when
    rating: int | None = None
    comment: str | None = None


@dataclass
class Listing:
    total: int = 0
    items: list[Item] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass
class Pair:
    """A partner department: handoffs confirmed between the two in the period."""

    partner: str
    confirmed: int
    clarified: int
    in_standard: int
    median_confirm_s: float | None


@dataclass
class DepartmentDigest:
    id: int
    name: str
    this: Figures
    before: Figures
    trend: list[Figures]                          # TREND_WEEKS weeks, oldest first
    escalated: Listing = field(default_factory=Listing)
    stalled: Listing = field(default_factory=Listing)
    low_ratings: Listing = field(default_factory=Listing)
    overdue: Listing = field(default_factory=Listing)
    comments: Listing = field(default_factory=Listing)
    slow_providing: list[Pair] = field(default_factory=list)     # partners we were slowest to confirm for
    unclear_providing: list[Pair] = field(default_factory=list)  # … whose handoffs to us needed most clarification
    slow_receiving: list[Pair] = field(default_factory=list)     # partners slowest to confirm ours
    unclear_receiving: list[Pair] = field(default_factory=list)  # … where ours needed most clarification

    @property
    def needs_decision(self) -> bool:
        return bool(self.escalated.total or self.stalled.total or self.low_ratings.total)

    @property
    def quiet(self) -> bool:
        """Nothing happened in either week and nothing is open to report."""
        return self.this.empty and self.before.empty and not (self.needs_decision or self.overdue.total)


@dataclass
class Digest:
    manager_id: str
    tz: str
    period: Period
    week: str
    start: datetime
    end: datetime
    before_start: datetime
    before_end: datetime
    departments: list[DepartmentDigest] = field(default_factory=list)

    def to_params(self) -> dict[str, Any]:
        """The digest as JSON-ready outbox params: `manager`, `week`, `departments` and the spans."""
        data = _jsonable(asdict(self))
        data["manager"] = data.pop("manager_id")
        return data

    @classmethod
    def from_params(cls, data: dict[str, Any]) -> Digest:
        """The digest `to_params` stored."""
        return cls(
            manager_id=data["manager"], tz=data["tz"], period=data["period"], week=data["week"],
            start=_time(data["start"]), end=_time(data["end"]),
            before_start=_time(data["before_start"]), before_end=_time(data["before_end"]),
            departments=[_department(d) for d in data["departments"]],
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _listing(data: dict[str, Any]) -> Listing:
    return Listing(data["total"], [Item(**{**i, "at": _time(i["at"])}) for i in data["items"]])


def _department(data: dict[str, Any]) -> DepartmentDigest:
    pairs = ("slow_providing", "unclear_providing", "slow_receiving", "unclear_receiving")
    listings = ("escalated", "stalled", "low_ratings", "overdue", "comments")
    return DepartmentDigest(
        id=data["id"], name=data["name"], this=Figures(**data["this"]), before=Figures(**data["before"]),
        trend=[Figures(**f) for f in data["trend"]],
        **{name: _listing(data[name]) for name in listings},
        **{name: [Pair(**p) for p in data[name]] for name in pairs},
    )


# --------------------------------------------------------------------------- building


def build(session: Session, manager_id: str, now: datetime, *, period: Period = "last") -> Digest:
    """The digest of every department `manager_id` manages, computed in the database.

    Args:
        session: the transaction to read in.
        manager_id: the manager's Slack user id; their time zone (as last seen) sets the weeks.
        now: the current time.
        period: "last" (the week that ended, as sent on schedule) or "current" (this week so far).

    Returns:
        The digest; its `departments` is empty when the user manages none.
    """
    return build_many(session, [manager_id], now, period=period)[manager_id]


def build_many(session: Session, manager_ids: Sequence[str], now: datetime, *, period: Period = "last"
               ) -> dict[str, Digest]:
    """The digests of several managers, with one set of queries per time zone rather than per manager.

    Managers in one time zone share their weeks, so the figures of all their departments come from
    the same queries (each grouped by department); each manager's digest then takes its own
    departments' figures.

    Args:
        session: the transaction to read in.
        manager_ids: the managers' Slack user ids.
        now: the current time.
        period: "last" or "current", as for `build`.
    """
    managed: dict[str, list[Department]] = {m: [] for m in manager_ids}
    for user_id, department in session.execute(
        select(DepartmentPerson.user_id, Department)
        .join(Department, Department.id == DepartmentPerson.department_id)
        .where(DepartmentPerson.user_id.in_(list(managed)), DepartmentPerson.role == MemberRole.MANAGER)
        .order_by(Department.name)
    ):
        managed[user_id].append(department)
    known = {row.user_id: row.tz for row in session.execute(
        select(SlackUser.user_id, SlackUser.tz).where(SlackUser.user_id.in_(list(managed))))}
    zones = {m: known.get(m) or "UTC" for m in manager_ids}  # as `people.time_zone` has it
    digests: dict[str, Digest] = {}
    for tz in sorted(set(zones.values())):
        win = window(now, zone_of(tz), period)
        group = [m for m in manager_ids if zones[m] == tz]
        wanted = {d.id: d for m in group for d in managed[m]}
        found = _departments(session, list(wanted.values()), win, now) if wanted else {}
        for m in group:
            digests[m] = Digest(m, tz, win.period, win.week, win.this[0], win.this[1], win.before[0], win.before[1],
                                [found[d.id] for d in managed[m]])
    return digests


def _departments(session: Session, managed: Sequence[Department], win: Window, now: datetime
                 ) -> dict[int, DepartmentDigest]:
    """The figures, lists and partners of each department over the spans of `win`."""
    ids = [d.id for d in managed]
    spans = list(dict.fromkeys([*win.trend, win.before, win.this]))
    at = {span: i for i, span in enumerate(spans)}
    received = queries.received(session, ids, spans)
    sent = queries.sent(session, ids, spans)
    asked = queries.questions(session, ids, spans)
    escalations = queries.escalations(session, ids, spans)
    to_confirm = queries.median_confirm(session, ids, spans)
    to_complete = queries.median_complete(session, ids, spans)

    def figures(department_id: int, span: Span) -> Figures:
        key = (department_id, at[span])
        r = received.get(key, queries.Received())
        return Figures(
            received=r.received, sent=sent.get(key, 0), confirmed=r.confirmed, in_standard=r.in_standard,
            median_confirm_s=to_confirm.get(key), done=r.done, median_complete_s=to_complete.get(key),
            clarified=r.clarified, rounds=r.rounds, questions=asked.get(key, 0),
            escalations=escalations.get(key, 0), rated=r.rated, rating_avg=r.rating_avg, low_ratings=r.low_ratings,
        )

    lists = {
        "escalated": queries.escalated(session, ids, LIST_LIMIT),
        "stalled": queries.stalled(session, ids, now, now - STALLED_AFTER, LIST_LIMIT),
        "low_ratings": queries.low_ratings(session, ids, win.this, LIST_LIMIT),
        "overdue": queries.overdue(session, ids, now, LIST_LIMIT),
        "comments": queries.comments(session, ids, win.this, LIST_LIMIT),
    }
    providing = queries.pairs(session, ids, win.this, as_provider=True)
    receiving = queries.pairs(session, ids, win.this, as_provider=False)
    partner_ids = {p.partner_id for p in (*providing, *receiving)}
    partner_ids |= {row.from_department_id for _, items in lists.values() for rows in items.values() for row in rows
                    if row.from_department_id is not None}
    names = queries.department_names(session, partner_ids)

    found: dict[int, DepartmentDigest] = {}
    for department in managed:
        out = DepartmentDigest(
            id=department.id, name=department.name,
            this=figures(department.id, win.this), before=figures(department.id, win.before),
            trend=[figures(department.id, span) for span in win.trend],
        )
        for name, (totals, items) in lists.items():
            setattr(out, name, Listing(totals.get(department.id, 0), [
                _item(row, names, name) for row in items.get(department.id, [])]))
        mine = [p for p in providing if p.department_id == department.id]
        theirs = [p for p in receiving if p.department_id == department.id]
        out.slow_providing, out.unclear_providing = _slowest(mine, names), _unclearest(mine, names)
        out.slow_receiving, out.unclear_receiving = _slowest(theirs, names), _unclearest(theirs, names)
        found[department.id] = out
    return found


def _item(row: Any, names: dict[int, str], listing: str) -> Item:
    moment = {"overdue": row.deadline_at, "escalated": row.created_at, "stalled": row.updated_at}.get(
        listing, row.rated_at)
    comment = row.rating_comment
    return Item(
        id=row.id, title=row.title, partner=names.get(row.from_department_id) if row.from_department_id else None,
        requester_id=row.requester_id, recipient_id=row.recipient_id, at=moment, rating=row.rating,
        comment=comment if comment is None or len(comment) <= COMMENT_MAX else comment[:COMMENT_MAX - 1] + "…",
    )


def _pair(p: queries.PairFigures, names: dict[int, str]) -> Pair:
    return Pair(names.get(p.partner_id, f"#{p.partner_id}"), p.confirmed, p.clarified, p.in_standard,
                p.median_confirm_s)


def _slowest(found: Sequence[queries.PairFigures], names: dict[int, str]) -> list[Pair]:
    """The partners with the slowest median confirmation (ties: more handoffs first)."""
    timed = sorted((p for p in found if p.median_confirm_s is not None),
                   key=lambda p: (-(p.median_confirm_s or 0), -p.confirmed, names.get(p.partner_id, "")))
    return [_pair(p, names) for p in timed[:PAIR_LIMIT]]


def _unclearest(found: Sequence[queries.PairFigures], names: dict[int, str]) -> list[Pair]:
    """The partners whose handoffs most often needed clarification (by share, then number)."""
    unclear = sorted((p for p in found if p.clarified),
                     key=lambda p: (-p.clarified / p.confirmed, -p.clarified, names.get(p.partner_id, "")))
    return [_pair(p, names) for p in unclear[:PAIR_LIMIT]]


# --------------------------------------------------------------------------- when, and exactly once


@dataclass(frozen=True)
class Due:
    manager_id: str
    week: str  # the week the digest covers


def manager_ids(session: Session) -> list[str]:
    """Everyone who manages a department, by user id."""
    return list(session.scalars(select(DepartmentPerson.user_id).distinct()
                                .where(DepartmentPerson.role == MemberRole.MANAGER).order_by(DepartmentPerson.user_id)))


@dataclass(frozen=True)
class Schedule:
    """A manager's digest moment, the earliest of their departments', and since when they manage."""

    weekday: int      # 0 = Monday
    clock: time       # local time
    since: datetime   # the earliest `added_at` of their manager places


def schedules(session: Session) -> dict[str, Schedule]:
    """Every manager's schedule, by user id."""
    rows = session.execute(
        select(DepartmentPerson.user_id, Department.digest_day, Department.digest_time, DepartmentPerson.added_at)
        .join(Department, Department.id == DepartmentPerson.department_id)
        .where(DepartmentPerson.role == MemberRole.MANAGER)
    )
    moments: dict[str, tuple[int, time]] = {}
    since: dict[str, datetime] = {}
    for user_id, day, clock, added_at in rows:
        moment = (DIGEST_DAYS.index(day) if day in DIGEST_DAYS else 0, _clock(clock))
        moments[user_id] = min(moment, moments.get(user_id, moment))
        since[user_id] = min(added_at, since.get(user_id, added_at))
    return {user_id: Schedule(*moment, since[user_id]) for user_id, moment in moments.items()}


def _clock(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return time(9, 0)


def due_managers(session: Session, now: datetime, *, on_schedule: bool = True) -> list[Due]:
    """The managers whose digest of the week that ended is not sent yet, and due.

    Args:
        session: the transaction to read in.
        now: the current time.
        on_schedule: True: only those whose digest moment of this local week has passed, and who
            became a manager before the week that ended was over. False: every manager
            (`digest send --now`).
    """
    planned = schedules(session)
    if not planned:
        return []
    people = {row.user_id: row for row in session.execute(
        select(SlackUser.user_id, SlackUser.tz, SlackUser.deleted, SlackUser.is_bot)
        .where(SlackUser.user_id.in_(planned)))}
    candidates: list[Due] = []
    for manager_id, plan in sorted(planned.items()):
        person = people.get(manager_id)
        if person is not None and (person.deleted or person.is_bot):
            continue
        zone = zone_of(person.tz if person is not None else None)
        monday = monday_of(now.astimezone(zone).date())
        moment = datetime.combine(monday + timedelta(days=plan.weekday), plan.clock, tzinfo=zone)
        if not on_schedule or (now >= moment and plan.since < local_midnight(monday, zone)):
            candidates.append(Due(manager_id, week_label(monday - WEEK)))
    if not candidates:
        return []
    done = {(row.manager_id, row.week) for row in session.execute(
        select(DigestSent.manager_id, DigestSent.week).where(
            DigestSent.manager_id.in_({c.manager_id for c in candidates}),
            DigestSent.week.in_({c.week for c in candidates})))}
    return [c for c in candidates if (c.manager_id, c.week) not in done]


def send_due(session: Session, now: datetime, *, on_schedule: bool = True) -> int:
    """Queue the digests that are due, each exactly once; returns how many were queued.

    The due digests are built together (`build_many`); then for each manager, in a savepoint:
    record `digest_sent` (manager, week) and queue the digest in the outbox. Another process that
    recorded the same digest first makes the insert fail: the savepoint is rolled back and the
    manager skipped. Nothing is sent unless the caller's transaction commits.

    Args:
        session: the transaction; the caller commits it.
        now: the current time.
        on_schedule: False to send every manager's digest of the week that ended, due or not yet.
    """
    queued = 0
    due = due_managers(session, now, on_schedule=on_schedule)
    built = build_many(session, [d.manager_id for d in due], now, period="last") if due else {}
    for found in due:
        digest = built[found.manager_id]
        try:
            with session.begin_nested():
                session.add(DigestSent(manager_id=found.manager_id, week=found.week, sent_at=now))
                session.flush()
                enqueue(session, NoticeKind.DIGEST, found.manager_id, now, **digest.to_params())
        except IntegrityError:
            log.info("digest %s for %s was sent by another process", found.week, found.manager_id)
            continue
        queued += 1
        log.info("digest %s for %s queued", found.week, found.manager_id)
    return queued


def this_week(session: Session, user_id: str, now: datetime) -> Digest | None:
    """This week so far for a manager (`/handoff digest`), or None when the user manages no department."""
    digest = build(session, user_id, now, period="current")
    return digest if digest.departments else None


def queue_copy(session: Session, digest: Digest, now: datetime) -> None:
    """Send a digest to its manager as a DM (not recorded as the week's digest)."""
    enqueue(session, NoticeKind.DIGEST, digest.manager_id, now, **digest.to_params())
