"""Follow-ups of `python app.py` as real processes: survive a SIGKILL, and fire exactly once with two processes.

Finance answers around the clock with a standard of seconds (confirm within 3 s, remind every 2 s,
escalate after one reminder), so a handoff nobody confirms gets, within about five seconds, one
reminder to its recipient, then one escalation to Finance's manager and one "escalated" notice to
its requester. What arrives is read from the Slack stand-in's recorded `chat.postMessage` calls;
one reminder message may list several handoffs, so arrivals are counted per (person, handoff, item)
from the message's sections.

Every wait has a deadline and a condition: a message arriving, a database state, a moment on the
wall clock. Absence of duplicates is watched for a quiet period (a reminder interval plus two
scheduler ticks) that fails as soon as a duplicate arrives.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handoff_bot.db import Database
from handoff_bot.followups.models import Followup, FollowupKind, FollowupState
from handoff_bot.handoffs.models import Handoff
from handoff_bot.runtime import FOLLOWUP_SECONDS
from tests.e2e.conftest import (
    CARD_BUTTONS,
    E2E,
    INTAKE,
    MANAGER,
    MEMBER,
    RECIPIENT,
    REQUESTER,
    AppProcess,
    add_people,
    free_port,
    make_e2e,
    wait_until,
)
from tests.slack_requests import Reply
from tests.slack_standin import Call, SlackStandIn

pytestmark = pytest.mark.e2e

CONFIRM_WITHIN = 3  # seconds: long enough to create a handoff and kill the process before its reminder
REMIND_EVERY = 2
# A duplicate would come within one reminder interval (a re-planned follow-up) or one scheduler tick
# (a second claim of the same row), plus delivery; watch that long after the last expected message.
QUIET = REMIND_EVERY + 2 * FOLLOWUP_SECONDS + 1.0
ARRIVAL = 30.0  # deadline for all expected follow-ups to arrive (normally CONFIRM_WITHIN + REMIND_EVERY + ~2 s)
HANDOFFS = 40  # for two processes

DEPARTMENTS_YAML = f"""\
# Written by tests/e2e/test_followups_process.py: a standard of seconds, around the clock
departments:
  - name: Finance
    managers: [{MANAGER}]
    members: [{RECIPIENT}, {MEMBER}]
    intake_channel: {INTAKE}
    standard:
      confirm_within: {CONFIRM_WITHIN}s
      remind_every: {REMIND_EVERY}s
      escalate_after: 1
      working_hours: always
  - name: Sales
    members: [{REQUESTER}]
"""

# The line each follow-up item puts in a reminder message (reminders.py, English).
REMINDER, ESCALATION, ESCALATED = "reminder", "escalation", "escalated"
PHRASES = {
    "waits for you to confirm your understanding": REMINDER,  # to the recipient
    "has not been confirmed by": ESCALATION,                 # to the recipient department's manager
    "was not confirmed in time": ESCALATED,                  # to the requester
}
TITLE = re.compile(r"\*(Follow-up \d{3})\*")


@pytest.fixture
def departments_file(tmp_path: Path) -> Path:
    """Overrides the conftest's file: Finance with a standard of seconds, working around the clock."""
    path = tmp_path / "departments.yml"
    path.write_text(DEPARTMENTS_YAML, "utf-8")
    return path


# --------------------------------------------------------------------------- reading what arrived


def followup_items(calls: Iterable[Call]) -> Counter[tuple[str, str, str]]:
    """(person, handoff title, item) → how many times it arrived, from the accepted chat.postMessage calls.

    A message lists one item per section; titles are `Follow-up NNN`. Updates (chat.update) of a
    message already posted are not arrivals and are not counted.
    """
    counts: Counter[tuple[str, str, str]] = Counter()
    for call in calls:
        if call.method != "chat.postMessage" or not call.ok:
            continue
        for block in call.params.get("blocks") or []:
            if block.get("type") != "section":
                continue
            text = str((block.get("text") or {}).get("text", ""))
            kind = next((k for phrase, k in PHRASES.items() if phrase in text), None)
            title = TITLE.search(text)
            if kind and title:
                counts[(str(call.params["channel"]), title.group(1), kind)] += 1
    return counts


