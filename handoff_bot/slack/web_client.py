"""A Web API client that keeps its connection to Slack open between calls.

slack_sdk's `WebClient` sends each call with `urllib.request.urlopen`, which opens a new connection
and closes it after the answer: to slack.com, a DNS lookup, a TCP and a TLS handshake (two round
trips and the TLS key exchange) before every `views.open`, `chat.postMessage` or `users.info`.
`KeepAliveWebClient` sends the same request over a connection it keeps, one per thread, and opens a
new one when Slack has closed the old one (or after a fork). Everything else is `WebClient`'s:
building the request, retries, rate limits, errors.
"""

from __future__ import annotations

import io
import os
import select
import threading
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import SplitResult, urlsplit
from urllib.request import Request

from slack_sdk import WebClient


class KeepAliveWebClient(WebClient):
    """`WebClient` with a kept connection per thread (not through a proxy: then as `WebClient`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """What `WebClient` does with `urlopen`, over the thread's kept connection: 2xx answers are
        returned, others raised as `HTTPError`, a request that cannot be sent as `URLError`."""
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        connection = self._connection(parts)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            try:
                connection.request(req.get_method(), target, req.data, dict(req.header_items()))
            except OSError as error:
                raise URLError(error) from error  # as urlopen raises it
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            connection.close()  # in an unknown state; the next call connects again
            raise
        if response.will_close:
            connection.close()
        if not 200 <= response.status < 300:
            raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers, "body": body.decode(charset)}

    def _connection(self, parts: SplitResult) -> HTTPConnection:
        """This thread's connection to the host of `parts`: connected on first use, and again once
        the server has closed it (say, after being idle)."""
        key = (os.getpid(), parts.scheme, parts.netloc)  # a forked child does not share its parent's
        held: tuple[tuple[int, str, str], HTTPConnection] | None = getattr(self._held, "connection", None)
        if held is not None and held[0] == key:
            connection = held[1]
            if connection.sock is not None and _closed_by_peer(connection.sock):
                connection.close()
            return connection
        if held is not None and held[0][0] == key[0]:
            held[1].close()
        host, port = parts.hostname or "", parts.port
        connection = (HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl) if parts.scheme == "https"
                      else HTTPConnection(host, port, timeout=self.timeout))
        self._held.connection = (key, connection)
        return connection


def _closed_by_peer(sock: Any) -> bool:
    """Whether an idle connection has something to read: the server's close (or stray bytes)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
