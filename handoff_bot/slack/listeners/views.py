"""Modal submissions: validate, record, and answer with field errors when something is wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.orm import Session

from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.lifecycle import ActionRefused
from handoff_bot.handoffs.models import Priority, ProposalKind, QuestionKind, Relationship
from handoff_bot.handoffs.service import Draft, FieldError, InvalidInput, Terms
from handoff_bot.i18n import translator
from handoff_bot.people import KnownProfiles
from handoff_bot.slack.blocks import replies
from handoff_bot.slack.context import SlackContext
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId


class Form:
    """The values of a submitted modal, read defensively: a missing or odd field reads as empty."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.values: dict[str, Any] = (view.get("state") or {}).get("values") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        self.meta: dict[str, Any] = meta if isinstance(meta, dict) else {}
        self.block_ids = [b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"]
        self.profiles = KnownProfiles({})
        view_id = view.get("id")
        self.view_id = view_id[:32] if isinstance(view_id, str) and view_id else None

    def _element(self, block_id: str) -> dict[str, Any]:
        element = (self.values.get(block_id) or {}).get(ActionId.INPUT) or {}
        return element if isinstance(element, dict) else {}

    def text(self, block_id: str) -> str:
        value = self._element(block_id).get("value")
        return value if isinstance(value, str) else ""

    def choice(self, block_id: str) -> str | None:
        option = self._element(block_id).get("selected_option") or {}
        value = option.get("value") if isinstance(option, dict) else None
        return value if isinstance(value, str) else None

    def user(self, block_id: str) -> str | None:
        value = self._element(block_id).get("selected_user")
        return value if isinstance(value, str) and re.fullmatch(r"[UW][A-Z0-9]+", value) else None

    def date(self, block_id: str) -> date | str | None:
        """The picked date, None when empty, or `"invalid"`."""
        value = self._element(block_id).get("selected_date")
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            return "invalid"

    def number(self, key: str) -> int | None:
        """A whole number ≥ 0 from the form's private metadata; None when absent or anything else."""
        value = self.meta.get(key)
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
        return value if ok else None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 10 else None


def _enum(cls: Any, text: str | None, default: Any) -> Any:
    try:
        return cls(text) if text else default
    except ValueError:
        return default


def register(app: App, ctx: SlackContext) -> None:
    def submit(ack: Ack, body: dict[str, Any], work: Callable[[Session, Form, str], Any]) -> None:
        """Run `work` in a transaction; close the modal on success, show errors on the fields otherwise."""
        user_id = body["user"]["id"]
        form = Form(body.get("view") or {})
        # People are looked up before the transaction (a lookup may call Slack or write the cache), once
        # each and in parallel: a slow Slack costs this answer one bounded wait at most.
        people = ctx.directory.profiles(u for u in (user_id, form.user(BlockId.RECIPIENT)) if u)
        form.profiles = KnownProfiles(people)
        tr = translator(profile.locale if (profile := people[user_id]) else None)
        try:
            ctx.run(lambda session: work(session, form, user_id))
        except InvalidInput as invalid:
            errors: dict[str, str] = {}
            for error in invalid.errors:
                block_id = error.field if error.field in form.block_ids else (form.block_ids or [error.field])[0]
                errors.setdefault(block_id, replies.field_error(tr, error))
            ack(response_action="errors", errors=errors)
            return
        except ActionRefused as refusal:
            first = form.block_ids[0] if form.block_ids else "error"
            ack(response_action="errors", errors={first: ctx.plain_mentions(replies.refusal(tr, refusal, user_id))})
            return
        ack()

    def new_handoff(session: Session, form: Form, user_id: str) -> None:
        due = form.date(BlockId.DUE_DATE)
        if due == "invalid":
            raise InvalidInput([FieldError("due_date", "invalid_date")])
        department_text = form.choice(BlockId.DEPARTMENT)
        department_id = _int(department_text)
        if department_text and department_id is None:
            raise InvalidInput([FieldError("department", "unknown")])
        draft = Draft(
            requester_id=user_id,
            department_id=department_id,
            recipient_id=form.user(BlockId.RECIPIENT),
            title=form.text(BlockId.TITLE),
            details=form.text(BlockId.DETAILS),
            key_points=form.text(BlockId.KEY_POINTS),
            due_date=due if isinstance(due, date) else None,
            relation=_enum(Relationship, form.choice(BlockId.RELATION), Relationship.FUNCTIONAL),
            priority=_enum(Priority, form.choice(BlockId.PRIORITY), Priority.NORMAL),
            from_department_id=_int(form.choice(BlockId.FROM_DEPARTMENT)),
            source_view_id=form.view_id,
        )
        handoffs.create(session, draft, directory=form.profiles, now=ctx.clock.now())

    def restate(session: Session, form: Form, user_id: str) -> None:
        handoff_id, round_number, count = form.number("h"), form.number("r"), form.number("n") or 0
        if handoff_id is None or round_number is None or not 0 < count <= handoffs.KEY_POINTS_MAX:
            raise InvalidInput([FieldError("point_1", "stale_form")])
        texts = [form.text(BlockId.point(i)) for i in range(1, count + 1)]
        handoffs.restate(session, handoff_id, user_id, texts, ctx.clock.now(), rounds_seen=round_number)

    def clarify(session: Session, form: Form, user_id: str) -> None:
        handoff_id, round_number = form.number("h"), form.number("r")
        if handoff_id is None or round_number is None:
            raise InvalidInput([FieldError("clarification", "stale_form")])
        handoffs.clarify(session, handoff_id, round_number, user_id, form.text(BlockId.CLARIFICATION),
                         ctx.clock.now())

    def ask(session: Session, form: Form, user_id: str) -> None:
        handoff_id = form.number("h")
        if handoff_id is None:
            raise InvalidInput([FieldError("question", "stale_form")])
        kind = _enum(QuestionKind, form.choice(BlockId.QUESTION_KIND), QuestionKind.OPEN)
        handoffs.ask(session, handoff_id, user_id, kind, form.text(BlockId.QUESTION), ctx.clock.now())

    def answer(session: Session, form: Form, user_id: str) -> None:
        question_id = form.number("q")
        if question_id is None:
            raise InvalidInput([FieldError("answer", "stale_form")])
        handoffs.answer(session, question_id, user_id, form.text(BlockId.ANSWER), ctx.clock.now())

    def rate(session: Session, form: Form, user_id: str) -> None:
        handoff_id = form.number("h")
        if handoff_id is None:
            raise InvalidInput([FieldError("rating", "stale_form")])
        choice = form.choice(BlockId.RATING)
        rating = None if choice is None else _int(choice) or 0  # 0: something that is not a rating
        handoffs.rate(session, handoff_id, user_id, rating, form.text(BlockId.COMMENT), ctx.clock.now())

    works: dict[str, Callable[[Session, Form, str], Any]] = {}

    def on(callback_id: CallbackId, work: Callable[[Session, Form, str], Any]) -> None:
        works[callback_id] = work

    def reassign(session: Session, form: Form, user_id: str) -> None:
        handoff_id = form.number("h")
        if handoff_id is None:
            raise InvalidInput([FieldError("recipient", "stale_form")])
        seen = form.meta.get("r")
        handoffs.reassign(session, handoff_id, user_id, form.user(BlockId.RECIPIENT), ctx.clock.now(),
                          directory=form.profiles, seen=seen if isinstance(seen, str) else None)

    def offer(session: Session, form: Form, user_id: str, *, answering: bool) -> None:
        """The recipient's proposal (or decline), or the requester's counter-proposal (`answering`)."""
        handoff_id, seen = form.number("h"), form.number("p")
        if handoff_id is None or seen is None:
            raise InvalidInput([FieldError("reason", "stale_form")])
        due = form.date(BlockId.NEW_DUE_DATE)
        if due == "invalid":
            raise InvalidInput([FieldError("new_due_date", "invalid_date")])
        terms = Terms(_enum(ProposalKind, form.choice(BlockId.PROPOSAL_KIND), ProposalKind.CHANGE),
                      form.text(BlockId.REASON), due if isinstance(due, date) else None, form.text(BlockId.SCOPE),
                      form.view_id)
        if answering:
            handoffs.counter(session, handoff_id, user_id, terms, ctx.clock.now(), directory=form.profiles, seen=seen)
        else:
            negotiating = form.number("n")
            handoffs.propose(session, handoff_id, user_id, terms, ctx.clock.now(), directory=form.profiles, seen=seen,
                             seen_negotiating=None if negotiating is None else bool(negotiating))

    on(CallbackId.NEW, new_handoff)
    on(CallbackId.PROPOSE, lambda session, form, user_id: offer(session, form, user_id, answering=False))
    on(CallbackId.COUNTER, lambda session, form, user_id: offer(session, form, user_id, answering=True))
    on(CallbackId.REASSIGN, reassign)
    on(CallbackId.RESTATE, restate)
    on(CallbackId.CLARIFY, clarify)
    on(CallbackId.ASK, ask)
    on(CallbackId.ANSWER, answer)
    on(CallbackId.RATE, rate)

    def submitted(ack: Ack, body: dict[str, Any]) -> None:
        # One listener for every form (see `actions.register`): told apart here, with one lookup.
        view = body.get("view")
        callback_id = view.get("callback_id") if isinstance(view, dict) else None
        work = works.get(callback_id) if isinstance(callback_id, str) else None
        if work is None:
            ack()
            return
        submit(ack, body, work)

    def closed(ack: Ack) -> None:
        ack()

    app.view(re.compile(".*"))(submitted)
    app.view_closed(re.compile(".*"))(closed)
