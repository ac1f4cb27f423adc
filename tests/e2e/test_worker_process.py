"""The worker process `python app.py` forks: it does the work requests start and the outbox, and
neither outlives nor strands the other."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal
import time
from pathlib import Path

import pytest

from handoff_bot.outbox.models import NoticeKind, OutboxState
from handoff_bot.slack.ids import ActionId, CallbackId
from handoff_bot.slack.worker import WorkerProcess
from tests.e2e.conftest import CARD_BUTTONS, E2E, OUTSIDER, RECIPIENT, REQUESTER, http_get, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")]
WORKER_THREADS = inspect.signature(WorkerProcess).parameters["threads"].default


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found if alive(int(child))]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def readiness(e2e: E2E) -> dict[str, object]:
    status, body = http_get(e2e.app.url + "/readyz")
    return {"status": status, **json.loads(body)}


def worker_of(e2e: E2E) -> int:
    wait_until(lambda: len(children(e2e.app.proc.pid)) == 1, what="one worker process")
    return children(e2e.app.proc.pid)[0]



def test_the_work_requests_start_is_done_by_a_worker_at_a_lower_priority(e2e: E2E) -> None:
    worker = worker_of(e2e)
    assert os.getpriority(os.PRIO_PROCESS, worker) == os.getpriority(os.PRIO_PROCESS, e2e.app.proc.pid) + 10
    assert readiness(e2e)["worker"] == "running"

    e2e.submit_new(e2e.open_new_form(), recipient=RECIPIENT)  # the form opened after the ack
    card = e2e.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
    e2e.click(OUTSIDER, ActionId.CONFIRM_UNDERSTANDING, card)  # refused after the ack, beside the click
    assert len(e2e.wait_ephemerals(OUTSIDER, 1)) == 1
    e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card)  # the modal opened after the ack
    e2e.wait_view(CallbackId.RESTATE)
    # The worker delivered card and receipt (and the manager's digest); /metrics counts them.
    e2e.wait_outbox_idle()
    sent = len([m for m in e2e.outbox() if m.state is OutboxState.SENT])
    assert sent >= 2
    wait_until(lambda: f"handoff_outbox_delivered_total {sent:.1f}" in http_get(e2e.app.url + "/metrics")[1],
               what=f"/metrics to count the worker's {sent} deliveries")

    assert e2e.app.stop() == 0
    wait_until(lambda: not alive(worker), what="the worker to exit with the app")


def test_when_the_worker_dies_the_app_does_the_work_itself(e2e: E2E) -> None:
    os.kill(worker_of(e2e), signal.SIGKILL)
    wait_until(lambda: readiness(e2e).get("worker") == "gone (this process does its work)",
               what="/readyz to report the worker gone")
    assert readiness(e2e)["status"] == 200  # the app still does all its work

    form = e2e.open_new_form()
    e2e.submit_new(form, recipient=RECIPIENT)
    card = e2e.wait_message(RECIPIENT, "New handoff", with_buttons=CARD_BUTTONS)
    e2e.click(RECIPIENT, ActionId.CONFIRM_UNDERSTANDING, card)
    e2e.wait_view(CallbackId.RESTATE)  # and the card above was delivered by this process's outbox worker
    assert "the worker process exited" in e2e.app.output()
    assert e2e.handoff().requester_id == REQUESTER


def test_a_killed_app_leaves_no_worker_behind(e2e: E2E) -> None:
    worker = worker_of(e2e)
    e2e.app.kill()
    wait_until(lambda: not alive(worker), what="the worker to die with the app")


def test_jobs_the_worker_had_not_finished_when_it_died_are_done_by_the_app(e2e: E2E) -> None:
    worker = worker_of(e2e)
    e2e.standin.delay("views.open", 3.0)  # every worker thread busy with a form Slack is slow to open
    for _ in range(WORKER_THREADS + 1):
        assert e2e.slack.command(REQUESTER).status == 200
    e2e.standin.wait_for(lambda _: e2e.views_opened() == WORKER_THREADS, 10)
    e2e.standin.delay("views.open", 0)
    os.kill(worker, signal.SIGKILL)  # one form still waits for a thread

    def opened() -> int:
        return len([c for c in e2e.standin.calls_to("views.open") if c.ok])

    e2e.standin.wait_for(lambda _: opened() == WORKER_THREADS + 1, 10)  # the last one by the app itself
    e2e.standin.wait_for(lambda _: len(e2e.standin.calls_to("views.open")) == 2 * WORKER_THREADS + 1, 10)
    assert opened() == WORKER_THREADS + 1
    # The forms tried again had opened already: nobody is told otherwise.
    assert e2e.standin.calls_to("response_url") == [] and e2e.ephemerals(REQUESTER) == []


def test_a_form_the_worker_had_begun_when_it_died_is_not_reported_failed_however_late(e2e: E2E) -> None:
    worker = worker_of(e2e)
    e2e.standin.delay("views.open", 6.0)  # Slack takes the form, and is slow to say so
    sent = time.monotonic()
    assert e2e.slack.command(REQUESTER).status == 200
    e2e.standin.wait_for(lambda _: e2e.views_opened() == 1, 10)
    e2e.standin.delay("views.open", 0)
    time.sleep(max(0.0, sent + 3.5 - time.monotonic()))  # the app's clock is the system's: past the 3 s
    os.kill(worker, signal.SIGKILL)

    e2e.standin.wait_for(lambda _: e2e.views_opened() == 2, 10)  # done again by the app, though late
    again = e2e.standin.calls_to("views.open", include_faults=True)[1]
    assert again.response is not None and again.response["error"] == "exchanged_trigger_id"
    assert e2e.standin.calls_to("response_url") == []  # the form is open: nobody is told otherwise


def test_a_worker_that_falls_behind_holds_up_no_ack_and_every_form_is_answered(e2e: E2E) -> None:
    worker = worker_of(e2e)
    os.kill(worker, signal.SIGSTOP)  # the worker gets no CPU: its pipe fills and stays full
    try:
        commands = 200  # their jobs are several times what the pipe holds
        for _ in range(commands):
            assert e2e.slack.command(REQUESTER).status == 200
        assert readiness(e2e)["jobs_unfinished"] == commands  # the backlog shows, in /readyz and /metrics
        assert f"handoff_jobs_unfinished {commands:.1f}" in http_get(e2e.app.url + "/metrics")[1]
    finally:
        os.kill(worker, signal.SIGCONT)

    def answered() -> int:  # a form opened, or its user told to type /handoff again
        told = [c for c in e2e.standin.calls_to("response_url")
                if str(c.params.get("text")).endswith("Please type /handoff again.")]
        return len([c for c in e2e.standin.calls_to("views.open") if c.ok]) + len(told)

    e2e.standin.wait_for(lambda _: answered() >= commands, 30)
    assert answered() == commands
    wait_until(lambda: readiness(e2e)["jobs_unfinished"] == 0, what="the worker to report every job done")


def test_an_app_stopped_with_work_its_worker_had_not_done_tells_those_users_to_try_again(e2e: E2E) -> None:
    worker = worker_of(e2e)
    os.kill(worker, signal.SIGSTOP)  # a worker that does nothing more: stopping kills it after 8 s
    try:
        for _ in range(5):
            assert e2e.slack.command(REQUESTER).status == 200
        assert e2e.app.stop(timeout=15) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGCONT)
    assert "the app stops with 5 jobs not done" in e2e.app.output()
    told = [m for m in e2e.outbox() if m.kind is NoticeKind.EPHEMERAL and m.target == REQUESTER]
    assert len(told) == 5 and all(m.state is OutboxState.PENDING for m in told)  # sent once the app runs again
