"""Every table, imported in one place so that `Base.metadata` is complete."""

from handoff_bot.db import Base
from handoff_bot.departments.models import Admin, Department, DepartmentPerson, PairStandard
from handoff_bot.digests.models import DigestSent
from handoff_bot.followups.models import Followup
from handoff_bot.handoffs.models import Handoff, HandoffEvent, KeyPoint, Proposal, Question, UnderstandingRound
from handoff_bot.outbox.models import HomeTab, OutboxMessage, SlackMessage
from handoff_bot.people import SlackUser

__all__ = [
    "Admin", "Base", "Department", "DepartmentPerson", "DigestSent", "Followup", "Handoff", "HandoffEvent",
    "HomeTab", "KeyPoint",
    "OutboxMessage", "PairStandard", "Proposal", "Question", "SlackMessage", "SlackUser", "UnderstandingRound",
]
