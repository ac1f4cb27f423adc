"""The WSGI application: Slack's requests go to Bolt; health checks are answered here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)
SLACK_PATH = "/slack/events"


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_wsgi(
    bolt: App, ready: Callable[[], dict[str, Any]], metrics: Callable[[], bytes] | None = None
) -> Callable[..., Iterable[bytes]]:
    """`POST /slack/events` (Bolt verifies the signature), `GET /healthz` (process up),
    `GET /readyz` (`ready()` says whether the database answers and the outbox moves) and `GET /metrics`.

    Args:
        bolt: the Bolt app.
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
            if not environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "").isdigit():
                return _json(start_response, "401 Unauthorized", {"error": "invalid request"})
            try:
                return slack(environ, start_response)
            except Exception:
                log.warning("malformed request to %s", SLACK_PATH, exc_info=True)
                return _json(start_response, "400 Bad Request", {"error": "malformed request"})
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz" and method in ("GET", "HEAD"):
            report = ready()
            return _json(start_response, "200 OK" if report.get("ready") else "503 Service Unavailable", report)
        if path == "/metrics" and method == "GET" and metrics is not None:
            body = metrics()
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return application
