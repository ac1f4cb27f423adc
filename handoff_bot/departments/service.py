"""Queries over departments and membership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole, PairStandard
from handoff_bot.departments.standards import Standard

# The columns of a pair standard that override the receiving department's standard, by `Standard` field.
PAIR_OVERRIDES = ("confirm_within_s", "remind_every_s", "escalate_after", "complete_within_s", "working_hours")


def all_departments(session: Session) -> Sequence[Department]:
    """Every department, by name."""
    return session.scalars(select(Department).order_by(Department.name)).all()


class Choice(NamedTuple):
    """A department as the new-handoff form offers it."""

    id: int
    name: str


def choices(session: Session, user_id: str) -> tuple[list[Choice], list[Choice]]:
    """Every department and those `user_id` belongs to, each by name: what the form `/handoff` opens
    offers, read in one query of two columns (it is read for every form)."""
    belongs = select(DepartmentPerson.id).where(
        DepartmentPerson.department_id == Department.id, DepartmentPerson.user_id == user_id).exists()
    rows = session.execute(select(Department.id, Department.name, belongs).order_by(Department.name)).all()
    return [Choice(i, name) for i, name, _ in rows], [Choice(i, name) for i, name, own in rows if own]


def departments_of(session: Session, user_id: str) -> Sequence[Department]:
    """The departments a user belongs to (as member or manager), by name."""
    return session.scalars(
        select(Department).join(DepartmentPerson)
        .where(DepartmentPerson.user_id == user_id).distinct().order_by(Department.name)
    ).all()


def managed_by(session: Session, user_id: str) -> Sequence[Department]:
    """The departments a user manages, by name."""
    return session.scalars(
        select(Department).join(DepartmentPerson)
        .where(DepartmentPerson.user_id == user_id, DepartmentPerson.role == MemberRole.MANAGER)
        .order_by(Department.name)
    ).all()


def is_member(session: Session, department_id: int, user_id: str) -> bool:
    """Whether `user_id` belongs to the department, as member or manager."""
    return session.scalar(
        select(DepartmentPerson.id).where(
            DepartmentPerson.department_id == department_id, DepartmentPerson.user_id == user_id
        ).limit(1)
    ) is not None


def managers(session: Session, department_id: int) -> list[str]:
    """The managers' user ids of a department."""
    return list(session.scalars(
        select(DepartmentPerson.user_id).where(
            DepartmentPerson.department_id == department_id, DepartmentPerson.role == MemberRole.MANAGER
        ).order_by(DepartmentPerson.id)
    ))


def people(session: Session, department_id: int) -> list[str]:
    """The user ids of a department's members and managers."""
    return list(session.scalars(
        select(DepartmentPerson.user_id).where(DepartmentPerson.department_id == department_id)
        .distinct().order_by(DepartmentPerson.user_id)
    ))


def standard_of(department: Department) -> Standard:
    """The service standard a department offers, with the country whose holidays it keeps."""
    return Standard(
        confirm_within_s=department.confirm_within_s,
        remind_every_s=department.remind_every_s,
        escalate_after=department.escalate_after,
        complete_within_s=department.complete_within_s,
        working_hours=department.working_hours,
        holiday_country=department.holiday_country,
    )


def standard_for(session: Session, from_department_id: int | None, to_department: Department) -> tuple[Standard, bool]:
    """The service standard that applies to a handoff from one department to another.

    The receiving department's standard, with the overrides of the pair standard agreed for
    `from_department_id` → `to_department` on top (the holiday country is always the receiving
    department's).

    Args:
        session: the transaction to read in.
        from_department_id: the requester's department, or None when the requester has none.
        to_department: the department receiving the handoff.

    Returns:
        The effective standard, and whether a pair standard applied: True when one is agreed for
        the pair and overrides at least one value.
    """
    standard = standard_of(to_department)
    if from_department_id is None:
        return standard, False
    pair = pair_standard(session, from_department_id, to_department.id)
    if pair is None:
        return standard, False
    overrides = {name: value for name in PAIR_OVERRIDES if (value := getattr(pair, name)) is not None}
    return replace(standard, **overrides), bool(overrides)


def pair_standard(session: Session, from_department_id: int, to_department_id: int) -> PairStandard | None:
    """The pair standard agreed for handoffs from one department to another, if any."""
    return session.scalar(select(PairStandard).where(
        PairStandard.from_department_id == from_department_id, PairStandard.to_department_id == to_department_id,
    ))


def all_pair_standards(session: Session) -> Sequence[PairStandard]:
    """Every pair standard, by the sending department's name, then the receiving one's."""
    sender, receiver = aliased(Department), aliased(Department)
    return session.scalars(
        select(PairStandard)
        .join(sender, PairStandard.from_department_id == sender.id)
        .join(receiver, PairStandard.to_department_id == receiver.id)
        .order_by(sender.name, receiver.name)
    ).all()
