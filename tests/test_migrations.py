"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from handoff_bot.db import Database, alembic_config
from handoff_bot.models import Base


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
