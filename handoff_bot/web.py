"""The WSGI application: Slack's requests go to Bolt; health checks are answered here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from handoff_bot.slack.after_response import AfterResponse

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class _Answer:
    """A response body that calls `then` when the server closes it, once the body has been written."""

    def __init__(self, body: Iterable[bytes], then: Callable[[], None]) -> None:
        self._body, self._then = body, then

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._then()


def make_wsgi(
    bolt: App, after_response: AfterResponse, ready: Callable[[], dict[str, Any]],
    metrics: Callable[[], bytes] | None = None,
) -> Callable[..., Iterable[bytes]]:
    """`POST /slack/events` (Bolt verifies the signature), `GET /healthz` (process up),
    `GET /readyz` (`ready()` says whether the database answers and the outbox moves) and `GET /metrics`.

    Args:
        bolt: the Bolt app.
        after_response: holds the work a request starts until its answer is written.
        ready: returns `{"ready": bool, ...details}`.
        metrics: returns Prometheus' text exposition for `GET /metrics`.
    """
    slack = SlackRequestHandler(bolt, path=SLACK_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
            stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
            if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
                # Missing or not a number (Bolt would fail on it): made a stale one, which Bolt refuses with
                # 401, except in Slack's `ssl_check`, which Bolt answers 200 before any signature check.
                environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = "0"
            held = after_response.hold()
            try:
                return _Answer(slack(environ, start_response), lambda: after_response.release(held))
            except Exception:
                after_response.release(held)
                log.warning("malformed request to %s", SLACK_PATH, exc_info=True)
                return _json(start_response, "400 Bad Request", {"error": "malformed request"})
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz" and method in ("GET", "HEAD"):
            report = ready()
            return _json(start_response, "200 OK" if report.get("ready") else "503 Service Unavailable", report)
        if path == "/metrics" and method in ("GET", "HEAD") and metrics is not None:
            body = metrics()
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return application
