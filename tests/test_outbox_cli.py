"""`python -m handoff_bot outbox list|retry`: dead notices are visible and can be sent again."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handoff_bot.__main__ import main
from handoff_bot.clock import FakeClock
from handoff_bot.db import Database
from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState
from handoff_bot.outbox.service import enqueue


@pytest.fixture
def env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("DATABASE_URL", db.url)
    return db


def notices(db: Database, clock: FakeClock) -> tuple[int, int]:
    with db.transaction() as session:
        dead = enqueue(session, NoticeKind.EPHEMERAL, "U0DEAD", clock.now(), text="x")
        dead.state, dead.attempts, dead.last_error = OutboxState.DEAD, 8, "channel_not_found"
        waiting = enqueue(session, NoticeKind.EPHEMERAL, "U0WAIT", clock.now(), text="y")
        session.flush()
        return dead.id, waiting.id


def test_list_shows_dead_notices_first_with_their_error(env: Database, clock: FakeClock,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "list"]) == 0
    assert "Nothing waits in the outbox." in capsys.readouterr().out
    dead, waiting = notices(env, clock)
    assert main(["outbox", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == [str(dead), "dead", "8"] and "channel_not_found" in lines[1]
    assert lines[2].split()[:2] == [str(waiting), "pending"]


def test_retry_requeues_dead_notices_only(env: Database, clock: FakeClock,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    dead, waiting = notices(env, clock)
    assert main(["outbox", "retry", str(waiting)]) == 2  # not dead: nothing to retry
    assert main(["outbox", "retry"]) == 0
    assert "1 dead notices requeued" in capsys.readouterr().out
    with env.transaction() as session:
        again = session.get(OutboxMessage, dead)
        assert (again.state, again.attempts) == (OutboxState.PENDING, 0)
        assert again.next_attempt_at <= datetime.now(timezone.utc)  # due at once


def test_retry_says_which_ids_are_unknown_and_which_are_not_dead(env: Database, clock: FakeClock,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    dead, waiting = notices(env, clock)
    assert main(["outbox", "retry", "99999"]) == 2
    assert capsys.readouterr().err == ("0 of 1 notices requeued; no notice has the id 99999 "
                                       "(see `outbox list --all`).\n")
    assert main(["outbox", "retry", str(dead), str(waiting), "99999"]) == 0
    assert capsys.readouterr().out == ("1 of 3 notices requeued; no notice has the id 99999; 1 is not dead "
                                       "(see `outbox list --all`).\n")
