"""Tables for departments and the people in them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff_bot.db import Base, str_enum


class MemberRole(enum.StrEnum):
    MEMBER = "member"
    MANAGER = "manager"


class Department(Base):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    intake_channel: Mapped[str | None] = mapped_column(String(32))
    confirm_within_s: Mapped[int] = mapped_column(default=4 * 3600)
    remind_every_s: Mapped[int] = mapped_column(default=4 * 3600)
    escalate_after: Mapped[int] = mapped_column(default=2)
    complete_within_s: Mapped[int] = mapped_column(default=3 * 86400)
    working_hours: Mapped[str] = mapped_column(String(64), default="Mon-Fri 09:00-18:00")
    holiday_country: Mapped[str | None] = mapped_column(String(8))  # ISO code known to the `holidays` package
    # When its managers get the weekly digest, in each manager's own time zone (mon…sun, "HH:MM").
    digest_day: Mapped[str] = mapped_column(String(3), default="mon")
    digest_time: Mapped[str] = mapped_column(String(5), default="09:00")
    updated_at: Mapped[datetime]

    people: Mapped[list[DepartmentPerson]] = relationship(
        back_populates="department", cascade="all, delete-orphan", order_by="DepartmentPerson.id"
    )


class DepartmentPerson(Base):
    """A Slack user's place in a department: member or manager (a manager may also be a member).

    `added_at` is when they took this place: an import that keeps them keeps it, one that takes the place
    away and a later one that gives it back start anew. A manager's weekly digest covers no week that had
    ended before the earliest `added_at` of their manager places.
    """

    __tablename__ = "department_person"
    __table_args__ = (UniqueConstraint("department_id", "user_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole))
    added_at: Mapped[datetime]

    department: Mapped[Department] = relationship(back_populates="people")


class PairStandard(Base):
    """A service standard agreed between two departments: overrides for handoffs from one to the other.

    Each override left None is inherited from the receiving (`to`) department's own standard.
    """

    __tablename__ = "pair_standard"
    __table_args__ = (UniqueConstraint("from_department_id", "to_department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    from_department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    to_department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"))
    confirm_within_s: Mapped[int | None]
    remind_every_s: Mapped[int | None]
    escalate_after: Mapped[int | None]
    complete_within_s: Mapped[int | None]
    working_hours: Mapped[str | None] = mapped_column(String(64))

    from_department: Mapped[Department] = relationship(foreign_keys=[from_department_id])
    to_department: Mapped[Department] = relationship(foreign_keys=[to_department_id])


class Admin(Base):
    """Slack users who may change the set-up."""

    __tablename__ = "admin"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
