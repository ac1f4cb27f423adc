"""The worker process: everything `python app.py` does besides answering Slack's requests.

`python app.py` forks it at start-up, before any thread or database connection exists, and runs it
at a lower CPU priority. The web process answers Slack; the worker does

- the jobs requests start (`SlackContext.later`: open the form, a click's state change, the Home
  tab, an export), which the web process writes down a pipe once the answer is out, or, when that
  could block (the worker is behind and the pipe full), leaves to a thread of its own: no request
  waits for the worker;
- the background work: the outbox worker, the follow-up and digest jobs.

So none of that competes with the acks for the interpreter lock, and when the cores are short the
kernel serves the acks first. A commit in the web process (a submission) wakes the worker's outbox
worker through a pipe that never blocks; the worker reports each job done and its counts
(deliveries, follow-ups, digests, for `/metrics`) through a third pipe.

A SIGKILL of the web process kills the worker too (as it killed a single process). If the worker
dies alone, the web process logs it, does again the jobs the worker had not reported done, and
takes all of its work over.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import itertools
import logging
import os
import queue
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from handoff_bot.i18n import N_
from handoff_bot.metrics import Metrics
from handoff_bot.outbox.models import NoticeKind
from handoff_bot.outbox.service import enqueue
from handoff_bot.slack.context import Job, SlackContext, unstamped

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
Background = Callable[[], Callable[[], None]]  # starts the background work, returns what stops it


class WorkerProcess:
    """A forked child doing `ctx`'s jobs and the `background` work.

    Args:
        ctx: the listeners' context; its `wake` wakes the outbox worker of the process it runs in.
        metrics: the web process's metrics, which the worker's counts are added to.
        background: starts the outbox worker and the scheduled jobs; returns a function stopping them.
        threads: jobs the worker does at once. More do not help when the cores are short: the
            jobs would share the interpreter and each finish later (a form must open within 3 s).
        niceness: how much lower the worker's CPU priority is.
        stop_timeout: seconds the worker has to finish at shutdown before it is killed.
    """

    def __init__(self, ctx: SlackContext, metrics: Metrics, background: Background, threads: int = 8,
                 niceness: int = 10, stop_timeout: float = 8.0) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.background = background
        self.threads = threads
        self.niceness = niceness
        self.stop_timeout = stop_timeout
        self.forked = False
        self.pid: int | None = None
        self._jobs: Connection | None = None
        self._wakes: int | None = None  # the write end of the wake pipe (non-blocking)
        self._send = threading.Lock()
        self._wake_lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._unfinished: dict[int, Job] = {}  # handed over, not yet reported done
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()  # pickled jobs for the sender
        self._queued = 0  # jobs in `_outgoing` the sender has not yet written (none: the pipe is free to write)
        self._room: select.poll | None = None  # asks whether the pipe takes a small write without blocking
        self._sender: threading.Thread | None = None
        self._redo: collections.deque[Job] = collections.deque()  # the dead worker's jobs, not yet begun here
        self._undone: list[Job] = []  # jobs the worker had not done when it was stopped
        self._wake_here = ctx.wake
        self._state = threading.Lock()  # stopping and taking over exclude each other
        self._stopping = False
        self._stop_here: Callable[[], None] | None = None  # the background work, when it runs here
        self._listener: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the worker process takes the work."""
        return self._jobs is not None

    @property
    def unfinished(self) -> int:
        """Jobs handed over that the worker has not reported done (after it died: not yet begun here)."""
        with self._send:
            return len(self._unfinished) + len(self._redo)

    def start(self) -> None:
        """Fork the worker and hand it the work; where processes cannot fork, do the work here."""
        if not hasattr(os, "fork"):
            self._take_over()
            return
        jobs_in, jobs_out = Pipe(duplex=False)
        reports_in, reports_out = Pipe(duplex=False)
        wakes_in, wakes_out = os.pipe()
        self.ctx.db.dispose()  # no connection may be shared with the child
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            jobs_out.close()
            reports_in.close()
            os.close(wakes_out)
            self._serve(parent, jobs_in, reports_out, wakes_in)
        jobs_in.close()
        reports_out.close()
        os.close(wakes_in)
        os.set_blocking(wakes_out, False)
        self.forked, self.pid, self._jobs, self._wakes = True, pid, jobs_out, wakes_out
        self._room = select.poll()
        self._room.register(jobs_out.fileno(), select.POLLOUT)
        self._sender = threading.Thread(target=self._send_jobs, args=(jobs_out,), name="worker-jobs", daemon=True)
        self._sender.start()
        self.ctx.hand_over = self.hand_over
        self.ctx.wake = self.wake
        self._listener = threading.Thread(target=self._listen, args=(reports_in,), name="worker-reports",
                                          daemon=True)
        self._listener.start()
        log.info("worker process %s does the work requests start, the outbox and the scheduled jobs", pid)

    def hand_over(self, job: Job) -> bool:
        """Send `job` to the worker; False when it is gone or the job would not pickle (the caller does
        the job itself). Never blocks: a job the pipe does not take at once (the worker is behind, or
        jobs wait already, or it is larger than one atomic write) waits in memory for the sender thread."""
        with self._send:  # with `stop()` and the take-over: a job is written or queued before the sender stops
            if self._jobs is None:
                return False
            number = next(self._numbers)
            try:
                data = bytes(ForkingPickler.dumps((number, job)))
            except Exception:  # a job of plain data always pickles: a bug, done here rather than lost
                log.exception("could not send a %s job to the worker process; doing it here", job.kind)
                return False
            self._unfinished[number] = job
            if self._queued == 0 and self._send_now(self._jobs, data):
                return True
            self._queued += 1
            self._outgoing.put(data)
        return True

    def _send_now(self, jobs: Connection, data: bytes) -> bool:
        """Write `data` to the pipe here if that cannot block: in one piece (at most PIPE_BUF bytes, which
        a pipe takes whole or not at all) and room for it. (Waking the sender thread for every job would
        cost the next ack a thread switch.) Called with `_send` held and no job queued, so the sender,
        which counts a job queued until it has written it, is not writing."""
        if len(data) + 4 > select.PIPE_BUF or self._room is None or not any(
                event & select.POLLOUT for _, event in self._room.poll(0)):
            return False
        with contextlib.suppress(OSError):  # the worker is gone: the listener does again what it had not done
            jobs.send_bytes(data)
        return True

    def _send_jobs(self, jobs: Connection) -> None:
        """In the web process: send the jobs queued for it down the pipe, in order, until told to stop;
        then close it (the worker finishes what it has and exits)."""
        with jobs:
            while (data := self._outgoing.get()) is not None:
                try:
                    jobs.send_bytes(data)
                except OSError:
                    pass  # the worker is gone: the listener does again the jobs it had not reported done
                finally:
                    with self._send:
                        self._queued -= 1

    def wake(self) -> None:
        """Wake the worker's outbox worker (notices were queued here); never blocks."""
        with self._wake_lock:
            if self._wakes is not None and self.running:
                try:
                    os.write(self._wakes, b"w")
                    return
                except BlockingIOError:
                    return  # the pipe is full of wake-ups the worker has yet to read: it will look
                except OSError:
                    pass
        self._wake_here()

    def stop(self) -> None:
        """Let the worker finish what it holds (at most `stop_timeout` s), then stop the work done here."""
        with self._state:
            self._stopping = True
        with self._send:
            if self._jobs is not None:
                self._outgoing.put(None)  # the sender sends what was queued and closes the pipe
                self._jobs = self._room = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            deadline = time.monotonic() + self.stop_timeout
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:
                    log.warning("the worker process %s did not finish in %.0f s; killing it", pid,
                                self.stop_timeout)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.05)
        if self._sender is not None:
            self._sender.join(5)
        if self._listener is not None:
            self._listener.join(5)
        with self._wake_lock:
            if self._wakes is not None:
                os.close(self._wakes)
                self._wakes = None
        with self._send:
            undone, self._undone = self._undone + list(self._redo), []
            self._redo.clear()
        if undone:
            self._tell_undone(undone)
        with self._state:
            if self._stop_here is not None:
                self._stop_here()
                self._stop_here = None

    def _tell_undone(self, jobs: list[Job]) -> None:
        """The app stops with `jobs` not done (forms not opened, clicks not applied): their users are
        told to try again, by a message the outbox delivers once the app runs again."""
        log.warning("the app stops with %d jobs not done (forms not opened, clicks not applied); their users "
                    "are told to try again", len(jobs))
        message = N_("Something went wrong on our side and nothing was changed. Please try again in a moment.")
        try:
            self.ctx.run(lambda session: [enqueue(session, NoticeKind.EPHEMERAL, job.user_id, self.ctx.clock.now(),
                                                  text=message, channel=job.channel_id) for job in jobs])
        except Exception:
            log.exception("could not tell the users of %d jobs not done", len(jobs))

    def _take_over(self) -> None:
        """Do the worker's work in this process from now on (with `_state` held: not while stopping)."""
        self.ctx.hand_over = None
        self.ctx.wake = self._wake_here
        self._stop_here = self.background()

    def _do_again(self) -> None:
        """Do the jobs the dead worker had not reported done (`_redo`), one after the other, until they
        are all begun or the app stops (then `stop()` tells the users of those left).

        They may have been begun: a form may be open already. They go to Slack whatever their age,
        which answers `exchanged_trigger_id` for a form it opened (and the user is told nothing).
        """
        while True:
            with self._send:
                if self._stopping or not self._redo:
                    return
                job = self._redo.popleft()
            self.ctx.after_response.submit(self.ctx.perform, replace(job, payload=unstamped(job.payload)))

    def _listen(self, reports: Connection) -> None:
        """In the web process: jobs done, counts for the metrics; take over if the worker dies."""
        while True:
            try:
                report: tuple[Any, ...] = reports.recv()
            except (EOFError, OSError):
                break
            try:
                if report[0] == "done":
                    with self._send:
                        self._unfinished.pop(report[1], None)
                else:
                    _, name, amount, labels = report
                    self.metrics.count(name, amount, *labels)
            except Exception:
                log.exception("a report from the worker process could not be read: %.200r", report)
        reports.close()
        with self._state:
            with self._send:
                if self._jobs is not None:
                    self._outgoing.put(None)
                    self._jobs = self._room = None
                unfinished = list(self._unfinished.values())
                self._unfinished.clear()
                if self._stopping:
                    self._undone = unfinished  # for `stop()` to tell their users
                    return
                self._redo.extend(unfinished)
            pid, self.pid = self.pid, None
            if pid is not None:
                os.waitpid(pid, 0)  # its pipes are closed: it has exited or is exiting
            log.error("the worker process exited; this process does its work from now on (%d jobs "
                      "it had not finished are done again)", len(unfinished))
            self._take_over()
        self._do_again()

    def _serve(self, parent: int, jobs: Connection, reports: Connection, wakes: int) -> None:
        """In the worker: start the background work, do the jobs that arrive until the web process
        closes the pipe, stop; never returns."""
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the web process stops it by closing the pipe
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if sys.platform == "linux":
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the web process died before the line above
                return
            os.nice(self.niceness)
            lock = threading.Lock()

            def report(*message: Any) -> None:
                with lock:
                    reports.send(message)

            def forward(name: str, amount: float, labels: tuple[str, ...]) -> None:
                report("count", name, amount, labels)

            def do(number: int, job: Job) -> None:
                self.ctx.perform(job)
                report("done", number)

            def woken() -> None:
                while os.read(wakes, 4096):
                    self.ctx.wake()

            self.metrics.forward = forward
            stop = self.background()
            threading.Thread(target=woken, name="wakes", daemon=True).start()
            with ThreadPoolExecutor(self.threads, thread_name_prefix="worker") as pool:
                while True:
                    try:
                        number, job = jobs.recv()
                    except EOFError:
                        break
                    pool.submit(do, number, job)
            stop()
        except BaseException:  # logged; the web process takes the work over
            log.exception("the worker process failed")
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)
