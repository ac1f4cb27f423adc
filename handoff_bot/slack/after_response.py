"""Work that waits for the answer: what a request starts runs once Slack has the request's ack.

Listeners ack at once and hand the rest (the state change of a click, `views.open` for a form,
the Home tab) to `SlackContext.later`. Started at once, that work would compete with the answer
for the interpreter (a thread waiting for the GIL waits up to the switch interval, 5 ms by
default). So while a request is being answered (`answering()`, or `hold()` … `release()` around
it) this executor holds what the request submits, and starts it once the server has written the
answer.

In `python app.py` the jobs go to the worker process (`slack.worker`): the held call (`defer`)
writes the job down a pipe when that cannot block, else queues it for a thread that does. Where
there is no worker (tests that run the app in-process, or after the worker died) the jobs run here,
on a thread pool or, when every pool thread is busy, in the thread that answered (see `_start`).

(Bolt's own lazy listeners are not used: Bolt deep-copies the request and its context for each
one before it answers, about 0.6 ms a listener.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
Held = list[Callable[[], None]]


class AfterResponse(Executor):
    """A thread pool whose work, when submitted while a request is being answered, starts after the answer."""

    def __init__(self, workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="after-response")
        self._workers = workers
        self._local = threading.local()
        self._busy = 0  # submitted and not finished: held, on the pool or running in a caller
        self._pooled = 0  # on the pool and not finished
        self._idle = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Hold the work submitted by this thread inside the block; start it when the block ends."""
        held = self.hold()
        try:
            yield
        finally:
            self.release(held)

    def hold(self) -> Held:
        """Start holding this thread's submissions; pass the result to `release` once the answer is out."""
        held: Held = []
        self._local.held = held
        return held

    def release(self, held: Held) -> None:
        """Start the work held since `hold` (idempotent)."""
        if getattr(self._local, "held", None) is held:
            self._local.held = None
        while held:
            held.pop(0)()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._idle:
            self._busy += 1
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(lambda: self._start(future, fn, args, kwargs))
        else:
            self._start(future, fn, args, kwargs)
        return future

    def defer(self, fn: Callable[..., object], /, *args: Any) -> None:
        """Call `fn` in this thread once the answer is out (now, outside a request): for quick calls.

        An exception is logged.
        """
        def call() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("a call after the answer failed")

        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(call)
        else:
            call()

    def _start(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:
        """Run on a free pool thread; when every one is taken, here and now.

        Work never queues here: a `views.open` must use its trigger_id within 3 s, so under a burst
        the thread that answered the request does its work (and takes no new request meanwhile)
        rather than leaving it behind a backlog. (The worker process, niced, queues instead: there
        the acks are never held up, and a burst beyond what it can do costs late forms.)
        """
        with self._idle:
            pooled = self._pooled < self._workers
            self._pooled += pooled

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as error:  # noqa: BLE001 - handed to the future, as ThreadPoolExecutor does
                        future.set_exception(error)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._pooled -= pooled
                    self._idle.notify_all()

        if pooled:
            try:
                self._pool.submit(run)
                return
            except RuntimeError:  # the pool is shut down (the process is stopping): do it here
                pass
        run()

    @property
    def busy(self) -> int:
        """Work submitted and not finished."""
        with self._idle:
            return self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing submitted is held, queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
