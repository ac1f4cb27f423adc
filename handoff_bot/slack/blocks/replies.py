"""Short answers: refusals, form errors, help and the list of open handoffs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from handoff_bot.departments.models import Department
from handoff_bot.handoffs.lifecycle import ActionRefused, Refusal
from handoff_bot.handoffs.models import Handoff
from handoff_bot.handoffs.queries import FINISHED_DAYS, Timing
from handoff_bot.handoffs.service import FieldError
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks import labels
from handoff_bot.slack.blocks.common import Block, context, cut, esc, section, sections


def refusal(tr: Translator, error: ActionRefused, viewer: str | None = None) -> str:
    """Why a click or submission by `viewer` changed nothing, in one sentence (mrkdwn)."""
    _ = tr.gettext
    h = error.handoff
    kind = error.refusal
    if h is None or kind is Refusal.NOT_FOUND:
        return _("This handoff no longer exists.")
    if kind is Refusal.NOT_REQUESTER:
        return _("Only <@{requester}>, who asked for this handoff, can do that.", requester=h.requester_id)
    if kind is Refusal.NOT_RECIPIENT:
        return _("Only <@{recipient}>, who is handling this handoff, can do that.", recipient=h.recipient_id)
    if kind is Refusal.NOT_MEMBER:
        return _("Only members of {department} can claim this handoff.", department=esc(h.department_name))
    if kind is Refusal.ALREADY_NUDGED:
        return _("This handoff was nudged less than an hour ago; give it a little time.")
    if kind is Refusal.NOT_PARTY:
        return _("Only <@{requester}> and <@{recipient}> can do that.", requester=h.requester_id,
                 recipient=h.recipient_id)
    if kind is Refusal.NOT_YOUR_TURN and h.negotiation_turn:
        return _("You made the latest proposal; it is up to <@{person}> to answer it.", person=h.negotiation_turn)
    if kind is Refusal.DATE_PASSED:
        return _("The due date this proposal asks for has passed; answer it with another one.")
    if kind is Refusal.NOT_MANAGER:
        return _("Only managers of {department} can do that.", department=esc(h.department_name))
    if kind is Refusal.OWN_HANDOFF:
        return _("You asked for this handoff; someone in {department} has to claim it.",
                 department=esc(h.department_name))
    if kind is Refusal.UNCLAIMED:
        return _("Nobody has claimed this handoff yet.")
    if kind is Refusal.ALREADY_CLAIMED and h.recipient_id == viewer:
        return _("You already claimed this handoff; its card is in your direct messages with Handoff.")
    if kind is Refusal.ALREADY_CLAIMED:
        return _("<@{recipient}> already claimed this handoff.", recipient=h.recipient_id)
    if kind is Refusal.STALE:
        return _("This was already answered or replaced by a newer one. Now: {status}.",
                 status=labels.status(tr, h))
    return _("Nothing to do here any more. Now: {status}.", status=labels.status(tr, h))


def refusal_text(tr: Translator, code: str, handoff: Handoff | None, viewer: str) -> str:
    """`refusal` for a refusal stored by its code (as in the outbox), explained by the handoff as it is now."""
    return refusal(tr, ActionRefused(Refusal(code), handoff), viewer)


def field_error(tr: Translator, error: FieldError) -> str:
    """The message shown under a form field (plain text)."""
    _ = tr.gettext
    p = error.params
    department = p.get("department", "")
    messages = {
        "required": lambda: _("Please fill this in."),
        "unknown": lambda: _("This department no longer exists; pick another one."),
        "too_long": lambda: _("Too long: {length} characters, the limit is {limit}.", **p),
        "too_many": lambda: _("{count} key points; at most {limit}, one per line.", **p),
        "point_too_long": lambda: _("Key point {number} is longer than {limit} characters.", **p),
        "self": lambda: _("You can't hand work off to yourself."),
        "unknown_user": lambda: _("Slack does not know this user."),
        "bot": lambda: _("That is a bot; pick a person."),
        "deactivated": lambda: _("This person's account is deactivated."),
        "not_in_department": lambda: (
            _("This person is not in {department}. Pick someone who is, or leave it empty to post to the "
              "department's intake channel.", department=department) if p.get("intake")
            else _("This person is not in {department}; pick someone who is.", department=department)),
        "no_intake": lambda: _("{department} has no intake channel, so please pick a person.",
                               department=department),
        "past": lambda: _("The due date is in the past."),
        "invalid_date": lambda: _("This is not a date; pick one from the calendar."),
        "too_far": lambda: _("Pick a date within {years} years.", **p),
        "not_a_rating": lambda: _("Pick a rating from 1 to 5."),
        "change_needed": lambda: _("Say what would change: a new due date, the scope, or both. To refuse the "
                                   "work, choose Decline."),
        "not_yours": lambda: _("You are not in this department."),
        "stale_form": lambda: _("This form is out of date; close it and open it again."),
        "duplicate": lambda: _("You already asked this; the answer will come in your messages."),
        "same_person": lambda: _("This person already has it; pick someone else."),
        "requester": lambda: _("This person asked for the handoff; pick someone in {department}.",
                               department=department),
    }
    return messages[error.code]() if error.code in messages else error.code


def help_blocks(tr: Translator) -> list[Block]:
    _ = tr.gettext
    return [
        section(_("*Handoff* passes work to another department and makes sure it was understood.")),
        section(_(
            "`/handoff` opens the form: the department, optionally a person, the title, the key points "
            "(one per line), a due date.\n"
            "`/handoff Prepare the Q3 invoice @alice` opens it with the title and person filled in.\n"
            "`/handoff list` shows your open handoffs, both ways.\n"
            "`/handoff help` shows this.")),
        section(_(
            "`/handoff list mine` shows what you asked for, open and recently finished; `/handoff list dept` "
            "your department's open handoffs.\n"
            "Managers: `/handoff export` sends a CSV file of their departments' handoffs "
            "(`/handoff export --since 2026-03-01` for the recent ones).")),
        section(_(
            "Managers: `/handoff digest` shows this week so far; the weekly digest comes by DM on the day and at "
            "the time set for their department.")),
        context(_(
            "The recipient restates the key points in their own words; you accept or clarify until you "
            "agree. If the terms do not work for them, they propose a change or decline, and you accept or "
            "counter. Then they do the work, mark it done, and you rate it.")),
    ]


def list_blocks(tr: Translator, incoming: Sequence[Handoff], outgoing: Sequence[Handoff], hidden: int = 0
                ) -> list[Block]:
    """`/handoff list`: the handoffs sent to the user and those they asked for, still open or awaiting
    a rating; `hidden`: how many more there are than these."""
    _ = tr.gettext
    if not incoming and not outgoing:
        return [section(_("You have no open handoffs. Type `/handoff` to start one."))]
    blocks: list[Block] = []
    if incoming:
        blocks += _sections(_("*Sent to you*"), [_line(tr, h) for h in incoming])
    if outgoing:
        blocks += _sections(_("*You asked for*"), [_line(tr, h) for h in outgoing])
    return _capped(tr, blocks, hidden)


LIST_BLOCKS_MAX = 45  # an ephemeral message holds 50 blocks; the rest is for headings and "and n more"
LIST_LINES_MAX = 40   # lines per list


def _line(tr: Translator, h: Handoff, timing: Timing | None = None, now: datetime | None = None) -> str:
    """One handoff as a list line: number, title, due date, status and, given its `timing` and `now`, the
    standard's clock (which shows the due date itself, and whether it has passed)."""
    _ = tr.gettext
    clock = labels.timing(tr, timing, now) if timing is not None and now is not None else ""
    due_in_clock = bool(clock) and timing is not None and timing.due_date is not None
    if h.due_date and not due_in_clock:
        text = _("• #{id} *{title}*, due {date}: {status}", id=h.id, title=esc(cut(h.title, 100)),
                 date=h.due_date.isoformat(), status=labels.status(tr, h))
    else:
        text = _("• #{id} *{title}*: {status}", id=h.id, title=esc(cut(h.title, 100)), status=labels.status(tr, h))
    return f"{text} · {clock}" if clock else text


