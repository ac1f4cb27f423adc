"""Translated names of states, kinds and standards, shared by messages and modals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handoff_bot.departments.standards import WORKING_HOURS
from handoff_bot.handoffs.lifecycle import Snapshot
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffState,
    Outcome,
    Priority,
    Proposal,
    ProposalKind,
    QuestionKind,
    Relationship,
)
from handoff_bot.handoffs.queries import Timing
from handoff_bot.i18n import N_, Translator
from handoff_bot.slack.blocks.common import cut, esc, quote, slack_date


def relation(tr: Translator, value: Relationship) -> str:
    _ = tr.gettext
    return {
        Relationship.PROCESS: _("Process: my step feeds yours"),
        Relationship.FUNCTIONAL: _("Functional: department to department"),
        Relationship.HIERARCHICAL: _("Hierarchical: manager and report"),
    }[value]


def priority(tr: Translator, value: Priority) -> str:
    _ = tr.gettext
    return {Priority.NORMAL: _("Normal"), Priority.URGENT: _("Urgent")}[value]


def question_kind(tr: Translator, value: QuestionKind) -> str:
    _ = tr.gettext
    return {
        QuestionKind.OPEN: _("Open question"),
        QuestionKind.CLOSED: _("Closed question"),
        QuestionKind.REFLECTIVE: _("Reflective question"),
    }[value]


def question_kind_hint(tr: Translator, value: QuestionKind) -> str:
    _ = tr.gettext
    return {
        QuestionKind.OPEN: _("Invites a full answer: what, how, why"),
        QuestionKind.CLOSED: _("Settles a fact: yes or no, which one, when"),
        QuestionKind.REFLECTIVE: _("Checks your reading: so you mean…?"),
    }[value]


DAY_NAMES = {"Mon": N_("Mon"), "Tue": N_("Tue"), "Wed": N_("Wed"), "Thu": N_("Thu"), "Fri": N_("Fri"),
             "Sat": N_("Sat"), "Sun": N_("Sun")}


def duration(tr: Translator, seconds: int) -> str:
    """A duration in words: `4 hours`, `3 days`, `90 minutes`."""
    if seconds % 86400 == 0:
        return tr.ngettext("{n} day", "{n} days", seconds // 86400)
    if seconds % 3600 == 0:
        return tr.ngettext("{n} hour", "{n} hours", seconds // 3600)
    if seconds % 60 == 0:
        return tr.ngettext("{n} minute", "{n} minutes", seconds // 60)
    return tr.ngettext("{n} second", "{n} seconds", seconds)


def working_hours(tr: Translator, text: str) -> str:
    """`Mon-Fri 09:00-18:00` in the reader's language, or `around the clock`."""
    _ = tr.gettext
    match = WORKING_HOURS.match(text or "")
    if text.strip().lower() == "always" or not match:
        return _("around the clock") if text.strip().lower() == "always" else text
    first, last, sh, sm, eh, em = (g.title() if g else g for g in match.groups())
    days = _(DAY_NAMES[first]) if not last or last == first else _(
        "{first}–{last}", first=_(DAY_NAMES[first]), last=_(DAY_NAMES[last]))
    start, end = f"{sh}:{sm}", f"{eh}:{em}"
    return _("{days} {start}–{end}", days=days, start=start, end=end)


def standard(tr: Translator, values: dict[str, Any]) -> str:
    """The service standard of a handoff in one line."""
    _ = tr.gettext
    words = {
        "confirm": duration(tr, int(values["confirm_within_s"])),
        "complete": duration(tr, int(values["complete_within_s"])),
        "hours": working_hours(tr, values.get("working_hours", "")),
    }
    if values.get("agreed"):
        return _("Standard agreed between the two departments: confirm within {confirm}, complete within "
                 "{complete}, {hours}", **words)
    return _("Standard: confirm within {confirm}, complete within {complete}, {hours}", **words)


