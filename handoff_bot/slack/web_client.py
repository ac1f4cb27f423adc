"""Clients of Slack that keep their connections open between calls.

slack_sdk's `WebClient` and `WebhookClient` send each call with `urllib.request.urlopen`, which opens
a new connection and closes it after the answer: to slack.com, a DNS lookup, a TCP and a TLS handshake
(two round trips and the TLS key exchange) before every `views.open`, `chat.postMessage`, `users.info`
or answer through a `response_url`. `KeepAliveWebClient` and `KeepAliveWebhookClient` send the same
requests over connections kept per thread and host, shared by every client in the thread, and open a
new one when Slack has closed the old one (or after a fork). Everything else is slack_sdk's: building
the request, retries, rate limits, errors. (Over HTTPS on Linux; otherwise, see `KeepAliveWebClient`,
they are slack_sdk's clients.)
"""

from __future__ import annotations

import io
import os
import random
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit
from urllib.request import Request

from slack_bolt import Respond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryState
from slack_sdk.webhook import WebhookClient, WebhookResponse

IDLE_LIMIT = 30.0  # seconds a connection may sit unused and still be used: NATs and proxies drop idle ones
_threads = threading.local()  # each thread's kept connections: `held`, by process, scheme, host and port, TLS context


@dataclass
class _Held:
    connection: HTTPConnection
    used_at: float = 0.0  # time.monotonic() of its last answer


class KeepAliveWebClient(WebClient):
    """`WebClient` with kept connections, to Slack's API over HTTPS.

    A plain-HTTP address (a local stand-in for Slack; Slack's API is HTTPS only), a proxy or a
    platform without `TCP_QUICKACK` get a connection per call, as from `WebClient`: a stand-in may
    serve one connection at a time, or answer an error without reading the request.

    Without `ssl`, the client makes one default context (the system's certificates, or those
    `SSL_CERT_FILE` names) and uses it for every connection, its own and its `response_url` answers'
    (slack_sdk would make one per connection: loading the certificates takes longer than the call).

    Args:
        keep_plain_http: keep connections to plain-HTTP addresses too.
    """

    def __init__(self, *args: Any, keep_plain_http: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_schemes = ("http", "https") if keep_plain_http else ("https",)
        if self.ssl is None:
            self.ssl = ssl.create_default_context()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """What `WebClient` does with `urlopen`, over a kept connection (see `_send`)."""
        parts = urlsplit(url)
        if not _keeps(parts, self.proxy, self.kept_schemes):
            return super()._perform_urllib_http_request_internal(url, req)
        response, body = _send(parts, req, self.timeout, self.ssl)
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers, "body": body.decode(charset)}


