"""The weekly digest as Block Kit messages, and the same content as plain text.

One builder (`_groups`) lays the digest out as parts: an introduction, then per department what
needs a decision first, the figures against the week before, overdue handoffs, what requesters
said, the bottleneck partners and an eight-week trend. `messages()` turns the parts into Slack
messages (a department is never split; a new message starts before 50 blocks), `text()` into the
plain text of `digest preview`.

Handoffs are named by `#id` and title: a permalink would need the workspace's domain, and most
messages about a handoff are in DMs the manager cannot open anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from handoff_bot.digests.service import DepartmentDigest, Digest, Figures, Item, Listing, Pair, zone_of
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks.common import (
    MESSAGE_BLOCKS,
    Block,
    context,
    cut,
    divider,
    esc,
    mrkdwn,
    plain,
    section,
    slack_date,
    unesc,
)
from handoff_bot.slack.blocks.labels import stars
from handoff_bot.slack.blocks.messages import Message

SECTION_MAX = 3000
TITLE_MAX = 80
SPARKS = "▁▂▃▄▅▆▇█"
USER_STAR = "\ue000"  # a `*` in user text while the digest is laid out, told apart from the digest's bold marks


@dataclass(frozen=True)
class Part:
    kind: str                      # header, section, fields, context, divider
    text: str = ""
    fields: tuple[str, ...] = ()


# --------------------------------------------------------------------------- numbers in words


def _duration(tr: Translator, seconds: float | None) -> str:
    """Working time, short: `45 min`, `3.5 h`; a dash when there is none."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return tr.gettext("{n} min", n=max(0, round(seconds / 60)))
    hours = format(seconds / 3600, ".1f")
    return tr.gettext("{hours} h", hours=hours)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _average(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _compare(tr: Translator, digest: Digest, now: str, before: str) -> str:
    if digest.period == "current":
        return tr.gettext("{now} (same time last week: {before})", now=now, before=before)
    return tr.gettext("{now} (week before: {before})", now=now, before=before)


def spark(values: Sequence[float | None]) -> str:
    """A text sparkline: one bar per value, `·` where there is none."""
    known = [v for v in values if v is not None]
    if not known:
        return "·" * len(values)
    low, high = min(known), max(known)
    bars = []
    for value in values:
        if value is None:
            bars.append("·")
        elif high == low:
            bars.append(SPARKS[3] if high else SPARKS[0])
        else:
            bars.append(SPARKS[round((value - low) / (high - low) * (len(SPARKS) - 1))])
    return "".join(bars)


# --------------------------------------------------------------------------- the parts


def _esc(text: str | None) -> str:
    """User text escaped for mrkdwn, its `*` kept apart until the output is made (see `USER_STAR`)."""
    return esc(text).replace("*", USER_STAR)


def _title(item: Item) -> str:
    return f"#{item.id} *{_esc(cut(item.title, TITLE_MAX))}*"


def _more(tr: Translator, listing: Listing) -> list[str]:
    return [tr.ngettext("and {n} more", "and {n} more", listing.more)] if listing.more else []


def _decisions(tr: Translator, d: DepartmentDigest) -> Part | None:
    _ = tr.gettext
    if not d.needs_decision:
        return None
    lines = [_("*Needs a decision*")]
    for item in d.escalated.items:
        who = f"<@{item.recipient_id}>" if item.recipient_id else _("unclaimed")
        lines.append(_(":rotating_light: {handoff} from <@{requester}>, with {who}: escalated (sent {when})",
                       handoff=_title(item), requester=item.requester_id, who=who, when=_when(item)))
    lines += _more(tr, d.escalated)
    for item in d.stalled.items:
        who = f"<@{item.recipient_id}>" if item.recipient_id else _("unclaimed")
        lines.append(_(":hourglass: {handoff}, with {who}: no activity since {when}", handoff=_title(item),
                       who=who, when=_when(item)))
    lines += _more(tr, d.stalled)
    for item in d.low_ratings.items:
        said = _(": “{comment}”", comment=_esc(item.comment)) if item.comment else ""
        lines.append(_(":thumbsdown: {handoff} was rated {rating} out of 5 by <@{requester}>{said}",
                       handoff=_title(item), rating=item.rating, requester=item.requester_id, said=said))
    lines += _more(tr, d.low_ratings)
    return Part("section", _fit(lines))


def _fit(lines: list[str], limit: int = SECTION_MAX) -> str:
    """Whole lines, as many as fit a section (a cut mention or date would show as broken markup)."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _when(item: Item) -> str:
    return slack_date(item.at) if item.at else "–"


def _fields(tr: Translator, digest: Digest, this: Figures, before: Figures) -> Part:
    _ = tr.gettext

    def line(label: str, now: str, earlier: str) -> str:
        return label + "\n" + _compare(tr, digest, now, earlier)

    def clarified(f: Figures) -> str:
        return tr.ngettext("{clarified} of {confirmed} ({n} round)", "{clarified} of {confirmed} ({n} rounds)",
                           f.rounds, clarified=f.clarified, confirmed=f.confirmed) if f.confirmed else "–"

    def satisfaction(f: Figures) -> str:
        return tr.ngettext("{average} from {n} rating", "{average} from {n} ratings", f.rated,
                           average=_average(f.rating_avg)) if f.rated else "–"

    def within(f: Figures) -> str:
        return _("{share} ({part} of {whole})", share=_share(f.in_standard, f.confirmed), part=f.in_standard,
                 whole=f.confirmed) if f.confirmed else "–"

    return Part("fields", fields=(
        line(_("*Received*"), str(this.received), str(before.received)),
        line(_("*Sent*"), str(this.sent), str(before.sent)),
        line(_("*Confirmed within the standard*"), within(this), within(before)),
        line(_("*Median time to confirm*"), _duration(tr, this.median_confirm_s),
             _duration(tr, before.median_confirm_s)),
        line(_("*Median time to complete*"), _duration(tr, this.median_complete_s),
             _duration(tr, before.median_complete_s)),
        line(_("*Needed clarification*"), clarified(this), clarified(before)),
        line(_("*Questions asked*"), str(this.questions), str(before.questions)),
        line(_("*Satisfaction (1–5)*"), satisfaction(this), satisfaction(before)),
        line(_("*Escalations*"), str(this.escalations), str(before.escalations)),
    ))


def _overdue(tr: Translator, d: DepartmentDigest) -> Part | None:
    _ = tr.gettext
    if not d.overdue.total:
        return None
    lines = [tr.ngettext("*{n} open handoff is overdue*", "*{n} open handoffs are overdue*", d.overdue.total)]
    for item in d.overdue.items:
        who = f"<@{item.recipient_id}>" if item.recipient_id else _("unclaimed")
        lines.append(_("• {handoff} from <@{requester}>, with {who}: late since {when}", handoff=_title(item),
                       requester=item.requester_id, who=who, when=_when(item)))
    return Part("section", _fit(lines + _more(tr, d.overdue)))


def _comments(tr: Translator, d: DepartmentDigest) -> Part | None:
    _ = tr.gettext
    if not d.comments.total:
        return None
    lines = [_("*What requesters said*")]
    for item in d.comments.items:
        lines.append(_("• {stars} {handoff}: “{comment}”", stars=stars(item.rating or 0), handoff=_title(item),
                       comment=_esc(item.comment)))
    return Part("section", _fit(lines + _more(tr, d.comments)))


def _partners(tr: Translator, pairs: Sequence[Pair], *, slow: bool) -> str:
    if slow:
        return ", ".join(tr.gettext("{partner} {time} ({n})", partner=_esc(p.partner),
                                    time=_duration(tr, p.median_confirm_s), n=p.confirmed) for p in pairs)
    return ", ".join(tr.gettext("{partner} {clarified} of {n}", partner=_esc(p.partner), clarified=p.clarified,
                                n=p.confirmed) for p in pairs)


def _bottlenecks(tr: Translator, d: DepartmentDigest) -> Part | None:
    _ = tr.gettext
    lines = []
    if d.slow_providing:
        lines.append(_("As provider, slowest to confirm for: {partners}",
                       partners=_partners(tr, d.slow_providing, slow=True)))
    if d.unclear_providing:
        lines.append(_("As provider, most clarification with: {partners}",
                       partners=_partners(tr, d.unclear_providing, slow=False)))
    if d.slow_receiving:
        lines.append(_("As internal customer, slowest to confirm ours: {partners}",
                       partners=_partners(tr, d.slow_receiving, slow=True)))
    if d.unclear_receiving:
        lines.append(_("As internal customer, ours needed most clarification at: {partners}",
                       partners=_partners(tr, d.unclear_receiving, slow=False)))
    if not lines:
        return None
    return Part("section", _("*Bottleneck partners* (median working time to confirm, handoffs)") + "\n"
                + _fit(lines))


def _columns(text: str) -> int:
    """How many columns `text` takes in a monospaced block: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _trend(tr: Translator, d: DepartmentDigest) -> Part:
    _ = tr.gettext
    weeks = d.trend
    rows = [
        (_("Received"), spark([f.received for f in weeks]), str(weeks[-1].received)),
        (_("Within standard"), spark([f.in_standard_share for f in weeks]),
         _share(weeks[-1].in_standard, weeks[-1].confirmed)),
        (_("Time to confirm"), spark([f.median_confirm_s for f in weeks]), _duration(tr, weeks[-1].median_confirm_s)),
        (_("Satisfaction"), spark([f.rating_avg for f in weeks]), _average(weeks[-1].rating_avg)),
    ]
    width = max(_columns(label) for label, _spark, _last in rows)
    table = "\n".join(f"{label}{' ' * (width - _columns(label))}  {bars}  {last}" for label, bars, last in rows)
    return Part("section", tr.ngettext("*Last {n} week*", "*Last {n} weeks*", len(weeks)) + "\n```" + table + "```")


def _department(tr: Translator, digest: Digest, d: DepartmentDigest) -> list[Part]:
    _ = tr.gettext
    parts = [Part("header", d.name)]
    if d.quiet:
        parts.append(Part("section", _("Nothing to report for {department}: no handoffs to or from it in either "
                                       "week, and nothing open is late or stuck.", department=_esc(d.name))))
        return [*parts, Part("divider")]
    parts += [p for p in (
        _decisions(tr, d), _fields(tr, digest, d.this, d.before), _overdue(tr, d), _comments(tr, d),
        _bottlenecks(tr, d), _trend(tr, d)) if p is not None]
    return [*parts, Part("divider")]


def _title_of(tr: Translator, digest: Digest) -> str:
    if digest.period == "current":
        return tr.gettext("This week so far ({week})", week=digest.week)
    return tr.gettext("Weekly digest for {week}", week=digest.week)


def _introduction(tr: Translator, digest: Digest) -> list[Part]:
    _ = tr.gettext
    zone = zone_of(digest.tz)
    first = digest.start.astimezone(zone).date().isoformat()
    if digest.period == "current":
        span = _("From {first} to now, in your time zone ({tz}), compared with the same part of last week.",
                 first=first, tz=digest.tz)
    else:
        last = digest.end.astimezone(zone).date() - timedelta(days=1)
        span = _("From {first} to {last}, in your time zone ({tz}), compared with the week before.",
                 first=first, last=last.isoformat(), tz=digest.tz)
    parts = [Part("header", _title_of(tr, digest)), Part("context", span)]
    pending = [d for d in digest.departments if d.needs_decision]
    if pending:
        parts.append(Part("section", _(":point_right: Needs a decision first: {departments}",
                                       departments=", ".join(f"*{_esc(d.name)}*" for d in pending))))
    if not digest.departments:
        parts.append(Part("section", _("You manage no department, so there is nothing to report.")))
    return parts


def _groups(tr: Translator, digest: Digest) -> list[list[Part]]:
    """The introduction, then one group of parts per department (a group is never split)."""
    return [_introduction(tr, digest), *(_department(tr, digest, d) for d in digest.departments)]


# --------------------------------------------------------------------------- Slack and plain text


def _block(part: Part) -> Block:
    text = part.text.replace(USER_STAR, "*")
    if part.kind == "header":
        return {"type": "header", "text": plain(text, 150)}
    if part.kind == "fields":
        return {"type": "section", "fields": [mrkdwn(cut(f.replace(USER_STAR, "*"), 2000)) for f in part.fields[:10]]}
    if part.kind == "context":
        return context(text)
    if part.kind == "divider":
        return divider()
    return section(text)


def messages(tr: Translator, digest: Digest) -> list[Message]:
    """The digest as one or more Slack messages (each at most 50 blocks)."""
    batches: list[list[Block]] = [[]]
    for group in _groups(tr, digest):
        blocks = [_block(p) for p in group]
        if batches[-1] and len(batches[-1]) + len(blocks) > MESSAGE_BLOCKS:
            batches.append([])
        batches[-1].extend(blocks[:MESSAGE_BLOCKS])
    if batches[-1] and batches[-1][-1]["type"] == "divider":
        batches[-1].pop()
    title = _title_of(tr, digest)
    if len(batches) == 1:
        return [Message(title, batches[0])]
    return [Message(tr.gettext("{title} ({part} of {parts})", title=title, part=n, parts=len(batches)), blocks)
            for n, blocks in enumerate(batches, 1)]


MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
EMOJI = re.compile(r":[a-z][a-z0-9_+-]*: ?")


def to_plain(text: str) -> str:
    """The digest's mrkdwn as plain text: no bold marks, emoji codes or code fences, `@U…` for mentions,
    dates in words; user text as typed (its `*` are `USER_STAR` until here)."""
    text = MENTION.sub(r"@\1", text)
    text = DATE.sub(r"\1", text)
    text = EMOJI.sub("", text)
    text = text.replace("```", "\n").replace("*", "").replace(USER_STAR, "*")
    return unesc(text)


def text(tr: Translator, digest: Digest) -> str:
    """The digest as plain text (`python -m handoff_bot digest preview`)."""
    lines: list[str] = []
    for group in _groups(tr, digest):
        for part in group:
            if part.kind == "header":
                lines += ["", part.text, "=" * len(part.text)]
            elif part.kind == "fields":
                lines += [to_plain(f).replace("\n", ": ", 1) for f in part.fields]
            elif part.kind == "divider":
                continue
            else:
                lines += ["", *to_plain(part.text).strip("\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"