def expected_items(recipients: dict[str, str]) -> Counter[tuple[str, str, str]]:
    """Exactly one reminder, one escalation and one escalated notice per handoff (title → recipient)."""
    expected: Counter[tuple[str, str, str]] = Counter()
    for title, recipient in recipients.items():
        expected.update([(recipient, title, REMINDER), (MANAGER, title, ESCALATION), (REQUESTER, title, ESCALATED)])
    return expected


def describe(got: Counter[tuple[str, str, str]], expected: Counter[tuple[str, str, str]]) -> str:
    missing = sorted(k for k in expected if got[k] < expected[k])
    extra = sorted((k, n) for k, n in got.items() if n > expected.get(k, 0))
    return f"missing {missing[:10]} ({len(missing)}), duplicated or unexpected {extra[:10]} ({len(extra)})"


def wait_all_arrived(standin: SlackStandIn, expected: Counter[tuple[str, str, str]]) -> None:
    try:
        standin.wait_for(lambda calls: all(followup_items(calls)[k] >= n for k, n in expected.items()), ARRIVAL)
    except AssertionError:
        raise AssertionError("not every follow-up arrived within "
                             f"{ARRIVAL}s: {describe(followup_items(standin.calls), expected)}") from None


def assert_no_duplicates_for(standin: SlackStandIn, expected: Counter[tuple[str, str, str]], seconds: float) -> None:
    """Watch the stand-in for `seconds`; fail as soon as any follow-up item arrives a second time."""
    def duplicated(calls: list[Call]) -> bool:
        return any(n > expected.get(k, 0) for k, n in followup_items(calls).items())

    try:
        standin.wait_for(duplicated, seconds)
    except AssertionError:
        return  # quiet for the whole period, as it should be
    raise AssertionError("a follow-up arrived twice: " + describe(followup_items(standin.calls), expected))


# --------------------------------------------------------------------------- reading the database


def followups_of(db: Database, handoff_ids: Iterable[int] | None = None) -> list[Followup]:
    query = select(Followup).order_by(Followup.handoff_id, Followup.id)
    if handoff_ids is not None:
        query = query.where(Followup.handoff_id.in_(list(handoff_ids)))
    with db.read() as session:  # no write lock: the test polls while the app works
        return list(session.scalars(query))


def nothing_pending(db: Database) -> bool:
    return all(f.state is FollowupState.FIRED for f in followups_of(db))


def ok(reply: Reply) -> None:
    assert reply.status == 200 and reply.text == "", reply


# --------------------------------------------------------------------------- the tests


def test_a_sigkill_before_the_reminder_still_gives_exactly_one_reminder_and_one_escalation(
    standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database
) -> None:
    add_people(standin)
    first = make_e2e(launch(app_env), standin, app_db)
    ok(first.submit_new(first.open_new_form(), recipient=RECIPIENT, title="Follow-up 001"))
    first.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
    first.wait_message(REQUESTER, "You handed off")
    first.wait_outbox_idle()
    assert first.app.kill() == -9

    handoff_id = first.handoff().id
    [reminder] = followups_of(app_db, [handoff_id])
    assert (reminder.kind, reminder.state) == (FollowupKind.CONFIRM_REMINDER, FollowupState.PENDING), (
        "the reminder fired before the process was killed: this machine is too slow for a "
        f"{CONFIRM_WITHIN}s standard\n{first.app.output(tail=40)}")

    # Down past the moment of the reminder and of the escalation that would have followed it.
    missed = reminder.due_at + timedelta(seconds=REMIND_EVERY + FOLLOWUP_SECONDS)
    wait_until(lambda: datetime.now(timezone.utc) > missed, timeout=CONFIRM_WITHIN + REMIND_EVERY + 5,
               what="the escalation's original moment to pass while the app is down")
    expected = expected_items({"Follow-up 001": RECIPIENT})
    assert followup_items(standin.calls) == Counter(), "something arrived while no process was running"

    restarted_at = datetime.now(timezone.utc)
    second = make_e2e(launch({**app_env, "PORT": str(free_port())}), standin, app_db)
    wait_all_arrived(standin, expected)
    wait_until(lambda: nothing_pending(app_db) and second.outbox_idle(),
               what="no pending follow-up and an empty outbox")
    assert_no_duplicates_for(standin, expected, QUIET)
    assert followup_items(standin.calls) == expected

    fired = followups_of(app_db, [handoff_id])
    assert [(f.kind, f.state) for f in fired] == [
        (FollowupKind.CONFIRM_REMINDER, FollowupState.FIRED), (FollowupKind.ESCALATION, FollowupState.FIRED)]
    reminded, escalated = (f.fired_at for f in fired)
    assert reminded is not None and escalated is not None
    assert reminded >= restarted_at, "the reminder was fired by the killed process"
    # After downtime the reminder fires once, and the escalation is planned from then (not fired at once).
    assert escalated - reminded >= timedelta(seconds=REMIND_EVERY)
    handoff = second.handoff()
    assert (handoff.escalated, handoff.confirm_reminders) == (True, 1)
    assert second.audit() == ["create", "escalate"]
    assert len([m for m in standin.messages(RECIPIENT) if "New handoff" in m["text"]]) == 1


