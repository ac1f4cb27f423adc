"""Work started by a request waits for the request's answer, and a failure in it is told to the user."""

from __future__ import annotations

import threading

from handoff_bot.slack.after_response import AfterResponse
from tests.slack.conftest import REQUESTER, Bot


def test_work_submitted_while_answering_starts_once_the_answer_is_out() -> None:
    executor = AfterResponse(workers=2)
    ran = threading.Event()
    try:
        with executor.answering():
            executor.submit(ran.set)
            assert not executor.wait_idle(0.2), "the work ran before the answer was out"
            assert not ran.is_set()
        assert executor.wait_idle(5)
        assert ran.is_set()
    finally:
        executor.shutdown()


def test_work_submitted_outside_a_request_starts_at_once() -> None:
    executor = AfterResponse(workers=1)
    ran = threading.Event()
    try:
        executor.submit(ran.set)
        assert executor.wait_idle(5) and ran.is_set()
    finally:
        executor.shutdown()


def test_when_every_worker_is_busy_the_work_runs_in_the_answering_thread_instead_of_waiting() -> None:
    executor = AfterResponse(workers=1)
    release_worker = threading.Event()
    ran_in: list[threading.Thread] = []
    try:
        executor.submit(release_worker.wait, 5)
        with executor.answering():
            executor.submit(lambda: ran_in.append(threading.current_thread()))
        assert ran_in == [threading.current_thread()]  # done by the time the answer's thread moves on
    finally:
        release_worker.set()
        executor.shutdown()


def test_a_failure_after_the_ack_is_logged_and_the_user_is_told(bot: Bot) -> None:
    def broken() -> None:
        raise RuntimeError("the database went away")

    bot.runtime.ctx.jobs["broken"] = lambda _payload: broken()
    bot.runtime.ctx.later(REQUESTER, "C0GENERAL", "broken", {})
    assert bot.runtime.after_response.wait_idle(5)
    assert bot.ephemerals(REQUESTER) == [
        "Something went wrong on our side and nothing was changed. Please try again in a moment."]
