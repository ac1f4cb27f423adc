"""Every table, imported in one place so that `Base.metadata` is complete."""

from handoff_bot.db import Base
from handoff_bot.departments.models import Admin, Department, DepartmentPerson
from handoff_bot.handoffs.models import Handoff, HandoffEvent, KeyPoint, Question, UnderstandingRound
from handoff_bot.outbox.models import OutboxMessage, SlackMessage
from handoff_bot.slack.users import SlackUser

__all__ = [
    "Admin", "Base", "Department", "DepartmentPerson", "Handoff", "HandoffEvent", "KeyPoint",
    "OutboxMessage", "Question", "SlackMessage", "SlackUser", "UnderstandingRound",
]
