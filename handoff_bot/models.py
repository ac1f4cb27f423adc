"""Every table, imported in one place so that `Base.metadata` is complete."""

from handoff_bot.db import Base
from handoff_bot.departments.models import Admin, Department, DepartmentPerson, PairStandard
from handoff_bot.followups.models import Followup
from handoff_bot.handoffs.models import Handoff, HandoffEvent, KeyPoint, Question, UnderstandingRound
from handoff_bot.outbox.models import OutboxMessage, SlackMessage
from handoff_bot.people import SlackUser

__all__ = [
    "Admin", "Base", "Department", "DepartmentPerson", "Followup", "Handoff", "HandoffEvent", "KeyPoint",
    "OutboxMessage", "PairStandard", "Question", "SlackMessage", "SlackUser", "UnderstandingRound",
]