def test_two_processes_on_one_database_deliver_every_reminder_and_escalation_exactly_once(
    standin: SlackStandIn, app_env: dict[str, str], launch: Callable[..., AppProcess], app_db: Database,
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several app processes share one database only on PostgreSQL (set TEST_DATABASE_URL); "
                    "SQLite is for a single `python app.py`")
    add_people(standin)
    # Both start at once: the migrations and the departments import are serialised by advisory locks.
    apps = [launch({**app_env, "PORT": str(free_port())}, wait=False) for _ in range(2)]
    for app in apps:
        app.wait_healthy()
    drivers: list[E2E] = [make_e2e(app, standin, app_db) for app in apps]

    # Forms are opened one after the other through alternating processes (each is found as the
    # latest view), then submitted all at once through the other process: the follow-ups of all
    # handoffs fall due within about a second, and both schedulers race for them.
    recipients = {f"Follow-up {n:03d}": (RECIPIENT, MEMBER)[n % 2] for n in range(1, HANDOFFS + 1)}
    forms = [(title, drivers[n % 2].open_new_form()) for n, title in enumerate(recipients)]

    def submit(numbered: tuple[int, tuple[str, dict[str, Any]]]) -> Reply:
        n, (title, view) = numbered
        return drivers[(n + 1) % 2].submit_new(view, recipient=recipients[title], title=title)

    # All at once, so both processes also look up (and cache) the same new users at the same moment.
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(submit, enumerate(forms)))
    submitted_in = time.monotonic() - began
    for reply in replies:
        ok(reply)
    with app_db.read() as session:
        assert len(session.scalars(select(Handoff.id)).all()) == HANDOFFS

    expected = expected_items(recipients)
    wait_all_arrived(standin, expected)
    wait_until(lambda: nothing_pending(app_db) and drivers[0].outbox_idle(), timeout=ARRIVAL,
               what="no pending follow-up and an empty outbox")
    assert_no_duplicates_for(standin, expected, QUIET)
    assert followup_items(standin.calls) == expected, describe(followup_items(standin.calls), expected)

    rows = followups_of(app_db)
    assert Counter((f.kind, f.state) for f in rows) == {
        (FollowupKind.CONFIRM_REMINDER, FollowupState.FIRED): HANDOFFS,
        (FollowupKind.ESCALATION, FollowupState.FIRED): HANDOFFS,
    }
    with app_db.read() as session:
        assert set(session.execute(select(Handoff.escalated, Handoff.confirm_reminders))) == {(True, 1)}

    fired_by = [sum(int(n) for n in re.findall(r"(\d+) follow-ups fired", app.output())) for app in apps]
    messages = len([c for c in standin.calls_to("chat.postMessage") if followup_items([c])])
    print(f"\n{HANDOFFS} handoffs submitted in {submitted_in:.2f}s; follow-ups fired per process {fired_by}; "
          f"{sum(expected.values())} items in {messages} messages")
    # Each follow-up was fired by exactly one process (from their "N follow-ups fired" log lines).
    assert sum(fired_by) == 2 * HANDOFFS, f"fired per process {fired_by}, expected {2 * HANDOFFS} in all"