class KeepAliveWebhookClient(WebhookClient):
    """`WebhookClient` (a `response_url`'s) over kept connections, as `KeepAliveWebClient`'s."""

    def __init__(self, *args: Any, kept_schemes: Sequence[str] = ("https",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kept_schemes = kept_schemes

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        parts = urlsplit(url)
        if not _keeps(parts, self.proxy, self.kept_schemes):
            return super()._perform_http_request_internal(url, req)
        response, body = _send(parts, req, self.timeout, self.ssl)
        return WebhookResponse(url=url, status_code=response.status, headers=response.headers,
                               body=body.decode(response.headers.get_content_charset() or "utf-8"))


class KeptRespond(Respond):
    """Bolt's `respond` (answers through a request's `response_url`) with `client`'s TLS context and
    proxy, and over kept connections where `client` is a `KeepAliveWebClient`."""

    def __init__(self, client: WebClient, response_url: str | None) -> None:
        super().__init__(response_url=response_url, proxy=client.proxy, ssl=client.ssl)
        self.kept_schemes: Sequence[str] = getattr(client, "kept_schemes", ())

    def __call__(self, text: str | dict[str, Any] = "", **fields: Any) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        message = _build_message(**text) if isinstance(text, dict) else _build_message(text=text, **fields)
        return KeepAliveWebhookClient(url=self.response_url, proxy=self.proxy, ssl=self.ssl,
                                      kept_schemes=self.kept_schemes).send_dict(message)


def _keeps(parts: SplitResult, proxy: str | None, schemes: Sequence[str]) -> bool:
    return proxy is None and parts.scheme in schemes and hasattr(socket, "TCP_QUICKACK")


def _send(parts: SplitResult, req: Request, timeout: float, context: ssl.SSLContext | None
          ) -> tuple[HTTPResponse, bytes]:
    """Send `req` over this thread's connection to its host, as `urlopen` would: 2xx answers are
    returned, others raised as `HTTPError`, a request that cannot be sent as `URLError`.

    A kept connection the server or the network dropped meanwhile is found out when the request
    fails before any answer arrives: then it goes once more, over a new connection.
    """
    held = _held(parts, context)
    exchange = (req.get_method(), parts.path + (f"?{parts.query}" if parts.query else ""), req.data,
                dict(req.header_items()))
    held.connection.timeout = timeout  # clients sharing a connection may differ in their timeouts
    kept = held.connection.sock is not None
    if kept:
        held.connection.sock.settimeout(timeout)
    try:
        response, body = _exchange(held.connection, *exchange)
    except (URLError, ConnectionError) as error:
        if not kept or (isinstance(error, URLError) and not isinstance(error.reason, ConnectionError)):
            raise
        response, body = _exchange(held.connection, *exchange)
    held.used_at = time.monotonic()
    if response.will_close or not 200 <= response.status < 300:
        held.connection.close()  # after an error answer too: the server may not have read the whole request
    if not 200 <= response.status < 300:
        raise HTTPError(parts.geturl(), response.status, response.reason, response.headers, io.BytesIO(body))
    return response, body


def _held(parts: SplitResult, context: ssl.SSLContext | None) -> _Held:
    """This thread's connection to the host of `parts` with the certificates of `context`, closed first
    (so that the request connects anew) when the server has closed it or it sat unused for longer than
    `IDLE_LIMIT`."""
    connections: dict[tuple[int, str, str, int], _Held] = _threads.__dict__.setdefault("held", {})
    pid = os.getpid()
    if any(key[0] != pid for key in connections):  # a forked child does not use its parent's
        connections.clear()
    key = (pid, parts.scheme, parts.netloc, id(context))  # the connection keeps `context` alive: no id reused
    held = connections.get(key)
    if held is not None:
        sock = held.connection.sock
        if sock is not None and (time.monotonic() - held.used_at > IDLE_LIMIT or _closed_by_peer(sock)):
            held.connection.close()
        return held
    host, port = parts.hostname or "", parts.port
    connection = (HTTPSConnection(host, port, context=context) if parts.scheme == "https"
                  else HTTPConnection(host, port))
    connections[key] = _Held(connection)
    return connections[key]


def _exchange(connection: HTTPConnection, method: str, target: str, body: bytes | None,
              headers: dict[str, str]) -> tuple[HTTPResponse, bytes]:
    """Send one request and read its whole answer; on any error the connection is closed (the next
    request connects anew) and, for one that could not be sent, `URLError` raised as urlopen does."""
    try:
        try:
            connection.request(method, target, body, headers)
        except OSError as error:
            raise URLError(error) from error
        _answer_at_once(connection)
        response = connection.getresponse()
        return response, response.read()
    except BaseException:
        connection.close()
        raise


def _answer_at_once(connection: HTTPConnection) -> None:
    """Acknowledge what the server sends without delay, while waiting for this answer.

    A server that writes an answer's head and its body in two writes with Nagle's algorithm on (as
    Python's `http.server` does) holds the body back until the head is acknowledged, and on a
    connection kept open the kernel delays that acknowledgement by up to 40 ms: every call would
    wait that long. TCP_QUICKACK (Linux) turns the delay off until the kernel turns it on again.
    """
    if connection.sock is not None:
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _closed_by_peer(sock: Any) -> bool:
    """Whether an idle connection has something to read: the server's close (or stray bytes)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class BriefRateLimitRetry(RateLimitErrorRetryHandler):
    """Once more after a 429 (rate limited) whose Retry-After is at most `longest` seconds.

    A form must open within its trigger's 3 s: one Slack will take in a second is worth waiting for,
    while slack_sdk's own handler would wait whatever Slack asks (and a second more at random).
    The outbox has its own retries, durable ones; this is for the calls a job makes.
    """

    def __init__(self, longest: float = 1.0) -> None:
        super().__init__(max_retry_count=1)
        self.longest = longest

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        wait = _retry_after(response)
        return response is not None and response.status_code == 429 and wait is not None and wait <= self.longest

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        time.sleep((_retry_after(response) or 0.0) + random.uniform(0.0, 0.1))
        state.increment_current_attempt()


def _retry_after(response: HttpResponse | None) -> float | None:
    """The seconds a 429 answer's Retry-After asks for, from now (see `retry_after`)."""
    return retry_after(response.headers, datetime.now(timezone.utc)) if response is not None else None


def retry_after(headers: Mapping[str, Any], now: datetime) -> float | None:
    """The seconds a 429 answer's Retry-After asks to wait: a number of seconds (whole or decimal) or an
    HTTP date (0 when it has passed); None when there is none, or none that reads as either.

    Args:
        headers: the answer's headers, names in any case; a value may be a list (as slack_sdk's retry
            handlers see them), of which the first counts.
        now: the current time, to count the seconds to a date from.
    """
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"\d{1,9}(\.\d+)?", value.strip()):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # a date "-0000": UTC, as HTTP dates are
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())
