"""Block Kit for every message the bot posts about a handoff.

Each message is rendered from the handoff's current state, so re-rendering a posted message
and sending it with `chat.update` keeps it true: buttons appear only while they can act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff_bot.handoffs.lifecycle import TRANSITIONS, Action
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffState,
    Outcome,
    Proposal,
    ProposalKind,
    Question,
    UnderstandingRound,
    Verdict,
)
from handoff_bot.i18n import Translator
from handoff_bot.outbox.models import NoticeKind
from handoff_bot.slack.blocks import labels
from handoff_bot.slack.blocks.common import (
    MESSAGE_BLOCKS,
    Block,
    actions,
    button,
    context,
    cut,
    esc,
    quote,
    section,
    sections,
    slack_date,
)
from handoff_bot.slack.ids import ActionId, BlockId

S = HandoffState


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[Block]


@dataclass
class Facts:
    """What a message about a handoff may show, loaded by the caller in one transaction."""

    handoff: Handoff
    rounds: Sequence[UnderstandingRound] = ()
    questions: Sequence[Question] = ()
    proposals: Sequence[Proposal] = ()
    params: dict[str, Any] = field(default_factory=dict)
    target: str = ""  # whom the message is for (a user or channel id)
    delivered: frozenset[str] = frozenset()  # where the handoff's card or intake post has been posted
    superseded: bool = False  # a card, followed by a newer one to the same person (it came back to them)

    def round(self, number: int) -> UnderstandingRound | None:
        return next((r for r in self.rounds if r.number == number), None)

    def question(self, question_id: int) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def proposal(self, number: int) -> Proposal | None:
        return next((p for p in self.proposals if p.number == number), None)

    def agreed_scopes(self) -> list[str]:
        """The changes of scope the two sides agreed on, first first."""
        return [p.scope for p in self.proposals if p.outcome is Outcome.ACCEPTED and p.scope]


def _status(tr: Translator, h: Handoff) -> Block:
    """The context line saying where the handoff stands now."""
    return context(tr.gettext("*Status:* {status}", status=labels.status(tr, h)))


def _summary(tr: Translator, facts: Facts, *, with_questions: bool = True) -> list[Block]:
    """Title, details, who and when, key points, the standard and the current status."""
    _ = tr.gettext
    h = facts.handoff
    from_part = esc(h.from_department.name) if h.from_department else _("no department")
    who = f"<@{h.recipient_id}>" if h.recipient_id else _("unassigned")
    fields = [
        _("*From*\n<@{requester}> ({department})", requester=h.requester_id, department=from_part),
        _("*To*\n{who} ({department})", department=esc(h.to_department.name), who=who),
        _("*Due*\n{date}", date=h.due_date.isoformat() if h.due_date else _("no due date")),
        _("*Priority*\n{priority}", priority=labels.priority(tr, h.priority)),
    ]
    blocks: list[Block] = [
        *sections(f"*{esc(h.title)}*" + (f"\n{esc(h.details)}" if h.details else "")),  # whole, however long
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        *sections(_("*Key points*") + "\n" + "\n".join(f"{p.position}. {esc(p.text)}" for p in h.key_points)),
    ]
    if scopes := facts.agreed_scopes():
        blocks += sections(_("*Change of scope agreed*") + "\n" + "\n".join(quote(scope) for scope in scopes))
    if with_questions and facts.questions:
        lines = []
        for q in facts.questions[-5:]:
            lines.append(_("*Q* ({kind}): {text}", kind=labels.question_kind(tr, q.kind), text=esc(cut(q.text, 250))))
            if q.answer:
                lines.append(_("*A*: {text}", text=esc(cut(q.answer, 250))))
        blocks.append(section(_("*Questions and answers*") + "\n" + "\n".join(lines)))
    blocks.append(context(
        labels.relation(tr, h.relation), labels.standard(tr, h.standard),
        _("Handoff #{id}", id=h.id),
    ))
    blocks.append(_status(tr, h))
    return blocks


def recipient_card(tr: Translator, facts: Facts) -> Message:
    """The recipient's DM: the handoff and what they can do next (on their latest card only)."""
    _ = tr.gettext
    h = facts.handoff
    intro = _("<@{requester}> handed off work to you.", requester=h.requester_id)
    if h.priority.value == "urgent":
        intro = _(":rotating_light: Urgent: <@{requester}> handed off work to you.", requester=h.requester_id)
    blocks = [section(intro), *_summary(tr, facts)]
    if moved := _reassigned(tr, facts):
        blocks.append(moved)
    elif facts.superseded:
        blocks.append(context(_("Reassigned back to you: the newer card below has the buttons.")))
    elif buttons := card_buttons(tr, h):
        blocks.append(actions(BlockId.ACTIONS, *buttons))
    return Message(_("New handoff from <@{requester}>: {title}", requester=h.requester_id, title=esc(h.title)), blocks)


