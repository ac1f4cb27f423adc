"""The WSGI application: Slack's requests go to Bolt; health checks are answered here."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from handoff_bot.slack.after_response import AfterResponse

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"
SIGNATURE_AGE = 300  # seconds a signed request stays valid, as Bolt checks it


def _json(start_response: StartResponse, status: str, payload: dict[str, Any],
          headers: Iterable[tuple[str, str]] = ()) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


class _Recorded:
    """A request body stream that keeps what was read from it."""

    def __init__(self, stream: Any) -> None:
        self._stream, self.data = stream, b""

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._stream.read(size)
        self.data += chunk
        return chunk


def signed(secret: str, environ: WSGIEnvironment, body: bytes) -> bool:
    """Whether a request carries Slack's signature of `body` (as Bolt checks it, over the raw bytes)."""
    stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    if not (stamp.isascii() and stamp.isdigit()) or abs(time.time() - int(stamp)) > SIGNATURE_AGE:
        return False
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("v0=" + digest, environ.get("HTTP_X_SLACK_SIGNATURE", ""))


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
    bolt: App, signing_secret: str, after_response: AfterResponse, ready: Callable[[], dict[str, Any]],
    metrics: Callable[[], bytes] | None = None,
) -> Callable[..., Iterable[bytes]]:
    """`POST /slack/events` (Bolt verifies the signature), `GET /healthz` (process up),
    `GET /readyz` (`ready()` says whether the database answers and the outbox moves) and `GET /metrics`;
    `HEAD` of each answers the headers of `GET`, without the body.

    Args:
        bolt: the Bolt app.
        signing_secret: Bolt's, to tell a request Bolt could not read from Slack's (400) from a forged one (401).
        after_response: holds the work a request starts until its answer is written.
        ready: returns `{"ready": bool, ...details}`.
        metrics: returns Prometheus' text exposition for `GET /metrics`.
    """
    slack = SlackRequestHandler(bolt, path=SLACK_PATH)
    pages: dict[str, Callable[[StartResponse], Iterable[bytes]]] = {
        "/healthz": lambda start_response: _json(start_response, "200 OK", {"status": "ok"}),
        "/readyz": lambda start_response: _ready(start_response, ready()),
    }
    if metrics is not None:
        pages["/metrics"] = lambda start_response: _metrics(start_response, metrics())

    def events(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            # Missing or not a number (Bolt would fail on it): made a stale one, which Bolt refuses with
            # 401, except in Slack's `ssl_check`, which Bolt answers 200 before any signature check.
            environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = "0"
        body = environ["wsgi.input"] = _Recorded(environ.get("wsgi.input"))
        held = after_response.hold()
        try:
            return _Answer(slack(environ, start_response), lambda: after_response.release(held))
        except Exception:  # Bolt reads the body before it checks the signature
            after_response.release(held)
            if not signed(signing_secret, environ, body.data):
                log.info("refused a request to %s that Slack did not sign and that could not be read", SLACK_PATH)
                return _json(start_response, "401 Unauthorized", {"error": "invalid request"})
            log.warning("malformed request to %s", SLACK_PATH, exc_info=True)
            return _json(start_response, "400 Bad Request", {"error": "malformed request"})

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method == "POST":
                return events(environ, start_response)
            return _json(start_response, "405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")])
        page = pages.get(path)
        if page is None:
            return _json(start_response, "404 Not Found", {"error": "not found"})
        if method not in ("GET", "HEAD"):
            return _json(start_response, "405 Method Not Allowed", {"error": "use GET"}, [("Allow", "GET, HEAD")])
        return page(start_response)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = route(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return answer
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        return []  # a HEAD answer has no body (its Content-Length is the GET answer's, as HTTP allows)

    return application


def _ready(start_response: StartResponse, report: dict[str, Any]) -> Iterable[bytes]:
    return _json(start_response, "200 OK" if report.get("ready") else "503 Service Unavailable", report)


def _metrics(start_response: StartResponse, body: bytes) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
