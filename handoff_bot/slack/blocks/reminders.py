"""The follow-up message: everything due for one person, one handoff per entry, each with the
buttons that act on it while it still applies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handoff_bot.followups.service import LATE, TO_RECEIVING, Item, applies
from handoff_bot.handoffs.models import Handoff, HandoffState
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks import labels
from handoff_bot.slack.blocks.common import Block, actions, button, context, esc, section, slack_date
from handoff_bot.slack.blocks.messages import Message
from handoff_bot.slack.ids import ActionId

S = HandoffState


def _line(tr: Translator, item: dict[str, Any], h: Handoff, target: str) -> str:
    _ = tr.gettext
    kind = Item(item["k"])
    title, requester, recipient = esc(h.title), h.requester_id, h.recipient_id
    department = esc(h.department_name)
    due = h.due_date.isoformat() if h.due_date else None
    if kind is Item.CONFIRM_REMINDER and not recipient:
        return _(":alarm_clock: *{title}* from <@{requester}> is still unclaimed in {department}.",
                 title=title, requester=requester, department=department)
    if kind is Item.CONFIRM_REMINDER:
        return _(":alarm_clock: *{title}* from <@{requester}> waits for you to confirm your understanding.",
                 title=title, requester=requester)
    if kind is Item.REVIEW_REMINDER:
        return _(":alarm_clock: <@{recipient}> restated the key points of *{title}*; please review them.",
                 title=title, recipient=recipient)
    if kind is Item.REVIEW_ESCALATION:
        source = esc(h.from_department.name) if h.from_department else ""
        return tr.ngettext(
            ":rotating_light: <@{requester}> ({source}) has not reviewed how <@{recipient}> restated *{title}* "
            "after {n} reminder.",
            ":rotating_light: <@{requester}> ({source}) has not reviewed how <@{recipient}> restated *{title}* "
            "after {n} reminders.",
            int(h.standard["escalate_after"]), requester=requester, source=source, recipient=recipient, title=title)
    if kind is Item.ESCALATION and recipient and item.get("to", recipient) is None:  # claimed since
        return tr.ngettext(
            ":rotating_light: *{title}* from <@{requester}> was still unclaimed in {department} after {n} reminder; "
            "<@{recipient}> has claimed it since.",
            ":rotating_light: *{title}* from <@{requester}> was still unclaimed in {department} after {n} reminders; "
            "<@{recipient}> has claimed it since.",
            h.confirm_reminders, title=title, requester=requester, department=department, recipient=recipient)
    if kind is Item.ESCALATION and recipient:
        return tr.ngettext(
            ":rotating_light: *{title}* from <@{requester}> has not been confirmed by <@{recipient}> "
            "after {n} reminder.",
            ":rotating_light: *{title}* from <@{requester}> has not been confirmed by <@{recipient}> "
            "after {n} reminders.",
            h.confirm_reminders, title=title, requester=requester, recipient=recipient)
    if kind is Item.ESCALATION:
        return tr.ngettext(
            ":rotating_light: *{title}* from <@{requester}> is still unclaimed in {department} after {n} reminder.",
            ":rotating_light: *{title}* from <@{requester}> is still unclaimed in {department} after {n} reminders.",
            h.confirm_reminders, title=title, requester=requester, department=department)
    if kind is Item.ESCALATED:
        return _(":rotating_light: *{title}* was not confirmed in time; the managers of {department} "
                 "have been told.", title=title, department=department)
    if kind is Item.DUE_SOON and due:
        return _(":date: *{title}* from <@{requester}> is due {due}.", title=title, requester=requester, due=due)
    if kind is Item.DUE_SOON:
        return _(":date: *{title}* from <@{requester}> is due soon under the service standard.", title=title,
                 requester=requester)
    if kind is Item.OVERDUE:
        return _(":warning: *{title}* from <@{requester}> is overdue.", title=title, requester=requester)
    if kind is Item.OVERDUE_REQUESTER:
        who = f"<@{recipient}>" if recipient else department
        return _(":warning: *{title}*, which you handed to {who}, is overdue.", title=title, who=who)
    if kind is Item.OVERDUE_MANAGER:
        who = f"<@{recipient}>" if recipient else _("nobody yet")
        return _(":warning: *{title}* from <@{requester}> is overdue in {department} (with {who}).",
                 title=title, requester=requester, department=department, who=who)
    if kind is Item.RATING_REMINDER:
        return _(":star: <@{recipient}> finished *{title}*. How well was it handled?", title=title,
                 recipient=recipient)
    if target == requester and h.state is S.RESTATED:
        return _(":wave: <@{manager}> asks you to review how <@{recipient}> restated *{title}*.",
                 manager=item.get("by", ""), recipient=recipient, title=title)
    if target == requester:  # a negotiation waits on them
        return _(":wave: <@{manager}> asks you to answer <@{recipient}>'s proposal on *{title}*.",
                 manager=item.get("by", ""), recipient=recipient, title=title)
    return _(":wave: <@{manager}> asks you to act on *{title}* from <@{requester}>.", manager=item.get("by", ""),
             title=title, requester=requester)


def _buttons(tr: Translator, item: dict[str, Any], h: Handoff) -> list[dict[str, Any]]:
    _ = tr.gettext
    kind, value = Item(item["k"]), str(h.id)
    if kind in (Item.ESCALATION, Item.OVERDUE_MANAGER):
        return [button(_("Nudge"), ActionId.NUDGE, value), button(_("Reassign"), ActionId.REASSIGN, value)]
    if kind is Item.REVIEW_REMINDER or (kind is Item.NUDGE and h.state is S.RESTATED):
        review = f"{h.id}:{h.rounds}"
        return [button(_("That's right"), ActionId.ACCEPT, review, style="primary"),
                button(_("Clarify"), ActionId.CLARIFY, review)]
    if kind is Item.RATING_REMINDER:
        return [button(_("Rate it"), ActionId.RATE, value, style="primary")]
    if kind in TO_RECEIVING:
        if h.state is S.SENT and not h.recipient_id:
            return [button(_("Claim"), ActionId.CLAIM, value, style="primary")]
        if h.state in (S.SENT, S.CLARIFYING):
            return [button(_("Confirm my understanding"), ActionId.CONFIRM_UNDERSTANDING, value, style="primary")]
        if h.state is S.CONFIRMED:
            return [button(_("Mark done"), ActionId.MARK_DONE, value, style="primary")]
    return []


def current(items: Sequence[dict[str, Any]], handoffs: Mapping[int, Handoff], target: str) -> list[dict[str, Any]]:
    """The items to `target` still true now: a reminder that no longer applies is not sent."""
    return [i for i in items if (h := handoffs.get(int(i["h"]))) is not None and applies(i, h, target)]


def reminders(tr: Translator, items: Sequence[dict[str, Any]], handoffs: Mapping[int, Handoff], target: str) -> Message:
    """One message to `target` listing `items`; an item whose handoff moved on (or went to someone
    else) says so and offers no button."""
    _ = tr.gettext
    blocks: list[Block] = []
    lines: list[str] = []
    for number, item in enumerate(items):
        h = handoffs[int(item["h"])]
        if applies(item, h, target):
            lines.append(_line(tr, item, h, target))
            blocks.append(section(lines[-1]))
            if item["k"] in (Item.ESCALATION, Item.REVIEW_ESCALATION, Item.OVERDUE_MANAGER):
                blocks.append(context(_("Sent {when}. {standard}", when=slack_date(h.created_at),
                                        standard=labels.standard(tr, h.standard))))
            if buttons := _buttons(tr, item, h):
                blocks.append(actions(f"item_{number}_{h.id}", *buttons))
        else:
            if item["k"] in LATE and h.is_open and h.due_date:  # no longer late: a later due date was agreed
                lines.append(_(":white_check_mark: ~{title}~ Now: {status}, due {due}.", title=esc(h.title),
                               status=labels.status(tr, h), due=h.due_date.isoformat()))
            else:
                lines.append(_(":white_check_mark: ~{title}~ Now: {status}.", title=esc(h.title),
                               status=labels.status(tr, h)))
            blocks.append(section(lines[-1]))
    if len(items) == 1:
        text = lines[0]
    else:
        text = tr.ngettext("{n} handoff needs your attention", "{n} handoffs need your attention", len(items))
        blocks.insert(0, context(text))
    return Message(text.replace("*", ""), blocks)