def _reassigned(tr: Translator, facts: Facts) -> Block | None:
    """On a message to a former recipient: to whom the handoff went (and no buttons beside it)."""
    h = facts.handoff
    if facts.target and h.recipient_id and facts.target != h.recipient_id:
        return context(tr.gettext("Reassigned to <@{user}>", user=h.recipient_id))
    return None


def card_buttons(tr: Translator, h: Handoff) -> list[dict[str, Any]]:
    """What the recipient's card offers in the handoff's current state (their Home tab items offer the same)."""
    _ = tr.gettext
    value = str(h.id)
    buttons = []
    if h.state in (S.SENT, S.CLARIFYING):
        label = _("Confirm my understanding") if h.state is S.SENT else _("Restate again")
        buttons.append(button(label, ActionId.CONFIRM_UNDERSTANDING, value, style="primary"))
    if h.state is S.CONFIRMED:
        buttons.append(button(_("Mark done"), ActionId.MARK_DONE, value, style="primary"))
    if h.state in TRANSITIONS[Action.ASK].from_states:
        buttons.append(button(_("Ask a question"), ActionId.ASK, value))
    if h.state in TRANSITIONS[Action.PROPOSE].from_states - {S.NEGOTIATING}:  # in one, the answer's DM has it
        buttons.append(button(_("Propose a change / decline"), ActionId.PROPOSE, value))
    return buttons


def intake_post(tr: Translator, facts: Facts) -> Message:
    """The post in the department's intake channel, with *Claim* until someone takes it."""
    _ = tr.gettext
    h = facts.handoff
    claimable = h.state is S.SENT and h.recipient_id is None
    if claimable:
        intro = _("<@{requester}> handed off work to {department}. Anyone in {department} can claim it.",
                  requester=h.requester_id, department=esc(h.to_department.name))
    else:
        intro = _("<@{requester}> handed off work to {department}.", requester=h.requester_id,
                  department=esc(h.to_department.name))
    blocks = [section(intro), *_summary(tr, facts, with_questions=False)]
    if claimable:
        blocks.append(actions(BlockId.ACTIONS, button(_("Claim"), ActionId.CLAIM, str(h.id), style="primary")))
    elif h.recipient_id:  # whoever claimed it, or the member a manager gave it to since
        blocks.append(context(_("Now with <@{user}>", user=h.recipient_id)))
    return Message(_("New handoff for {department}: {title}", department=esc(h.to_department.name),
                     title=esc(h.title)), blocks)


def receipt(tr: Translator, facts: Facts) -> Message:
    """The requester's copy: what was sent, to whom, under which standard, with *Cancel* while open."""
    _ = tr.gettext
    h = facts.handoff
    if h.recipient_id:
        intro = _("You handed off *{title}* to <@{recipient}> in {department}.",
                  title=esc(h.title), recipient=h.recipient_id, department=esc(h.to_department.name))
    elif h.to_department.intake_channel in facts.delivered:
        intro = _("You handed off *{title}* to {department}; it was posted in <#{channel}> for someone to claim.",
                  title=esc(h.title), department=esc(h.to_department.name), channel=h.to_department.intake_channel)
    else:  # the post is not there (yet): see the message saying why
        intro = _("You handed off *{title}* to {department}; it is not posted in <#{channel}> yet.",
                  title=esc(h.title), department=esc(h.to_department.name), channel=h.to_department.intake_channel)
    blocks = [section(intro), *_summary(tr, facts)]
    if buttons := receipt_buttons(tr, h):
        blocks.append(actions(BlockId.ACTIONS, *buttons))
    return Message(_("You handed off: {title}", title=esc(h.title)), blocks)


