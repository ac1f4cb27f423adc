"""Translated names of states, kinds and standards, shared by messages and modals."""

from __future__ import annotations

from typing import Any

from handoff_bot.departments.standards import format_duration
from handoff_bot.handoffs.lifecycle import Snapshot
from handoff_bot.handoffs.models import Handoff, HandoffState, Priority, QuestionKind, Relationship
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks.common import esc


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


def standard(tr: Translator, values: dict[str, Any]) -> str:
    _ = tr.gettext
    hours = values.get("working_hours", "")
    hours_text = _("around the clock") if hours.strip().lower() == "always" else hours
    if values.get("agreed"):
        return _("Standard agreed between the two departments: confirm within {confirm}, complete within "
                 "{complete}, {hours}", confirm=format_duration(values["confirm_within_s"]),
                 complete=format_duration(values["complete_within_s"]), hours=hours_text)
    return _("Standard: confirm within {confirm}, complete within {complete}, {hours}",
        confirm=format_duration(values["confirm_within_s"]),
        complete=format_duration(values["complete_within_s"]),
        hours=hours_text,
    )


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
    return state.value


def stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)
