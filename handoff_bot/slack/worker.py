"""The worker process: it does the jobs requests start, so that they never hold up an ack.

`python app.py` forks it at start-up, before any thread or database connection exists. The web
process answers Slack and pickles each job (`SlackContext.later`: open the form, a click's state
change, the Home tab) down a pipe once the answer is out; the worker does it on its own threads,
at a lower CPU priority. So the jobs never compete with the acks for the interpreter lock, and
when the cores are short the kernel serves the acks first. A commit in the worker wakes the web
process's outbox worker through a second pipe.

The worker dies with the web process (a SIGKILL of one kills both, as it did a single process).
If the worker dies alone, the web process logs it and does the jobs itself from then on.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pipe
from multiprocessing.connection import Connection

from handoff_bot.slack.context import Job, SlackContext

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
WAKE = b"w"


class WorkerProcess:
    """A forked child doing `ctx`'s jobs; `start()` it before any thread or database connection exists."""

    def __init__(self, ctx: SlackContext, threads: int = 8, niceness: int = 10) -> None:
        self.ctx = ctx
        self.threads = threads
        self.niceness = niceness
        self.pid: int | None = None
        self._jobs: Connection | None = None
        self._send = threading.Lock()
        self._wake_outbox = ctx.wake

    def start(self) -> bool:
        """Fork the worker and hand it `ctx`'s jobs from now on; False where processes cannot fork."""
        if not hasattr(os, "fork"):
            return False
        jobs_in, jobs_out = Pipe(duplex=False)
        wakes_in, wakes_out = Pipe(duplex=False)
        self.ctx.db.dispose()  # no connection may be shared with the child
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            jobs_out.close()
            wakes_in.close()
            self._serve(parent, jobs_in, wakes_out)
        jobs_in.close()
        wakes_out.close()
        self.pid, self._jobs = pid, jobs_out
        threading.Thread(target=self._listen, args=(wakes_in,), name="worker-wakes", daemon=True).start()
        self.ctx.hand_over = self.hand_over
        log.info("worker process %s does the work requests start", pid)
        return True

    @property
    def running(self) -> bool:
        """Whether the worker takes jobs."""
        return self._jobs is not None

    def hand_over(self, job: Job) -> bool:
        """Send `job` to the worker; False when it is gone (the caller does the job itself)."""
        with self._send:
            if self._jobs is None:
                return False
            try:
                self._jobs.send(job)
                return True
            except OSError:
                log.error("the worker process is gone; this process does the work from now on")
                self._jobs = None
                return False

    def stop(self, timeout: float = 5.0) -> None:
        """Let the worker finish the jobs it has, then wait for it to exit."""
        self.ctx.hand_over = None
        with self._send:
            if self._jobs is not None:
                self._jobs.close()
                self._jobs = None
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            time.sleep(0.05)
        log.warning("the worker process %s did not finish in %.0f s; killing it", pid, timeout)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def _listen(self, wakes: Connection) -> None:
        """In the web process: wake the outbox worker when the worker has queued notices."""
        try:
            while True:
                wakes.recv_bytes()
                self._wake_outbox()
        except (EOFError, OSError):
            pass
        if self.ctx.hand_over is not None:
            with self._send:
                self._jobs = None
            log.error("the worker process exited; this process does the work from now on")

    def _serve(self, parent: int, jobs: Connection, wakes: Connection) -> None:
        """In the worker: do the jobs that arrive until the web process closes the pipe; never returns."""
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

            def wake() -> None:
                with lock:
                    wakes.send_bytes(WAKE)

            self.ctx.wake = wake
            self.ctx.hand_over = None
            with ThreadPoolExecutor(self.threads, thread_name_prefix="worker") as pool:
                while True:
                    try:
                        job = jobs.recv()
                    except EOFError:
                        break
                    pool.submit(self.ctx.perform, job)
        except BaseException:  # logged; the web process takes the jobs over
            log.exception("the worker process failed")
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)
