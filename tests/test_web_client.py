"""`KeepAliveWebClient`: Slack's answers over one kept connection per thread, and otherwise what
slack_sdk's `WebClient` does (the same answers, errors and retries), against the Slack stand-in."""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from handoff_bot.slack import web_client
from handoff_bot.slack.web_client import KeepAliveWebClient, KeptRespond, retry_after
from tests.slack_standin import BOT_USER_ID, SlackStandIn, https_standin

CLIENTS = [WebClient, KeepAliveWebClient]


def client(cls: type[WebClient], url: str, **kwargs: Any) -> WebClient:
    """A client of `url`; a `KeepAliveWebClient` keeps connections to plain-HTTP stand-ins too."""
    if cls is KeepAliveWebClient:
        kwargs.setdefault("keep_plain_http", True)
    return cls(token="xoxb-test", base_url=url, timeout=5, **kwargs)


class _Server(BaseHTTPRequestHandler):
    """A small Web API server of HTTP/1.1 (so a client may keep its connection), answering as a test needs."""

    protocol_version = "HTTP/1.1"
    OK = b'{"ok": true, "user_id": "UBOT"}'

    def answer(self, status: int = 200, body: bytes = OK, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json; charset=utf-8", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_request(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(handler: type[_Server]) -> Iterator[str]:
    """Serve `handler` on a free loopback port; yields its Web API address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def test_calls_from_one_thread_go_over_one_connection(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url)
    assert slack.auth_test()["user_id"] == BOT_USER_ID
    assert slack.users_info(user=BOT_USER_ID)["user"]["id"] == BOT_USER_ID
    posted = slack.chat_postMessage(channel="C0ONE", text="one", blocks=[])
    assert standin.message("C0ONE", posted["ts"])["text"] == "one"
    assert len({c.peer for c in standin.calls}) == 1

    plain = client(WebClient, standin.api_url)  # what slack_sdk does alone: a connection per call
    plain.auth_test()
    plain.auth_test()
    assert len({c.peer for c in standin.calls}) == 3


def test_a_plain_http_address_gets_a_connection_per_call_as_from_webclient(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url, keep_plain_http=False)  # as `python app.py` makes it
    slack.auth_test()
    slack.auth_test()
    assert len({c.peer for c in standin.calls}) == 2  # a stand-in serving one connection at a time still answers


class _AnswersBeforeReading(_Server):
    """Answers every other request 429 without reading its body, as a fault-injecting stand-in may."""

    answered = 0

    def do_POST(self) -> None:
        type(self).answered += 1
        if self.answered % 2 == 0:
            self.answer(429, b'{"ok": false, "error": "ratelimited"}', {"Retry-After": "0"})
        else:
            self.read_request()
            self.answer()


def test_a_connection_is_not_used_again_after_an_error_answer() -> None:
    with serving(_AnswersBeforeReading) as url:
        slack = client(KeepAliveWebClient, url, retry_handlers=[])
        outcomes = []
        for _ in range(4):
            try:
                outcomes.append(slack.chat_postMessage(channel="C0ONE", text="x" * 2000)["ok"])
            except SlackApiError as error:
                outcomes.append(error.response.status_code)
        assert outcomes == [True, 429, True, 429]  # the unread request did not spoil the next one


def test_each_thread_has_its_own_connection(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url)
    threads = [threading.Thread(target=lambda: [slack.auth_test() for _ in range(3)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(standin.calls) == 12 and len({c.peer for c in standin.calls}) == 4


@pytest.mark.parametrize("cls", CLIENTS)
def test_errors_and_retries_are_webclients(standin: SlackStandIn, cls: type[WebClient]) -> None:
    slack = client(cls, standin.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    standin.fail("users.info", 429, times=1, retry_after=0)
    assert slack.users_info(user=BOT_USER_ID)["ok"]  # retried after the 429, as Retry-After says
    standin.fail("users.info", 500, times=1)
    with pytest.raises(SlackApiError) as failed:
        slack.users_info(user=BOT_USER_ID)
    assert failed.value.response.status_code == 500
    with pytest.raises(SlackApiError) as refused:
        slack.users_info(user="U0NOBODY")
    assert (refused.value.response.status_code, refused.value.response["error"]) == (200, "user_not_found")
    assert slack.auth_test()["ok"]  # the connection is still good after the errors


class _ClosesWhenIdle(_Server):
    """Answers one request (so the client may keep the connection), then closes it without saying so:
    what a server does to a connection left idle past its timeout."""

    closed = threading.Semaphore(0)

    def do_POST(self) -> None:
        self.read_request()
        self.answer()
        self.close_connection = True

    def finish(self) -> None:
        super().finish()
        self.connection.close()
        self.closed.release()


def test_a_connection_the_server_closed_is_replaced_before_the_next_call() -> None:
    with serving(_ClosesWhenIdle) as url:
        slack = client(KeepAliveWebClient, url, retry_handlers=[])  # no retry would hide a failed call
        for _ in range(3):
            assert slack.auth_test()["ok"]
            assert _ClosesWhenIdle.closed.acquire(timeout=5)


class _DropsTheSecondRequest(_Server):
    """Answers the first request of each connection and closes the connection on the second without an
    answer: a kept connection a proxy dropped as the next request arrived."""

    requests: list[int] = []

    def handle(self) -> None:
        self.handle_one_request()
        self.close_connection = False
        self.raw_requestline = self.rfile.readline()
        self.requests.append(2)  # read, and dropped unanswered

    def do_POST(self) -> None:
        self.requests.append(1)
        self.read_request()
        self.answer()


def test_a_request_a_dropped_kept_connection_did_not_answer_goes_once_more_on_a_new_one() -> None:
    with serving(_DropsTheSecondRequest) as url:
        slack = client(KeepAliveWebClient, url, retry_handlers=[])
        assert slack.auth_test()["ok"] and slack.auth_test()["ok"]
        assert _DropsTheSecondRequest.requests == [1, 2, 1]


def test_a_connection_idle_too_long_is_not_used_again(standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_client, "IDLE_LIMIT", 0.0)  # every connection has been idle too long by the next call
    slack = client(KeepAliveWebClient, standin.api_url)
    slack.auth_test()
    slack.auth_test()
    assert len({c.peer for c in standin.calls}) == 2


def test_a_forked_process_does_not_use_its_parents_connection(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url)
    slack.auth_test()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the worker process `python app.py` forks does so
        code = 1
        try:
            code = 0 if slack.auth_test()["ok"] else 1
            os.write(writer, b"ok")
        finally:
            os._exit(code)
    os.close(writer)
    assert slack.auth_test()["ok"]
    assert os.waitpid(child, 0)[1] == 0 and os.read(reader, 2) == b"ok"
    os.close(reader)
    peers = [c.peer for c in standin.calls]
    assert len(peers) == 3 and len(set(peers)) == 2 and peers.count(peers[0]) == 2  # the parent's, twice


def test_over_https_certificates_are_checked_and_the_connection_is_kept(tls_certificate: Path) -> None:
    with https_standin(tls_certificate) as slack:
        with pytest.raises(URLError, match="CERTIFICATE_VERIFY_FAILED"):  # not trusted: refused, as by urlopen
            client(KeepAliveWebClient, slack.api_url, retry_handlers=[]).auth_test()
        trusting = client(KeepAliveWebClient, slack.api_url,
                          ssl=ssl.create_default_context(cafile=str(tls_certificate)), keep_plain_http=False)
        assert trusting.auth_test()["ok"] and trusting.users_info(user=BOT_USER_ID)["ok"]
        assert len({c.peer for c in slack.calls}) == 1


def test_answers_through_a_response_url_share_the_threads_connection(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url)
    assert KeptRespond(slack, standin.new_response_url())(text="one", response_type="ephemeral").status_code == 200
    assert slack.auth_test()["ok"]
    assert KeptRespond(slack, standin.new_response_url())({"text": "two", "replace_original": False}).body == "ok"
    answers = standin.calls_to("response_url")
    assert [(a.params["text"], a.params.get("response_type"), a.params.get("replace_original")) for a in answers] == [
        ("one", "ephemeral", None), ("two", None, False)]
    assert len({c.peer for c in standin.calls}) == 1

    plain = client(WebClient, standin.api_url)  # Bolt's respond: a connection per answer
    KeptRespond(plain, standin.new_response_url())(text="three")
    KeptRespond(plain, standin.new_response_url())(text="four")
    assert len({c.peer for c in standin.calls}) == 3


def test_a_response_url_that_refuses_is_answered_as_by_bolts_respond(standin: SlackStandIn) -> None:
    slack = client(KeepAliveWebClient, standin.api_url)
    url = standin.new_response_url()
    standin.fail("response_url", 500, times=1)
    assert KeptRespond(slack, url)(text="lost").status_code == 500  # returned, not raised, as by WebhookClient
    assert KeptRespond(slack, url)(text="kept").status_code == 200
    assert KeptRespond(slack, f"{standin.base_url}/response/999")(text="x").status_code == 404
    assert [c.params["text"] for c in standin.calls_to("response_url")] == ["kept", "x"]
    with pytest.raises(ValueError, match="no response_url"):
        KeptRespond(slack, None)(text="nowhere")


def test_without_a_context_of_its_own_the_client_trusts_ssl_cert_file_for_calls_and_answers(
        tls_certificate: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate))  # as the benchmarks trust their stand-in
    with https_standin(tls_certificate) as slack:
        api = client(KeepAliveWebClient, slack.api_url, keep_plain_http=False)
        assert api.auth_test()["ok"]
        assert KeptRespond(api, slack.new_response_url())(text="over TLS").status_code == 200
        assert len({c.peer for c in slack.calls}) == 1


@pytest.mark.parametrize(("value", "seconds"), [
    ("30", 30.0), (" 1.5 ", 1.5), ("0", 0.0), (["2"], 2.0),
    ("Mon, 02 Mar 2026 10:00:30 GMT", 30.0), ("Mon, 02 Mar 2026 09:00:00 GMT", 0.0),  # a date past: at once
    ("-1", None), ("1e3", None), ("nan", None), ("soon", None), ("", None), ([], None), (None, None),
    ("9" * 40, None),  # no timedelta holds that
])
def test_retry_after_reads_seconds_and_dates_and_nothing_else(value: Any, seconds: float | None) -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    headers = {} if value is None else {"retry-after": value}
    assert retry_after(headers, now) == seconds
