"""Fixtures shared by every test: a migrated empty database, a fake clock, the Slack stand-in.

The database is SQLite by default (migrated once per session into a template file, copied per
test). With `TEST_DATABASE_URL=postgresql+psycopg://…/postgres` a fresh database
`handoff_test_<random>` is created on that server for the session, migrated once, emptied before
each test and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, make_url, text

from handoff_bot.clock import FakeClock
from handoff_bot.db import Database
from handoff_bot.departments.models import Admin, Department, DepartmentPerson, MemberRole
from handoff_bot.departments.standards import parse_duration
from handoff_bot.people import Profile
from tests.slack_standin import SlackStandIn, self_signed_certificate

START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # a Monday

_DURATIONS = {
    "confirm_within": "confirm_within_s", "remind_every": "remind_every_s", "complete_within": "complete_within_s",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end tests against `python app.py` and the Slack stand-in")


# --------------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def _database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | Database]:
    """SQLite: the path of a migrated template file. PostgreSQL: the session's migrated Database."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        path = tmp_path_factory.mktemp("template") / "handoff.db"
        template = Database(f"sqlite:///{path}")
        template.upgrade()
        template.dispose()
        yield path
        return
    url = make_url(server_url)
    if url.get_backend_name() != "postgresql":
        raise pytest.UsageError("TEST_DATABASE_URL must be a postgresql+psycopg:// URL")
    name = f"handoff_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(url.set(database=name).render_as_string(hide_password=False))
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db(_database_template: Path | Database, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated, empty database (`handoff_bot.db.Database`)."""
    if isinstance(_database_template, Database):
        database = _database_template
        with database.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a session left open by a test: fail, not hang
            tables = [f'"{t}"' for t in inspect(conn).get_table_names() if t != "alembic_version"]
            if tables:
                conn.execute(text(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        yield database
        return
    path = tmp_path / "handoff.db"
    shutil.copyfile(_database_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


# --------------------------------------------------------------------------- time and Slack


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing still at Monday 2026-03-02 10:00 UTC until a test moves it."""
    return FakeClock(START)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway self-signed certificate for 127.0.0.1 (its key beside it, `.key`); the tests needing
    it are skipped without the `openssl` command."""
    certificate = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    if certificate is None:
        pytest.skip("no openssl command to make a certificate for an HTTPS stand-in")
    return certificate


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    """A running Slack stand-in; the test fails if the bot sent any payload Slack would refuse."""
    with SlackStandIn() as running:
        yield running
        assert running.violations == [], "Slack would refuse these payloads:\n" + "\n".join(running.violations)


# --------------------------------------------------------------------------- people and departments


@dataclass
class StubDirectory:
    """A `handoff_bot.people.Directory` backed by a dict, for domain tests that need no Slack."""

    profiles: dict[str, Profile] = field(default_factory=dict)

    def add(
        self,
        user_id: str,
        name: str | None = None,
        *,
        tz: str = "UTC",
        locale: str = "en-US",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> Profile:
        """Know a person; returns their profile."""
        profile = Profile(user_id, name or user_id.lower(), tz, locale, is_bot, deleted)
        self.profiles[user_id] = profile
        return profile

    def profile(self, user_id: str) -> Profile | None:
        return self.profiles.get(user_id)


@pytest.fixture
def directory() -> StubDirectory:
    """An empty `StubDirectory`."""
    return StubDirectory()


def make_department(
    db: Database,
    name: str,
    members: Iterable[str] = (),
    managers: Iterable[str] = (),
    intake_channel: str | None = None,
    *,
    now: datetime = START,
    **standard: Any,
) -> int:
    """Add a department with its people straight through the ORM; returns its id.

    Args:
        db: the database.
        name: the department's unique name.
        members: user ids with the member role.
        managers: user ids with the manager role (they count as members too).
        intake_channel: the channel unassigned handoffs are posted to.
        now: its `updated_at`, and when its people were added.
        standard: the service standard as in the YAML file: `confirm_within`, `remind_every`,
            `complete_within` (durations like "4h" or seconds), `escalate_after`, `working_hours`.
    """
    columns: dict[str, Any] = {}
    for key, value in standard.items():
        if key in _DURATIONS:
            columns[_DURATIONS[key]] = value if isinstance(value, int) else parse_duration(value)
        elif key in ("escalate_after", "working_hours"):
            columns[key] = value
        else:
            raise TypeError(f"unknown standard field {key!r}")
    people = [DepartmentPerson(user_id=u, role=MemberRole.MEMBER, added_at=now) for u in members]
    people += [DepartmentPerson(user_id=u, role=MemberRole.MANAGER, added_at=now) for u in managers]
    with db.transaction() as session:
        department = Department(name=name, intake_channel=intake_channel, updated_at=now, people=people, **columns)
        session.add(department)
        session.flush()
        return department.id


def make_admin(db: Database, *user_ids: str) -> None:
    """Make users admins of the set-up."""
    with db.transaction() as session:
        session.add_all(Admin(user_id=u) for u in user_ids)


@pytest.fixture
def dept(db: Database) -> Callable[..., int]:
    """`make_department` bound to the test's database: `dept("Finance", members=["U1"])`."""
    return partial(make_department, db)
