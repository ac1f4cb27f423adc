"""The app's HTTP surface as a load balancer, a health checker or a stranger sees it."""

from __future__ import annotations

import json
import logging
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest

from tests.slack.conftest import Bot


def _connection(bot: Bot) -> HTTPConnection:
    address = urlsplit(bot.base_url)
    return HTTPConnection(address.hostname or "", address.port, timeout=5)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_head_answers_the_headers_of_get_without_a_body(bot: Bot, path: str) -> None:
    connection = _connection(bot)
    connection.request("HEAD", path)
    head = connection.getresponse()
    assert head.status == 200 and head.read() == b""
    connection.request("GET", path)  # over the same connection: a body after the HEAD answer would be read here
    got = connection.getresponse()
    body = got.read()
    assert got.status == 200 and body and head.getheader("Content-Type") == got.getheader("Content-Type")
    assert not body.startswith(b"HTTP/")
    connection.close()


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/slack/events", "POST"), ("HEAD", "/slack/events", "POST"), ("PUT", "/slack/events", "POST"),
    ("POST", "/healthz", "GET, HEAD"), ("DELETE", "/metrics", "GET, HEAD"),
])
def test_a_wrong_method_is_told_which_ones_are_allowed(bot: Bot, method: str, path: str, allowed: str) -> None:
    connection = _connection(bot)
    connection.request(method, path, body=b"" if method in ("POST", "PUT") else None)
    answer = connection.getresponse()
    assert (answer.status, answer.getheader("Allow")) == (405, allowed)
    assert (answer.read() == b"") == (method == "HEAD")
    connection.close()


@pytest.mark.parametrize("body", [b"{not json", b"payload=%5B1%5D", b"payload=\xff\xfe", b"payload=%7B%22type"])
def test_an_unreadable_request_slack_did_not_sign_is_refused_as_unsigned_and_not_logged_as_an_error(
        bot: Bot, body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for signature in ({"sign": False}, {"sign": True, "timestamp": 1_500_000_000}):  # none, or a stale one
        reply = bot.slack.raw(body, **signature)
        assert reply.status == 401 and json.loads(reply.text) == {"error": "invalid request"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert "could not be read" in caplog.text


def test_an_unreadable_request_signed_with_the_secret_is_a_bad_request_and_logged(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    reply = bot.slack.raw(b"payload=\xff\xfe")
    assert reply.status == 400 and json.loads(reply.text) == {"error": "malformed request"}
    assert any(r.levelno == logging.WARNING and r.exc_info for r in caplog.records)
