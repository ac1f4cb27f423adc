"""The Slack stand-in in a process of its own, for the benchmarks that time acks.

In the load generator's process, the stand-in's work (answering the app's `views.open` and
`chat.postMessage`, checking every payload against Slack's limits) would share one interpreter
with the threads timing the acks, and its turns on the GIL would be counted as the app's ack time.
Real Slack answers from elsewhere: here it answers from a child process, and the benchmark talks
to it over a pipe (`multiprocessing.managers`), between timed requests only. It
runs at the load generator's priority, not lower: starved of CPU, it would check a `views.open`'s
trigger_id late and report a form the app opened in time as expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from tests.slack_standin import Call, SlackStandIn, tls_context


class _Served(SlackStandIn):
    """The stand-in as the child process serves it: properties as methods, `start` returning nothing."""

    def __init__(self, certificate: str | None) -> None:
        super().__init__(None if certificate is None else tls_context(Path(certificate)))

    def serve(self) -> None:
        self.start()

    def api_url_(self) -> str:
        return self.api_url

    def calls_since(self, start: int) -> list[Call]:
        with self._cond:
            return self._calls[start:]

    def violations_(self) -> list[str]:
        return list(self.violations)


class _Manager(BaseManager):
    pass


_Manager.register("StandIn", _Served, exposed=(
    "serve", "stop", "api_url_", "calls_since", "calls_to", "violations_", "add_user", "user", "message", "messages",
    "last_view", "new_trigger_id", "new_response_url",
))


class StandInProcess:
    """What the benchmarks use of `SlackStandIn`, served by a child process; a context manager."""

    def __init__(self, certificate: Path | None = None) -> None:
        """`certificate`: serve HTTPS with it (from `self_signed_certificate`), as Slack is reached."""
        self._manager = _Manager()
        self._manager.start()
        self._remote: Any = self._manager.StandIn(None if certificate is None else str(certificate))  # type: ignore[attr-defined]
        self._remote.serve()
        self.api_url: str = self._remote.api_url_()

    def __enter__(self) -> StandInProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._remote.stop()
        self._manager.shutdown()

    @property
    def calls(self) -> list[Call]:
        return self._remote.calls_since(0)

    @property
    def violations(self) -> list[str]:
        return self._remote.violations_()

    def calls_to(self, method: str, **match: Any) -> list[Call]:
        return self._remote.calls_to(method, **match)

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0) -> list[Call]:
        """Poll the calls until `predicate(calls)` holds (every 20 ms; never while acks are timed)."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls
            if predicate(calls):
                return calls
            if time.monotonic() > deadline:
                raise AssertionError(f"no such calls within {timeout}s ({len(calls)} calls)")
            time.sleep(0.02)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0, **match: Any) -> list[Call]:
        """Poll until at least `count` calls to `method` match; return those calls."""
        deadline = time.monotonic() + timeout
        while len(calls := self.calls_to(method, **match)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(calls)} calls to {method} within {timeout}s, not {count}")
            time.sleep(0.02)
        return calls

    def add_user(self, user_id: str, *args: Any, **kwargs: Any) -> None:
        self._remote.add_user(user_id, *args, **kwargs)

    def user(self, user_id: str) -> dict[str, Any] | None:
        return self._remote.user(user_id)

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        return self._remote.message(channel, ts)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return self._remote.messages(channel)

    def last_view(self, callback_id: str | None = None) -> dict[str, Any]:
        return self._remote.last_view(callback_id)

    def new_trigger_id(self) -> str:
        return self._remote.new_trigger_id()

    def new_response_url(self, channel: str | None = None, ts: str | None = None, user: str | None = None) -> str:
        return self._remote.new_response_url(channel, ts, user)