def receipt_buttons(tr: Translator, h: Handoff) -> list[dict[str, Any]]:
    """What the requester's copy offers: *Cancel*, with a confirm dialog, while the handoff is open (their Home
    tab's requests offer the same)."""
    _ = tr.gettext
    if not h.is_open:
        return []
    confirm = {
        "title": {"type": "plain_text", "text": _("Cancel this handoff?")},
        "text": {"type": "mrkdwn", "text": _("The recipient is told it is no longer needed.")},
        "confirm": {"type": "plain_text", "text": _("Cancel handoff")},
        "deny": {"type": "plain_text", "text": _("Keep it")},
        "style": "danger",
    }
    return [button(_("Cancel"), ActionId.CANCEL, str(h.id), style="danger", confirm=confirm)]


def review(tr: Translator, facts: Facts) -> Message:
    """To the requester: each key point beside the recipient's restatement, to accept or clarify."""
    _ = tr.gettext
    h = facts.handoff
    number = int(facts.params["round"])
    rnd = facts.round(number)
    restated_by = rnd.restated_by if rnd else h.recipient_id  # not whoever has the handoff since
    blocks: list[Block] = [section(_(
        "<@{recipient}> restated the key points of *{title}* in their own words (round {round}). "
        "Is that what you meant?", recipient=restated_by, title=esc(h.title), round=number))]
    restatements = rnd.restatements if rnd else []
    room = max(1, (MESSAGE_BLOCKS - 3) // max(1, len(restatements)))  # sections each point may take
    for point, restated in zip(h.key_points, restatements, strict=False):
        heading = _("*{number}. {point}*", number=point.position, point=esc(point.text))
        while len(shown := sections(heading + "\n" + quote(restated))) > room:  # only text mostly of <, > and &
            restated = cut(restated, len(restated) * 4 // 5)
        blocks += shown
    if h.state is S.RESTATED and h.rounds == number:
        value = f"{h.id}:{number}"
        blocks.append(actions(
            BlockId.ACTIONS,
            button(_("That's right"), ActionId.ACCEPT, value, style="primary"),
            button(_("Clarify"), ActionId.CLARIFY, value),
        ))
    elif rnd is not None and rnd.verdict is Verdict.ACCEPTED:
        blocks.append(context(_(":white_check_mark: You confirmed this understanding.")))
    elif rnd is not None and rnd.verdict is Verdict.CLARIFY:
        blocks.append(context(_("You asked for a clarification: {text}", text=esc(cut(rnd.clarification or "", 2000)))))
    else:
        blocks.append(_status(tr, h))
    return Message(_("<@{recipient}> restated your key points for {title}", recipient=restated_by,
                     title=esc(h.title)), blocks)


def clarification(tr: Translator, facts: Facts) -> Message:
    """To the recipient: what the requester says differs, and a button to restate again."""
    _ = tr.gettext
    h = facts.handoff
    number = int(facts.params["round"])
    rnd = facts.round(number)
    blocks = [
        section(_("<@{requester}> says your understanding of *{title}* differs (round {round}):",
                  requester=h.requester_id, title=esc(h.title), round=number)),
        *sections(quote(rnd.clarification if rnd and rnd.clarification else "")),
    ]
    if h.state is S.CLARIFYING and h.rounds == number:
        blocks.append(actions(BlockId.ACTIONS, button(_("Restate again"), ActionId.CONFIRM_UNDERSTANDING,
                                                      str(h.id), style="primary")))
    else:
        blocks.append(_status(tr, h))
    return Message(_("<@{requester}> clarified {title}", requester=h.requester_id, title=esc(h.title)), blocks)


def confirmed(tr: Translator, facts: Facts) -> Message:
    """To the recipient: the requester agrees with their understanding; the work can start."""
    _ = tr.gettext
    h = facts.handoff
    blocks = [section(_(
        ":white_check_mark: <@{requester}> confirmed your understanding of *{title}*. "
        "Press *Mark done* when the work is finished.", requester=h.requester_id, title=esc(h.title)))]
    if moved := _reassigned(tr, facts):
        blocks.append(moved)
    elif h.state is S.CONFIRMED:
        blocks.append(actions(BlockId.ACTIONS, button(_("Mark done"), ActionId.MARK_DONE, str(h.id), style="primary")))
    else:
        blocks.append(_status(tr, h))
    return Message(_("<@{requester}> confirmed your understanding of {title}", requester=h.requester_id,
                     title=esc(h.title)), blocks)


def question(tr: Translator, facts: Facts) -> Message:
    """To the requester: a question from the recipient, with *Answer* until answered."""
    _ = tr.gettext
    h = facts.handoff
    q = facts.question(int(facts.params["question"]))
    assert q is not None
    blocks = [
        section(_("<@{asker}> asks about *{title}* ({kind}):", asker=q.asked_by, title=esc(h.title),
                  kind=labels.question_kind(tr, q.kind))),
        *sections(quote(q.text)),
    ]
    if q.answer:
        blocks += sections(_("*Your answer*") + "\n" + quote(q.answer))
    elif h.is_open:
        blocks.append(actions(BlockId.ACTIONS, button(_("Answer"), ActionId.ANSWER, str(q.id), style="primary")))
    else:
        blocks.append(_status(tr, h))
    return Message(_("<@{asker}> asks about {title}", asker=q.asked_by, title=esc(h.title)), blocks)


def answer(tr: Translator, facts: Facts) -> Message:
    """To the recipient: the requester's answer to their question (or, after a reassignment, to the question
    the former recipient asked)."""
    _ = tr.gettext
    h = facts.handoff
    q = facts.question(int(facts.params["question"]))
    assert q is not None
    if not facts.target or facts.target == q.asked_by:
        head = _("<@{requester}> answered your question about *{title}*:", requester=h.requester_id,
                 title=esc(h.title))
        text = _("<@{requester}> answered your question about {title}", requester=h.requester_id, title=esc(h.title))
    else:
        head = _("<@{requester}> answered the question <@{asker}> asked about *{title}*:", requester=h.requester_id,
                 asker=q.asked_by, title=esc(h.title))
        text = _("<@{requester}> answered a question about {title}", requester=h.requester_id, title=esc(h.title))
    blocks = [section(head), *sections(_("*Q*: {text}", text=esc(cut(q.text, 1000))) + "\n" + quote(q.answer))]
    return Message(text, blocks)


def rating_request(tr: Translator, facts: Facts) -> Message:
    """To the requester: the work is done; rate it 1–5."""
    _ = tr.gettext
    h = facts.handoff
    blocks = [section(_("<@{recipient}> marked *{title}* done. How well was it handled?",
                        recipient=h.recipient_id, title=esc(h.title)))]
    if h.state is S.DONE:
        blocks.append(actions(BlockId.ACTIONS, button(_("Rate it"), ActionId.RATE, str(h.id), style="primary")))
    elif h.rating:
        blocks.append(context(_("You rated it {stars} {rating}/5", stars=labels.stars(h.rating), rating=h.rating)))
    return Message(_("<@{recipient}> marked {title} done", recipient=h.recipient_id, title=esc(h.title)), blocks)


def rated(tr: Translator, facts: Facts) -> Message:
    """To the recipient: how the requester rated the result."""
    _ = tr.gettext
    h = facts.handoff
    rating = h.rating or 0
    blocks = [section(_("<@{requester}> rated *{title}* {stars} {rating}/5", requester=h.requester_id,
                        title=esc(h.title), stars=labels.stars(rating), rating=rating))]
    if h.rating_comment:
        blocks += sections(quote(h.rating_comment))
    return Message(_("<@{requester}> rated {title} {rating}/5", requester=h.requester_id, title=esc(h.title),
                     rating=rating), blocks)


def cancelled(tr: Translator, facts: Facts) -> Message:
    """To the recipient: the requester no longer needs the work."""
    _ = tr.gettext
    h = facts.handoff
    text = _("<@{requester}> cancelled *{title}*; nothing more is needed.", requester=h.requester_id,
             title=esc(h.title))
    return Message(_("<@{requester}> cancelled {title}", requester=h.requester_id, title=esc(h.title)),
                   [section(text)])


def reassigned(tr: Translator, facts: Facts) -> Message:
    """To the former recipient: a manager gave the handoff to someone else."""
    _ = tr.gettext
    h = facts.handoff
    user = facts.params.get("to", h.recipient_id)
    if facts.target and facts.target == h.recipient_id:  # it came back to them since
        text = _("*{title}* was reassigned to <@{user}>, then back to you.", title=esc(h.title), user=user)
    else:
        text = _("*{title}* was reassigned to <@{user}>; nothing more is needed from you.", title=esc(h.title),
                 user=user)
    return Message(_("{title} was reassigned", title=esc(h.title)), [section(text)])


def undelivered(tr: Translator, facts: Facts) -> Message:
    """To the requester: the handoff could not be delivered, and what to do about it."""
    _ = tr.gettext
    h = facts.handoff
    target = str(facts.params.get("target", ""))
    where = f"<@{target}>" if target[:1] in ("U", "W") else f"<#{target}>"
    if target in facts.delivered:
        return Message(_("Delivered {title}", title=esc(h.title)), [section(_(
            ":white_check_mark: *{title}* reached {where} after all.", title=esc(h.title), where=where))])
    error = esc(str(facts.params.get("error", "")))
    if target[:1] in ("U", "W"):  # a person: no invitation helps
        text = _("Handoff could not deliver *{title}* to {where} (Slack said: {error}). Cancel this handoff and "
                 "send it to someone else, or ask a manager of {department} to reassign it.",
                 title=esc(h.title), where=where, error=error, department=esc(h.department_name))
    else:
        text = _("Handoff could not deliver *{title}* to {where} (Slack said: {error}). If it is a private "
                 "channel, invite @handoff to it; or cancel this handoff and send it to a person.",
                 title=esc(h.title), where=where, error=error)
    return Message(_("Could not deliver {title}", title=esc(h.title)), [section(text)])


def proposal(tr: Translator, facts: Facts) -> Message:
    """To one side: the other's proposal (a change, a decline, a counter), with *Accept* and a way to answer
    while it waits on them."""
    _ = tr.gettext
    h = facts.handoff
    number = int(facts.params["proposal"])
    p = facts.proposal(number)
    assert p is not None
    by, title = p.proposed_by, esc(h.title)
    if p.kind is ProposalKind.DECLINE:
        intro = _(":no_entry: <@{by}> declines *{title}*.", by=by, title=title)
    elif by == h.requester_id:
        intro = _(":handshake: <@{by}> answers your proposal on *{title}*:", by=by, title=title)
    else:
        intro = _(":handshake: <@{by}> proposes a change to *{title}*:", by=by, title=title)
    blocks: list[Block] = [section(intro), *sections(labels.terms(tr, h, p))]
    if h.state is S.NEGOTIATING and p.outcome is None and h.negotiation_turn == facts.target:
        blocks.append(actions(BlockId.ACTIONS, *negotiation_buttons(tr, h, p)))
    elif p.outcome is Outcome.ACCEPTED:
        blocks.append(context(_(":white_check_mark: Accepted. Now: {status}", status=labels.status(tr, h))))
    elif p.outcome is Outcome.COUNTERED:
        blocks.append(context(_("Answered with another proposal. Now: {status}", status=labels.status(tr, h))))
    else:
        blocks.append(_status(tr, h))
    text = _("<@{by}> declines {title}", by=by, title=title) if p.kind is ProposalKind.DECLINE else _(
        "<@{by}> proposes other terms for {title}", by=by, title=title)
    return Message(text, blocks)


def negotiation_buttons(tr: Translator, h: Handoff, p: Proposal) -> list[dict[str, Any]]:
    """What the side a proposal waits on can do: accept it, or answer it (the requester counters, the
    recipient proposes again)."""
    _ = tr.gettext
    value = f"{h.id}:{p.number}"
    if p.kind is ProposalKind.DECLINE:
        confirm = {
            "title": {"type": "plain_text", "text": _("Accept the decline?")},
            "text": {"type": "mrkdwn", "text": _("The handoff is closed as declined.")},
            "confirm": {"type": "plain_text", "text": _("Accept the decline")},
            "deny": {"type": "plain_text", "text": _("Not yet")},
        }
        return [button(_("Accept the decline"), ActionId.AGREE, value, confirm=confirm),
                button(_("Counter"), ActionId.COUNTER, value, style="primary")]
    accept = button(_("Accept"), ActionId.AGREE, value, style="primary")
    if p.proposed_by == h.recipient_id:
        return [accept, button(_("Counter"), ActionId.COUNTER, value)]
    return [accept, button(_("Propose a change / decline"), ActionId.PROPOSE, str(h.id))]


def agreed(tr: Translator, facts: Facts) -> Message:
    """To a proposal's author: the other side accepted it."""
    _ = tr.gettext
    h = facts.handoff
    p = facts.proposal(int(facts.params["proposal"]))
    assert p is not None
    # Who accepted (recorded since; before, the other side as it is now, which a reassignment changes).
    other = facts.params.get("by") or (h.recipient_id if p.proposed_by == h.requester_id else h.requester_id)
    title = esc(h.title)
    if p.kind is ProposalKind.DECLINE:
        text = _(":white_check_mark: <@{other}> accepted that you decline *{title}*; it is closed.", other=other,
                 title=title)
    else:
        text = _(":white_check_mark: <@{other}> accepted your proposal on *{title}*.", other=other, title=title)
    blocks: list[Block] = [section(text), *sections(labels.terms(tr, h, p)), _status(tr, h)]
    return Message(_("<@{other}> accepted your proposal on {title}", other=other, title=title), blocks)


def stalled(tr: Translator, facts: Facts) -> Message:
    """To the managers of both sides: a negotiation not settled within the time to confirm, with each
    side's latest position; once it is over, how it ended."""
    _ = tr.gettext
    h = facts.handoff
    title = esc(h.title)
    since = datetime.fromisoformat(facts.params["since"])  # when the negotiation began
    if h.negotiation_since != since:  # over (and maybe another one begun, with a message of its own)
        recipient, requester = facts.params.get("sides") or (h.recipient_id, h.requester_id)  # as they were
        text = _(":white_check_mark: The negotiation on *{title}* between <@{recipient}> and <@{requester}> is over. "
                 "Now: {status}", title=title, recipient=recipient, requester=requester, status=labels.status(tr, h))
        return Message(_("The negotiation on {title} is over", title=title), [section(text)])
    source = esc(h.from_department.name) if h.from_department else _("no department")
    blocks: list[Block] = [section(_(
        ":warning: <@{recipient}> ({to}) and <@{requester}> ({source}) have not agreed on the terms of *{title}* "
        "since {when}. Their positions:", recipient=h.recipient_id, to=esc(h.to_department.name),
        requester=h.requester_id, source=source, title=title, when=slack_date(since)))]
    for side in (h.recipient_id, h.requester_id):
        latest = next((p for p in reversed(facts.proposals) if p.proposed_by == side and p.proposed_at >= since), None)
        if latest is not None:
            lines = [f"*<@{side}>*", labels.terms(tr, h, latest)]
        elif h.due_date is not None:
            lines = [f"*<@{side}>*", _("Has not answered yet; asks for the current terms (due {due}).",
                                       due=h.due_date.isoformat())]
        else:
            lines = [f"*<@{side}>*", _("Has not answered yet; asks for the current terms (no due date).")]
        blocks += sections("\n".join(lines))
    blocks.append(_status(tr, h))
    return Message(_("Negotiation on {title} has stalled", title=title), blocks)


RENDERERS = {
    NoticeKind.RECIPIENT_CARD: recipient_card,
    NoticeKind.INTAKE_POST: intake_post,
    NoticeKind.RECEIPT: receipt,
    NoticeKind.REVIEW: review,
    NoticeKind.CLARIFICATION: clarification,
    NoticeKind.CONFIRMED: confirmed,
    NoticeKind.QUESTION: question,
    NoticeKind.ANSWER: answer,
    NoticeKind.RATING_REQUEST: rating_request,
    NoticeKind.RATED: rated,
    NoticeKind.CANCELLED: cancelled,
    NoticeKind.UNDELIVERED: undelivered,
    NoticeKind.REASSIGNED: reassigned,
    NoticeKind.PROPOSAL: proposal,
    NoticeKind.AGREED: agreed,
    NoticeKind.STALLED: stalled,
}


def render(kind: NoticeKind, tr: Translator, facts: Facts) -> Message:
    """The message for a notice about a handoff, as it should look now."""
    return RENDERERS[kind](tr, facts)
