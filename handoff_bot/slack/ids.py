"""Every Slack id the bot uses, shared by the Block Kit builders and the listeners."""

from __future__ import annotations

import enum


class ActionId(enum.StrEnum):
    CLAIM = "handoff_claim"
    CONFIRM_UNDERSTANDING = "handoff_confirm_understanding"
    ASK = "handoff_ask"
    ACCEPT = "handoff_accept"
    CLARIFY = "handoff_clarify"
    ANSWER = "handoff_answer"
    MARK_DONE = "handoff_mark_done"
    RATE = "handoff_rate"
    CANCEL = "handoff_cancel"
    NUDGE = "handoff_nudge"
    REASSIGN = "handoff_reassign"
    PROPOSE = "handoff_propose"  # the recipient: propose a change or decline (value: the handoff id)
    COUNTER = "handoff_counter"  # the requester: answer a proposal with other terms (value: handoff:proposal)
    AGREE = "handoff_agree"      # either side: accept the other's latest proposal (value: handoff:proposal)
    HOME_PREVIOUS = "handoff_home_previous"  # value: the page to show (0 is the first)
    HOME_NEXT = "handoff_home_next"
    HOME_DIGEST = "handoff_home_digest"  # a manager asks for this week's digest so far, by DM
    INPUT = "value"  # the single element inside each input block


class CallbackId(enum.StrEnum):
    NEW = "handoff_new"
    RESTATE = "handoff_restate"
    CLARIFY = "handoff_clarify"
    ASK = "handoff_ask"
    ANSWER = "handoff_answer"
    RATE = "handoff_rate"
    REASSIGN = "handoff_reassign"
    PROPOSE = "handoff_propose"
    COUNTER = "handoff_counter"


class BlockId(enum.StrEnum):
    DEPARTMENT = "department"
    RECIPIENT = "recipient"
    TITLE = "title"
    DETAILS = "details"
    KEY_POINTS = "key_points"
    DUE_DATE = "due_date"
    RELATION = "relation"
    PRIORITY = "priority"
    FROM_DEPARTMENT = "from_department"
    CLARIFICATION = "clarification"
    QUESTION_KIND = "question_kind"
    QUESTION = "question"
    ANSWER = "answer"
    RATING = "rating"
    COMMENT = "comment"
    PROPOSAL_KIND = "proposal_kind"
    NEW_DUE_DATE = "new_due_date"
    SCOPE = "scope"
    REASON = "reason"
    ACTIONS = "actions"

    @staticmethod
    def point(number: int) -> str:
        """The input block of the restatement of key point `number` (1-based)."""
        return f"point_{number}"
