"""The modals: new handoff, restate, clarify, ask, answer, rate, reassign, propose and counter."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from handoff_bot.departments.service import Choice
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffState,
    Priority,
    Proposal,
    ProposalKind,
    Question,
    QuestionKind,
    Relationship,
)
from handoff_bot.handoffs.service import DETAILS_MAX, KEY_POINT_MAX, TITLE_MAX
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks import labels
from handoff_bot.slack.blocks.common import (
    Block,
    context,
    cut,
    esc,
    input_block,
    modal,
    option,
    plain,
    quote,
    section,
    sections,
    text_input,
)
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId

SELECT_MAX = 100  # options in a select, and option groups in one


def metadata(**values: Any) -> str:
    return json.dumps(values, separators=(",", ":"))


def _radio(options: list[dict[str, Any]], initial: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "radio_buttons", "action_id": ActionId.INPUT, "options": options}
    if initial is not None:
        element["initial_option"] = next(o for o in options if o["value"] == initial)
    return element


def _department_select(tr: Translator, departments: Sequence[Choice]) -> dict[str, Any]:
    """Every department: a list of up to 100 (Slack's limit for a select), beyond that in groups
    of consecutive names (up to 100 groups of 100), each labelled with its first and last name."""
    element: dict[str, Any] = {"type": "static_select", "action_id": ActionId.INPUT,
                               "placeholder": plain(tr.gettext("Choose a department"), 150)}
    if len(departments) <= SELECT_MAX:
        element["options"] = [option(d.name, str(d.id)) for d in departments]
        return element
    listed = departments[:SELECT_MAX * SELECT_MAX]
    size = math.ceil(len(listed) / math.ceil(len(listed) / SELECT_MAX))  # groups as even as possible
    groups = [listed[start:start + size] for start in range(0, len(listed), size)]
    element["option_groups"] = [
        {"label": plain(f"{cut(group[0].name, 36)} – {cut(group[-1].name, 36)}", 75),
         "options": [option(d.name, str(d.id)) for d in group]}
        for group in groups
    ]
    return element


def new_handoff(
    tr: Translator,
    departments: Sequence[Choice],
    *,
    own_departments: Sequence[Choice] = (),
    title: str = "",
    recipient_id: str | None = None,
    channel_id: str | None = None,
) -> dict[str, Any]:
    """The form `/handoff` opens. `own_departments` (when several) adds a *From department* choice.
    A `title` longer than a title may be is offered cut, and whole as the details."""
    _ = tr.gettext
    details = title if len(title) > TITLE_MAX else None
    title = cut(title, TITLE_MAX)
    recipient: dict[str, Any] = {"type": "users_select", "action_id": ActionId.INPUT,
                                 "placeholder": plain(_("Anyone in the department"), 150)}
    if recipient_id:
        recipient["initial_user"] = recipient_id
    blocks: list[Block] = [
        input_block(BlockId.DEPARTMENT, _("To department"), _department_select(tr, departments)),
        input_block(BlockId.RECIPIENT, _("To person"), recipient, optional=True,
                    hint=_("Leave empty to post it in the department's intake channel for anyone to claim.")),
        input_block(BlockId.TITLE, _("Title"), text_input(max_length=TITLE_MAX, initial=title,
                                                          placeholder=_("What do you need?"))),
        input_block(BlockId.DETAILS, _("Details"), text_input(multiline=True, max_length=DETAILS_MAX,
                                                              initial=details), optional=True),
        input_block(BlockId.KEY_POINTS, _("Key points, one per line"),
                    text_input(multiline=True, max_length=3000,
                               placeholder=_("What must the recipient get right?")),
                    optional=True,
                    hint=_("Up to 10 lines of at most {limit} characters. The recipient restates each one "
                           "in their own words. Empty: the title is the key point.", limit=KEY_POINT_MAX)),
        input_block(BlockId.DUE_DATE, _("Due date"), {"type": "datepicker", "action_id": ActionId.INPUT},
                    optional=True),
        input_block(BlockId.RELATION, _("Relationship"), _radio(
            [option(labels.relation(tr, r), r.value) for r in Relationship], Relationship.FUNCTIONAL.value)),
        input_block(BlockId.PRIORITY, _("Priority"), _radio(
            [option(labels.priority(tr, p), p.value) for p in Priority], Priority.NORMAL.value)),
    ]
    if len(own_departments) > 1:
        blocks.insert(0, input_block(BlockId.FROM_DEPARTMENT, _("From department"),
                                     _department_select(tr, own_departments)))
    return modal(CallbackId.NEW, _("New handoff"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(channel=channel_id) if channel_id else "")


def restate(tr: Translator, handoff: Handoff, clarification: str | None) -> dict[str, Any]:
    """One input per key point: the recipient's own words."""
    _ = tr.gettext
    blocks: list[Block] = [section(_(
        "*{title}* from <@{requester}>. Restate each key point in your own words, so you both know "
        "you mean the same thing.", title=esc(handoff.title), requester=handoff.requester_id))]
    if clarification:
        blocks += sections(_("*<@{requester}> clarified:*", requester=handoff.requester_id) + "\n"
                           + quote(clarification))
    for point in handoff.key_points:
        blocks.append(input_block(
            BlockId.point(point.position), f"{point.position}. {point.text}",
            text_input(multiline=True, max_length=DETAILS_MAX, placeholder=_("In your own words")),
        ))
    return modal(CallbackId.RESTATE, _("Confirm understanding"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id, r=handoff.rounds, n=len(handoff.key_points)))


def clarify(tr: Translator, handoff: Handoff, round_number: int) -> dict[str, Any]:
    _ = tr.gettext
    blocks = [
        section(_("Tell <@{recipient}> what differs from what you meant. They will restate again.",
                  recipient=handoff.recipient_id)),
        input_block(BlockId.CLARIFICATION, _("What differs"), text_input(multiline=True, max_length=DETAILS_MAX)),
    ]
    return modal(CallbackId.CLARIFY, _("Clarify"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id, r=round_number))


def ask(tr: Translator, handoff: Handoff) -> dict[str, Any]:
    _ = tr.gettext
    kinds = [option(labels.question_kind(tr, k), k.value, labels.question_kind_hint(tr, k)) for k in QuestionKind]
    blocks = [
        section(_("A question to <@{requester}> about *{title}*.", requester=handoff.requester_id,
                  title=esc(handoff.title))),
        input_block(BlockId.QUESTION_KIND, _("Kind of question"), _radio(kinds, QuestionKind.OPEN.value)),
        input_block(BlockId.QUESTION, _("Your question"), text_input(multiline=True, max_length=DETAILS_MAX)),
    ]
    return modal(CallbackId.ASK, _("Ask a question"), blocks, submit=_("Ask"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id))


def answer(tr: Translator, handoff: Handoff, question: Question) -> dict[str, Any]:
    _ = tr.gettext
    blocks = [
        *sections(_("<@{asker}> asks about *{title}* ({kind}):", asker=question.asked_by, title=esc(handoff.title),
                    kind=labels.question_kind(tr, question.kind)) + "\n" + quote(question.text)),
        input_block(BlockId.ANSWER, _("Your answer"), text_input(multiline=True, max_length=DETAILS_MAX)),
    ]
    return modal(CallbackId.ANSWER, _("Answer"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(q=question.id))


def rate(tr: Translator, handoff: Handoff) -> dict[str, Any]:
    _ = tr.gettext
    ratings = [option(f"{labels.stars(n)} {n}", str(n)) for n in range(5, 0, -1)]
    blocks = [
        section(_("How well did <@{recipient}> handle *{title}*?", recipient=handoff.recipient_id,
                  title=esc(handoff.title))),
        input_block(BlockId.RATING, _("Rating"), _radio(ratings)),
        input_block(BlockId.COMMENT, _("Comment"), text_input(multiline=True, max_length=DETAILS_MAX),
                    optional=True),
        context(_("Your rating and comment are shared with <@{recipient}> and their manager.",
                  recipient=handoff.recipient_id)),
    ]
    return modal(CallbackId.RATE, _("Rate the handoff"), blocks, submit=_("Rate"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id))


def reassign(tr: Translator, handoff: Handoff) -> dict[str, Any]:
    """A manager picks another member of the department to take the handoff."""
    _ = tr.gettext
    current = f"<@{handoff.recipient_id}>" if handoff.recipient_id else _("nobody yet")
    blocks = [
        section(_("*{title}* from <@{requester}> is with {current}. Who in {department} should take it? "
                  "They will be asked to confirm their understanding anew.", title=esc(handoff.title),
                  requester=handoff.requester_id, current=current, department=esc(handoff.department_name))),
        input_block(BlockId.RECIPIENT, _("New recipient"), {"type": "users_select", "action_id": ActionId.INPUT}),
    ]
    return modal(CallbackId.REASSIGN, _("Reassign"), blocks, submit=_("Reassign"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id, r=handoff.recipient_id or ""))


def propose(tr: Translator, handoff: Handoff, latest: Proposal | None) -> dict[str, Any]:
    """The recipient proposes other terms or declines; `latest`: the handoff's latest proposal, shown when it
    is the requester's counter-proposal they answer."""
    _ = tr.gettext
    blocks: list[Block] = [section(_(
        "*{title}* from <@{requester}>. Propose other terms (another due date, a smaller scope) or decline, "
        "and say why. <@{requester}> accepts or answers with terms of their own.",
        title=esc(handoff.title), requester=handoff.requester_id))]
    if latest is not None and latest.outcome is None and latest.proposed_by == handoff.requester_id:
        blocks += sections(_("*<@{requester}> proposed:*", requester=handoff.requester_id) + "\n"
                           + labels.terms(tr, handoff, latest))
    kinds = [option(_("Propose a change"), ProposalKind.CHANGE.value, _("Another due date, a smaller scope")),
             option(_("Decline"), ProposalKind.DECLINE.value, _("You will not take this on"))]
    blocks += [
        input_block(BlockId.PROPOSAL_KIND, _("What do you propose?"), _radio(kinds, ProposalKind.CHANGE.value)),
        *_terms_inputs(tr, handoff),
    ]
    return modal(CallbackId.PROPOSE, _("Propose a change"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id, p=latest.number if latest else 0,
                                   n=int(handoff.state is HandoffState.NEGOTIATING)))


def counter(tr: Translator, handoff: Handoff, latest: Proposal) -> dict[str, Any]:
    """The requester answers the recipient's proposal with terms of their own."""
    _ = tr.gettext
    blocks: list[Block] = [
        *sections(_("*<@{recipient}> proposed:*", recipient=handoff.recipient_id) + "\n"
                  + labels.terms(tr, handoff, latest)),
        section(_("Answer with the terms you can accept: another due date, what would change, or the original "
                  "terms and why they matter.")),
        *_terms_inputs(tr, handoff),
    ]
    return modal(CallbackId.COUNTER, _("Counter-proposal"), blocks, submit=_("Send"), close=_("Cancel"),
                 metadata=metadata(h=handoff.id, p=latest.number))


def _terms_inputs(tr: Translator, handoff: Handoff) -> list[Block]:
    _ = tr.gettext
    current = handoff.due_date.isoformat() if handoff.due_date else _("no due date")
    return [
        input_block(BlockId.NEW_DUE_DATE, _("New due date"), {"type": "datepicker", "action_id": ActionId.INPUT},
                    optional=True, hint=_("Leave empty to keep the due date as it is ({date}).", date=current)),
        input_block(BlockId.SCOPE, _("What would change"), text_input(
            multiline=True, max_length=DETAILS_MAX, placeholder=_("e.g. only the EU regions now, the rest later")),
            optional=True),
        input_block(BlockId.REASON, _("Why"), text_input(multiline=True, max_length=DETAILS_MAX)),
    ]
