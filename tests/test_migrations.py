"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from handoff_bot.clock import FakeClock
from handoff_bot.db import Database, alembic_config
from handoff_bot.departments.models import DepartmentPerson
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import ProposalKind
from handoff_bot.models import Base
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState
from tests.conftest import START, StubDirectory, make_department


def test_the_migrated_schema_equals_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_migrations_go_down_and_up_again(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/roundtrip.db")
    try:
        database.upgrade()
        with database.engine.connect() as conn:
            cfg = alembic_config(database.url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            conn.commit()
            assert inspect(conn).get_table_names() == ["alembic_version"]
        database.upgrade()
        assert set(inspect(database.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        database.dispose()


def test_going_down_keeps_the_handoffs_and_what_belongs_to_them(db: Database, clock: FakeClock) -> None:
    """Rebuilding a table on SQLite must not cascade into its children; what 0001 cannot read goes."""
    finance = make_department(db, "Finance", members=["UREC"])
    people = StubDirectory()
    people.add("UREC")
    people.add("UREQ")
    now = clock.now()
    with db.transaction() as session:
        draft = handoffs.Draft(requester_id="UREQ", department_id=finance, title="t", recipient_id="UREC",
                               key_points="a\nb")
        handoff_id = handoffs.create(session, draft, directory=people, now=now).id
    with db.transaction() as session:
        terms = handoffs.Terms(ProposalKind.CHANGE, "Busy", scope="Half of it")
        handoffs.propose(session, handoff_id, "UREC", terms, now, directory=people)
    before = _counts(db)
    with db.engine.connect() as conn:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        conn.commit()
    after = _counts(db)
    assert {t: after[t] for t in ("handoff", "key_point", "handoff_event")} == {
        t: before[t] for t in ("handoff", "key_point", "handoff_event")}
    assert before["key_point"] == 2
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT state FROM handoff")).scalar() == "sent"  # no longer negotiating
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'proposal'")).scalar() == 0
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET state = 'sent'"))
    db.upgrade()
    assert _counts(db)["key_point"] == 2
    # Going up again, the messages of open handoffs are queued for an update (their cards get the new button).
    with db.transaction() as session:
        refreshes = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == NoticeKind.REFRESH,
                                                                OutboxMessage.state == OutboxState.PENDING)).all()
        assert [(m.handoff_id, m.target, m.params) for m in refreshes] == [(handoff_id, "UREQ", {})]
        assert abs(refreshes[0].next_attempt_at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_going_up_dates_the_people_already_in_a_department_by_its_first_trace(db: Database) -> None:
    """0003 records when each person took their place; for those already there it takes the earliest
    moment known of their department: its last change or its first handoff (sent or received)."""
    day = timedelta(days=1)
    sales = make_department(db, "Sales", members=["UREQ"], now=START - day)
    finance = make_department(db, "Finance", members=["UREC"], managers=["UFIN"], now=START + 7 * day)
    make_department(db, "Legal", managers=["ULEGAL"], now=START + 3 * day)  # no handoffs
    people = StubDirectory()
    people.add("UREC")
    people.add("UREQ")
    with db.transaction() as session:
        draft = handoffs.Draft(requester_id="UREQ", department_id=finance, title="t", recipient_id="UREC",
                               key_points="a")
        assert handoffs.create(session, draft, directory=people, now=START).from_department_id == sales
    with db.engine.connect() as conn:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
        conn.commit()
        assert "added_at" not in {c["name"] for c in inspect(conn).get_columns("department_person")}
    db.upgrade()
    with db.transaction() as session:
        added = dict(session.execute(select(DepartmentPerson.user_id, DepartmentPerson.added_at)).all())
    assert added == {"UREQ": START - day, "UREC": START, "UFIN": START, "ULEGAL": START + 3 * day}


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0
                for t in ("handoff", "key_point", "handoff_event", "followup", "outbox")}


def test_sqlite_is_not_migrated_inside_a_transaction_where_foreign_keys_cannot_be_turned_off(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/shared.db")
    try:
        database.upgrade()
        with pytest.raises(RuntimeError, match="outside any transaction"), database.engine.begin() as conn:
            cfg = alembic_config(database.url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()