def status(tr: Translator, handoff: Handoff | Snapshot) -> str:
    """One line saying where the handoff stands and who it waits on (mrkdwn, ids as mentions)."""
    _ = tr.gettext
    requester = f"<@{handoff.requester_id}>"
    recipient = f"<@{handoff.recipient_id}>" if handoff.recipient_id else ""
    state = handoff.state
    if state is HandoffState.SENT and not handoff.recipient_id:
        return _("Waiting for someone in {department} to claim it", department=esc(handoff.department_name))
    if state is HandoffState.SENT:
        return _("Waiting for {recipient} to confirm their understanding", recipient=recipient)
    if state is HandoffState.RESTATED:
        return _("Waiting for {requester} to review the restatement (round {round})",
            requester=requester, round=handoff.rounds)
    if state is HandoffState.CLARIFYING:
        return _("{requester} clarified; waiting for {recipient} to restate again",
            requester=requester, recipient=recipient)
    if state is HandoffState.CONFIRMED:
        return _("Understanding confirmed; {recipient} is on it", recipient=recipient)
    if state is HandoffState.DONE:
        return _("Done; waiting for {requester} to rate it", requester=requester)
    if state is HandoffState.RATED:
        return _("Closed, rated {rating} out of 5", rating=handoff.rating)
    if state is HandoffState.CANCELLED:
        return _("Cancelled by {requester}", requester=requester)
    if state is HandoffState.NEGOTIATING:
        return _("Negotiating other terms; waiting for {person} to answer",
                 person=f"<@{handoff.negotiation_turn}>" if handoff.negotiation_turn else requester)
    if state is HandoffState.DECLINED:
        return _("Declined by {recipient}", recipient=recipient)
    return state.value


def terms(tr: Translator, handoff: Handoff, proposal: Proposal, *, limit: int | None = None) -> str:
    """What a proposal asks for and why, in mrkdwn lines; the user's text whole, or cut to `limit` characters
    each (where room is short)."""
    _ = tr.gettext

    def shown(text: str) -> str:
        return quote(cut(text, limit) if limit else text)

    if proposal.kind is ProposalKind.DECLINE:
        lines = [_("*Declines the handoff.*")]
    else:
        lines = []
        if proposal.due_date is not None:
            new = proposal.due_date.isoformat()
            if proposal.outcome is Outcome.ACCEPTED:
                lines.append(_("*Due date:* {date}", date=new))
            elif handoff.due_date is None:
                lines.append(_("*Due date:* {date} (none now)", date=new))
            else:
                lines.append(_("*Due date:* {date} (now {was})", date=new, was=handoff.due_date.isoformat()))
        if proposal.scope:
            lines.append(_("*What would change:*") + "\n" + shown(proposal.scope))
        if not lines:
            lines.append(_("*Keeps the terms as they are.*"))
    lines.append(_("*Why:*") + "\n" + shown(proposal.reason))
    return "\n".join(lines)


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


def about(tr: Translator, seconds: float) -> str:
    """A rough duration in words for a clock on screen: `40 minutes`, `5 hours`, `3 days`."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return tr.ngettext("{n} minute", "{n} minutes", max(1, round(seconds / 60)))
    if seconds < 2 * 86400:
        return tr.ngettext("{n} hour", "{n} hours", round(seconds / 3600))
    return tr.ngettext("{n} day", "{n} days", round(seconds / 86400))


def timing(tr: Translator, value: Timing, now: datetime) -> str:
    """The standard's clock of a handoff in one line (mrkdwn; empty when no clock runs)."""
    _ = tr.gettext
    parts = []
    if value.escalated:
        parts.append(_(":rotating_light: escalated to the managers"))
    if value.confirm_late:
        parts.append(_(":warning: understanding not confirmed within the standard"))
    elif value.confirm_by is not None:
        parts.append(_(":hourglass_flowing_sand: confirm due in {left} ({when})",
                       left=about(tr, (value.confirm_by - now).total_seconds()), when=slack_date(value.confirm_by)))
    if value.late and value.due_date is not None:
        parts.append(_(":warning: overdue, was due {date}", date=value.due_date.isoformat()))
    elif value.late and value.deadline is not None:
        parts.append(_(":warning: overdue since {when}", when=slack_date(value.deadline)))
    elif value.due_date is not None:
        parts.append(_(":date: due {date}", date=value.due_date.isoformat()))
    elif value.deadline is not None:
        parts.append(_(":date: due in {left} ({when})", left=about(tr, (value.deadline - now).total_seconds()),
                       when=slack_date(value.deadline)))
    return " · ".join(parts)


def asked(tr: Translator, at: datetime, now: datetime) -> str:
    """How long a question has waited for its answer (mrkdwn): what the one who owes the answer needs to know."""
    return tr.gettext(":speech_balloon: asked {ago} ago ({when})", ago=about(tr, (now - at).total_seconds()),
                      when=slack_date(at))
