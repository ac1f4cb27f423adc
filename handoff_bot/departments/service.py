"""Queries over departments and membership."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff_bot.departments.models import Admin, Department, DepartmentPerson, MemberRole
from handoff_bot.departments.standards import Standard


def all_departments(session: Session) -> Sequence[Department]:
    """Every department, by name."""
    return session.scalars(select(Department).order_by(Department.name)).all()


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


def is_admin(session: Session, user_id: str) -> bool:
    return session.get(Admin, user_id) is not None


def standard_of(department: Department) -> Standard:
    """The service standard a department offers."""
    return Standard(
        confirm_within_s=department.confirm_within_s,
        remind_every_s=department.remind_every_s,
        escalate_after=department.escalate_after,
        complete_within_s=department.complete_within_s,
        working_hours=department.working_hours,
    )