def _sections(heading: str, lines: Sequence[str], limit: int = 2900) -> list[Block]:
    """A heading and its lines, in as many sections as the 3000-character limit needs."""
    return sections("\n".join([heading, *lines]), limit)


def _capped(tr: Translator, blocks: list[Block], hidden: int) -> list[Block]:
    if len(blocks) > LIST_BLOCKS_MAX:
        blocks = blocks[:LIST_BLOCKS_MAX]
    if hidden > 0:
        blocks.append(context(tr.ngettext("and {n} more", "and {n} more", hidden)))
    return blocks


def mine_blocks(tr: Translator, open_handoffs: Sequence[Handoff], total: int, finished: Sequence[Handoff],
                timings: Mapping[int, Timing], now: datetime) -> list[Block]:
    """`/handoff list mine`: what I asked for, open (with the standard's clock) and recently finished."""
    _ = tr.gettext
    if not open_handoffs and not finished:
        return [section(_("You have not asked for anything lately. Type `/handoff` to hand off work."))]
    blocks: list[Block] = []
    shown = open_handoffs[:LIST_LINES_MAX]
    if shown:
        blocks += _sections(_("*You asked for, still open*"), [
            _line(tr, h, timings.get(h.id, Timing()), now) for h in shown])
    if finished:
        blocks += _sections(_("*Finished in the last {days} days*", days=FINISHED_DAYS),
                            [_line(tr, h) for h in finished[:LIST_LINES_MAX]])
    return _capped(tr, blocks, total - len(shown))


def department_list_blocks(tr: Translator, lists: Sequence[tuple[Department, Sequence[Handoff], int]],
                           timings: Mapping[int, Timing], now: datetime) -> list[Block]:
    """`/handoff list dept`: each of my departments' open handoffs, most pressing first."""
    _ = tr.gettext
    blocks: list[Block] = []
    hidden = 0
    for department, handoffs, total in lists:
        heading = _("*Open in {department}*: {count}", department=esc(department.name), count=total)
        if not handoffs:
            blocks.append(section(heading + "\n" + _("Nothing open.")))
            continue
        shown = handoffs[:LIST_LINES_MAX]
        lines = [_("{line} (from <@{requester}>, with {who})", line=_line(tr, h, timings.get(h.id, Timing()), now),
                   requester=h.requester_id, who=f"<@{h.recipient_id}>" if h.recipient_id else _("unassigned"))
                 for h in shown]
        blocks += _sections(heading, lines)
        hidden += total - len(shown)
    return _capped(tr, blocks, hidden)


def list_usage(tr: Translator) -> str:
    return tr.gettext(
        "`/handoff list` or `/handoff list open`: your open handoffs, both ways.\n"
        "`/handoff list mine`: what you asked for, open and recently finished.\n"
        "`/handoff list dept`: your department's open handoffs.")
