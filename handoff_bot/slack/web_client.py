"""A Web API client that keeps its connection to Slack open between calls.

slack_sdk's `WebClient` sends each call with `urllib.request.urlopen`, which opens a new connection
and closes it after the answer: to slack.com, a DNS lookup, a TCP and a TLS handshake (two round
trips and the TLS key exchange) before every `views.open`, `chat.postMessage` or `users.info`.
`KeepAliveWebClient` sends the same request over a connection it keeps, one per thread, and opens a
new one when Slack has closed the old one (or after a fork). Everything else is `WebClient`'s:
building the request, retries, rate limits, errors. (Over HTTPS on Linux; otherwise, see
`KeepAliveWebClient`, it is `WebClient`.)
"""

from __future__ import annotations

import io
import os
import random
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryState

IDLE_LIMIT = 30.0  # seconds a connection may sit unused and still be used: NATs and proxies drop idle ones


@dataclass
class _Held:
    key: tuple[int, str, str]  # process, scheme, host and port
    connection: HTTPConnection
    used_at: float = 0.0  # time.monotonic() of its last answer


class KeepAliveWebClient(WebClient):
    """`WebClient` with a kept connection per thread, to Slack's API over HTTPS.

    A plain-HTTP address (a local stand-in for Slack; Slack's API is HTTPS only), a proxy or a
    platform without `TCP_QUICKACK` get a connection per call, as from `WebClient`: a stand-in may
    serve one connection at a time, or answer an error without reading the request.

    Args:
        keep_plain_http: keep connections to plain-HTTP addresses too.
    """

    def __init__(self, *args: Any, keep_plain_http: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept_schemes = ("http", "https") if keep_plain_http else ("https",)
        self._local = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """What `WebClient` does with `urlopen`, over the thread's kept connection: 2xx answers are
        returned, others raised as `HTTPError`, a request that cannot be sent as `URLError`.

        A kept connection the server or the network dropped meanwhile is found out when the request
        fails before any answer arrives: then it goes once more, over a new connection.
        """
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in self._kept_schemes or not hasattr(socket, "TCP_QUICKACK"):
            return super()._perform_urllib_http_request_internal(url, req)
        held = self._held(parts)
        exchange = (req.get_method(), parts.path + (f"?{parts.query}" if parts.query else ""), req.data,
                    dict(req.header_items()))
        kept = held.connection.sock is not None
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
            raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers, "body": body.decode(charset)}

    def _held(self, parts: SplitResult) -> _Held:
        """This thread's connection to the host of `parts`, closed first (so that the request connects
        anew) when the server has closed it or it sat unused for longer than `IDLE_LIMIT`."""
        key = (os.getpid(), parts.scheme, parts.netloc)  # a forked child does not use its parent's
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None and held.key == key:
            sock = held.connection.sock
            if sock is not None and (time.monotonic() - held.used_at > IDLE_LIMIT or _closed_by_peer(sock)):
                held.connection.close()
            return held
        if held is not None and held.key[0] == key[0]:
            held.connection.close()
        host, port = parts.hostname or "", parts.port
        connection = (HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl) if parts.scheme == "https"
                      else HTTPConnection(host, port, timeout=self.timeout))
        self._local.held = _Held(key, connection)
        return self._local.held


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
    """The seconds a 429 answer's Retry-After asks for; None when it has none that reads as a number."""
    if response is None:
        return None
    values = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
    try:
        return float(values[0]) if values else None
    except ValueError:
        return None
