"""The App Home tab: what waits on me (with the buttons the DMs carry), my requests with the
standard's clock, and for managers their department's open work. Paged to stay within Slack's
100 blocks per view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handoff_bot.handoffs.models import Handoff, HandoffState, ProposalKind
from handoff_bot.handoffs.queries import DepartmentSummary, Home, Timing, Waiting, WaitingItem
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks import labels
from handoff_bot.slack.blocks.common import (
    Block,
    actions,
    button,
    context,
    cut,
    divider,
    esc,
    plain,
    quote,
    section,
    sections,
    slack_date,
)
from handoff_bot.slack.blocks.messages import card_buttons, negotiation_buttons, receipt_buttons
from handoff_bot.slack.blocks.replies import help_blocks
from handoff_bot.slack.ids import ActionId

S = HandoffState
MAX_BLOCKS = 100  # Slack's limit for a Home tab
# Around the paged content: the header and overview on top, the page line and buttons below, and a
# repeated heading when a page starts inside a part.
FIXED_BLOCKS = 5
PAGE_BLOCKS = MAX_BLOCKS - FIXED_BLOCKS
DEPARTMENTS_SHOWN = 10


@dataclass
class _Chunk:
    """Blocks that stay on one page; `keep_with_next` keeps a heading with what follows it."""

    blocks: list[Block]
    continued: Block | None = None  # the heading repeated when a page starts with this chunk
    keep_with_next: bool = False


@dataclass
class _Page:
    chunks: list[_Chunk] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(c.blocks) for c in self.chunks)


def home_view(tr: Translator, home: Home, page: int = 0) -> dict[str, object]:
    """The Home tab of one user, at `page` (0 is the first; past the last shows the last).

    Args:
        tr: the user's language.
        home: what to show, from `handoff_bot.handoffs.queries.home`.
        page: the page the user turned to.
    """
    _ = tr.gettext
    pages = paginate(_chunks(tr, home))
    number = min(max(page, 0), len(pages) - 1)
    blocks: list[Block] = [
        {"type": "header", "text": plain(_("Your handoffs"), 150)},
        context(*_overview(tr, home, number, len(pages))),
    ]
    first = pages[number].chunks[0] if pages[number].chunks else None
    if number > 0 and first is not None and first.continued is not None:
        blocks.append(first.continued)
    for chunk in pages[number].chunks:
        blocks += chunk.blocks
    if len(pages) > 1:
        buttons = []
        if number > 0:
            buttons.append(button(_("Previous page"), ActionId.HOME_PREVIOUS, str(number - 1)))
        if number < len(pages) - 1:
            buttons.append(button(_("Next page"), ActionId.HOME_NEXT, str(number + 1), style="primary"))
        blocks.append(context(_("Page {page} of {pages}", page=number + 1, pages=len(pages))))
        blocks.append(actions("home_pages", *buttons))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def paginate(chunks: list[_Chunk], budget: int = PAGE_BLOCKS) -> list[_Page]:
    """Chunks laid out on pages of at most `budget` blocks (a chunk is never split)."""
    pages = [_Page()]
    for chunk in chunks:
        current = pages[-1]
        if current.chunks and current.size + len(chunk.blocks) > budget:
            carried: list[_Chunk] = []
            while current.chunks and current.chunks[-1].keep_with_next:
                carried.insert(0, current.chunks.pop())
            pages.append(_Page(carried))
        pages[-1].chunks.append(chunk)
    return [p for p in pages if p.chunks] or [_Page()]


def _overview(tr: Translator, home: Home, number: int, count: int) -> list[str]:
    _ = tr.gettext
    parts = [
        tr.ngettext("{n} waiting on you", "{n} waiting on you", home.waiting_total),
        tr.ngettext("{n} open request", "{n} open requests", home.requests_total),
    ]
    if home.held_total:
        parts.append(tr.ngettext("{n} with you, waiting on others", "{n} with you, waiting on others",
                                 home.held_total))
    for summary in home.departments[:DEPARTMENTS_SHOWN - 3]:
        parts.append(_("{department}: {open} open, {overdue} overdue, {escalated} escalated",
                       department=esc(summary.department.name), open=summary.open, overdue=summary.overdue,
                       escalated=summary.escalated))
    if count > 1:
        parts.append(_("Page {page} of {pages}", page=number + 1, pages=count))
    return parts


def _heading(text: str) -> Block:
    return {"type": "header", "text": plain(text, 150)}


def _part(tr: Translator, title: str, items: list[_Chunk], empty: str, hidden: int) -> list[_Chunk]:
    """A titled part: its heading kept with the first item, repeated as `(continued)` on later pages."""
    _ = tr.gettext
    continued = _heading(_("{part} (continued)", part=title))
    chunks = [_Chunk([divider(), _heading(title)], keep_with_next=True)]
    body = items or [_Chunk([section(empty)])]
    if hidden > 0:
        body.append(_Chunk([context(tr.ngettext("and {n} more", "and {n} more", hidden))]))
    for chunk in body:
        chunk.continued = continued
    return chunks + body


def _chunks(tr: Translator, home: Home) -> list[_Chunk]:
    _ = tr.gettext
    waiting = [_waiting(tr, item, home.timings.get(item.handoff.id, Timing()), home.now, number, home.user_id)
               for number, item in enumerate(home.waiting)]
    requests = [_request(tr, h, home.timings.get(h.id, Timing()), home.now, number)
                for number, h in enumerate(home.requests)]
    chunks = _part(tr, _("Waiting on me"), waiting, _("Nothing waits on you right now."),
                   home.waiting_total - len(home.waiting))
    chunks += _part(tr, _("My requests"), requests,
                    _("You have no open requests. Type `/handoff` to hand off work to another department."),
                    home.requests_total - len(home.requests))
    if home.held_total:
        held = [_held(tr, h, home.timings.get(h.id, Timing()), home.now, number) for number, h in enumerate(home.held)]
        chunks += _part(tr, _("With me, waiting on others"), held, "", home.held_total - len(home.held))
    for summary in home.departments[:DEPARTMENTS_SHOWN]:
        chunks.append(_department(tr, summary, home))
    if home.departments:
        chunks.append(_digest(tr, home))
    chunks.append(_Chunk([divider(), *help_blocks(tr)]))
    return chunks


def _line_two(tr: Translator, handoff_id: int, clock: str) -> str:
    return "\n" + " · ".join(p for p in (clock, tr.gettext("Handoff #{id}", id=handoff_id)) if p)


def _waiting(tr: Translator, item: WaitingItem, timing: Timing, now: datetime, number: int, viewer: str) -> _Chunk:
    """One thing to do: what it is, the clock of what the viewer owes, and the buttons the viewer's messages
    about it carry now (the recipient's card, the question, the restatement, the proposal)."""
    _ = tr.gettext
    h = item.handoff
    title, value = esc(h.title), str(h.id)
    clock = labels.timing(tr, timing, now)  # the standard's clock: the recipient's, and the due date
    buttons = []
    if item.kind is Waiting.CONFIRM and h.state is S.CLARIFYING:
        text = _(":repeat: <@{requester}> clarified *{title}*; restate the key points again.",
                 requester=h.requester_id, title=title)
        buttons = card_buttons(tr, h)
    elif item.kind is Waiting.CONFIRM:
        text = _(":inbox_tray: *{title}* from <@{requester}>: confirm your understanding by restating the key "
                 "points.", requester=h.requester_id, title=title)
        buttons = card_buttons(tr, h)
    elif item.kind is Waiting.DO:
        text = _(":hammer_and_wrench: *{title}* from <@{requester}>: understanding agreed; do the work and mark "
                 "it done.", requester=h.requester_id, title=title)
        buttons = card_buttons(tr, h)
    elif item.kind is Waiting.CLAIM:
        text = _(":inbox_tray: *{title}* from <@{requester}> to {department}: no one has claimed it yet.",
                 title=title, requester=h.requester_id, department=esc(h.department_name))
        buttons = [button(_("Claim"), ActionId.CLAIM, value, style="primary")]  # as on the intake post
    elif item.kind is Waiting.ANSWER and item.question is not None:
        q = item.question
        text = _("<@{asker}> asks about *{title}* ({kind}):", asker=q.asked_by, title=title,
                 kind=labels.question_kind(tr, q.kind)) + "\n" + quote(cut(q.text, 600))
        clock = labels.asked(tr, q.asked_at, now)  # the requester owes the answer, not the recipient's restatement
        buttons = [button(_("Answer"), ActionId.ANSWER, str(q.id), style="primary")]
    elif item.kind is Waiting.REVIEW:
        text = _("<@{recipient}> restated the key points of *{title}* in their own words (round {round}). "
                 "Is that what you meant?", recipient=h.recipient_id, title=title, round=h.rounds)
        restated = item.round.restatements if item.round else []
        for point, words in zip(h.key_points, restated, strict=False):
            text += "\n" + _("*{number}. {point}*", number=point.position, point=esc(cut(point.text, 150)))
            text += "\n" + quote(cut(str(words), 250))
        review = f"{h.id}:{h.rounds}"
        buttons = [button(_("That's right"), ActionId.ACCEPT, review, style="primary"),
                   button(_("Clarify"), ActionId.CLARIFY, review)]
    elif item.kind is Waiting.NEGOTIATE:
        p = item.proposal
        assert p is not None  # a negotiation starts with a proposal
        if p.kind is ProposalKind.DECLINE:
            text = _(":no_entry: <@{by}> declines *{title}*.", by=p.proposed_by, title=title)
        else:
            text = _(":handshake: <@{by}> proposes other terms for *{title}*:", by=p.proposed_by, title=title)
        text += "\n" + labels.terms(tr, h, p, limit=600)  # whole in the DM
        buttons = negotiation_buttons(tr, h, p)
        if viewer == h.recipient_id:  # and what their card offers meanwhile (questions go on)
            shown = {b["action_id"] for b in buttons}
            buttons += [b for b in card_buttons(tr, h) if b["action_id"] not in shown]
    else:
        text = _("<@{recipient}> marked *{title}* done. How well was it handled?", recipient=h.recipient_id,
                 title=title)
        buttons = [button(_("Rate it"), ActionId.RATE, value, style="primary")]
    # Whole: a review lists every point, each shortened, so that "That's right" accepts what was shown.
    return _Chunk([*sections(text + _line_two(tr, h.id, clock)), actions(f"home_item_{number}", *buttons)])


def _request(tr: Translator, h: Handoff, timing: Timing, now: datetime, number: int) -> _Chunk:
    """One of my requests: to whom, where it stands, the standard's clock, and what the requester's copy
    offers (*Cancel* while open)."""
    _ = tr.gettext
    if h.recipient_id:
        head = _("*{title}* to <@{recipient}> in {department}", title=esc(h.title), recipient=h.recipient_id,
                 department=esc(h.department_name))
    else:
        head = _("*{title}* to {department}", title=esc(h.title), department=esc(h.department_name))
    blocks = [section(head + "\n" + labels.status(tr, h) + _line_two(tr, h.id, labels.timing(tr, timing, now)))]
    if buttons := receipt_buttons(tr, h):
        blocks.append(actions(f"home_request_{number}", *buttons))
    return _Chunk(blocks)


def _held(tr: Translator, h: Handoff, timing: Timing, now: datetime, number: int) -> _Chunk:
    """A handoff the viewer holds that waits on someone else: where it stands, the standard's clock, and
    what the viewer's card offers meanwhile (a question, a proposal)."""
    head = tr.gettext("*{title}* from <@{requester}>", title=esc(h.title), requester=h.requester_id)
    blocks = [section(head + "\n" + labels.status(tr, h) + _line_two(tr, h.id, labels.timing(tr, timing, now)))]
    if buttons := card_buttons(tr, h):
        blocks.append(actions(f"home_held_{number}", *buttons))
    return _Chunk(blocks)


def _digest(tr: Translator, home: Home) -> _Chunk:
    """Managers: where the weekly digest is, and a button for this week's so far."""
    _ = tr.gettext
    if home.last_digest is not None:
        week, sent_at = home.last_digest
        where = _("Your latest weekly digest ({week}) was sent to your messages with Handoff on {when}.",
                  week=week, when=slack_date(sent_at))
    else:
        where = _("Your weekly digest arrives in your messages with Handoff.")
    return _Chunk([context(where), actions("home_digest", button(
        _("Show this week's digest"), ActionId.HOME_DIGEST, "current"))])


def _department(tr: Translator, summary: DepartmentSummary, home: Home) -> _Chunk:
    """A managed department: open, overdue and escalated counts, and its most pressing handoffs."""
    _ = tr.gettext
    name = summary.department.name
    blocks: list[Block] = [divider(), _heading(_("My department: {department}", department=name)), {
        "type": "section", "fields": [
            {"type": "mrkdwn", "text": _("*Open*\n{count}", count=summary.open)},
            {"type": "mrkdwn", "text": _("*Overdue*\n{count}", count=summary.overdue)},
            {"type": "mrkdwn", "text": _("*Escalated*\n{count}", count=summary.escalated)},
        ]}]
    if summary.top:
        lines = []
        for h in summary.top:
            clock = labels.timing(tr, home.timings.get(h.id, Timing()), home.now)
            lines.append(_("• *{title}* from <@{requester}>: {status}", title=esc(cut(h.title, 100)),
                           requester=h.requester_id, status=labels.status(tr, h))
                         + (f" · {clock}" if clock else ""))
        blocks.append(section(cut(_("*Most pressing*") + "\n" + "\n".join(lines), 3000)))
    blocks.append(context(_("`/handoff list dept` lists all of them; `/handoff export` sends them as a CSV file.")))
    return _Chunk(blocks)
