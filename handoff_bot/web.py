"""The WSGI application: Slack's requests go to Bolt; health checks are answered here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

SLACK_PATH = "/slack/events"


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_wsgi(bolt: App, ready: Callable[[], dict[str, Any]]) -> Callable[..., Iterable[bytes]]:
    """`POST /slack/events` (Bolt verifies the signature), `GET /healthz` (process up) and
    `GET /readyz` (`ready()` says whether the database answers and the outbox moves).

    Args:
        bolt: the Bolt app.
        ready: returns `{"ready": bool, ...details}`.
    """
    slack = SlackRequestHandler(bolt, path=SLACK_PATH)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH:
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
            return slack(environ, start_response)
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz" and method in ("GET", "HEAD"):
            report = ready()
            return _json(start_response, "200 OK" if report.get("ready") else "503 Service Unavailable", report)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return application
