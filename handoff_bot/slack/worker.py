"""The worker process: everything `python app.py` does besides answering Slack's requests.

`python app.py` forks it at start-up, before any thread or database connection exists, and runs it
at a lower CPU priority. The web process answers Slack; the worker does

- the jobs requests start (`SlackContext.later`: open the form, a click's state change, the Home
  tab), which the web process pickles down a pipe once the answer is out;
- the background work: the outbox worker, the follow-up and digest jobs.

So none of that competes with the acks for the interpreter lock, and when the cores are short the
kernel serves the acks first. A commit in the web process (a submission) wakes the worker's outbox
worker through the same pipe; the worker's counts (deliveries, follow-ups, digests) come back
through a second one, for `/metrics`.

The worker dies with the web process (a SIGKILL of one kills both, as it did a single process).
If the worker dies alone, the web process logs it and takes all of its work over.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pipe
from multiprocessing.connection import Connection

from handoff_bot.metrics import Metrics
from handoff_bot.slack.context import Job, SlackContext

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
Background = Callable[[], Callable[[], None]]  # starts the background work, returns what stops it


class WorkerProcess:
    """A forked child doing `ctx`'s jobs and the `background` work.

    Args:
        ctx: the listeners' context; its `wake` wakes the outbox worker of the process it runs in.
        metrics: the web process's metrics, which the worker's counts are added to.
        background: starts the outbox worker and the scheduled jobs; returns a function stopping them.
    """

    def __init__(self, ctx: SlackContext, metrics: Metrics, background: Background, threads: int = 8,
                 niceness: int = 10) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self.background = background
        self.threads = threads
        self.niceness = niceness
        self.pid: int | None = None
        self._pipe: Connection | None = None  # jobs, and None for "wake the outbox worker"
        self._send = threading.Lock()
        self._wake_here = ctx.wake
        self._stop_here: Callable[[], None] | None = None  # the background work, when it runs here
        self._stopping = threading.Event()

    @property
    def running(self) -> bool:
        """Whether the worker process takes the work."""
        return self._pipe is not None

    def start(self) -> None:
        """Fork the worker and hand it the work; where processes cannot fork, do the work here."""
        if not hasattr(os, "fork"):
            self._take_over()
            return
        jobs_in, jobs_out = Pipe(duplex=False)
        counts_in, counts_out = Pipe(duplex=False)
        self.ctx.db.dispose()  # no connection may be shared with the child
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            jobs_out.close()
            counts_in.close()
            self._serve(parent, jobs_in, counts_out)
        jobs_in.close()
        counts_out.close()
        self.pid, self._pipe = pid, jobs_out
        self.ctx.hand_over = self.hand_over
        self.ctx.wake = self.wake
        threading.Thread(target=self._listen, args=(counts_in,), name="worker-counts", daemon=True).start()
        log.info("worker process %s does the work requests start, the outbox and the scheduled jobs", pid)

    def hand_over(self, job: Job) -> bool:
        """Send `job` to the worker; False when it is gone (the caller does the job itself)."""
        return self._put(job)

    def wake(self) -> None:
        """Wake the worker's outbox worker (notices were queued here); the local one if it is gone."""
        if not self._put(None):
            self._wake_here()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the worker finish what it holds, then wait for it to exit; stop the work done here."""
        self._stopping.set()
        with self._send:
            if self._pipe is not None:
                self._pipe.close()
                self._pipe = None
        if self.pid is not None:
            pid, self.pid = self.pid, None
            deadline = time.monotonic() + timeout
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.monotonic() > deadline:
                    log.warning("the worker process %s did not finish in %.0f s; killing it", pid, timeout)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.05)
        if self._stop_here is not None:
            self._stop_here()
            self._stop_here = None

    def _put(self, message: Job | None) -> bool:
        with self._send:
            if self._pipe is None:
                return False
            try:
                self._pipe.send(message)
                return True
            except OSError:
                self._pipe = None
        log.error("the worker process is gone")
        return False

    def _take_over(self) -> None:
        """Do the worker's work in this process from now on."""
        self.ctx.hand_over = None
        self.ctx.wake = self._wake_here
        self._stop_here = self.background()

    def _listen(self, counts: Connection) -> None:
        """In the web process: add the worker's counts to the metrics; take over if it dies."""
        try:
            while True:
                name, amount, labels = counts.recv()
                self.metrics.count(name, amount, *labels)
        except (EOFError, OSError):
            pass
        with self._send:
            self._pipe = None
        if not self._stopping.is_set():
            log.error("the worker process exited; this process does its work from now on")
            self._take_over()

    def _serve(self, parent: int, jobs: Connection, counts: Connection) -> None:
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

            def forward(name: str, amount: float, labels: tuple[str, ...]) -> None:
                with lock:
                    counts.send((name, amount, labels))

            self.metrics.forward = forward
            stop = self.background()
            with ThreadPoolExecutor(self.threads, thread_name_prefix="worker") as pool:
                while True:
                    try:
                        message = jobs.recv()
                    except EOFError:
                        break
                    if message is None:
                        self.ctx.wake()
                    else:
                        pool.submit(self.ctx.perform, message)
            stop()
        except BaseException:  # logged; the web process takes the work over
            log.exception("the worker process failed")
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)
