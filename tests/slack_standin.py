"""A stand-in for Slack's Web API: a real HTTP server the real `slack_sdk.WebClient` talks to.

    with SlackStandIn() as standin:
        client = WebClient(token="xoxb-test", base_url=standin.api_url)
        standin.add_user("U1", "ada")
        client.chat_postMessage(channel="U1", text="hi")
        [call] = standin.calls_to("chat.postMessage", channel="U1")

It answers in Slack's shapes, keeps the messages and views the bot made (so a test can read the
latest version of a card), serves `response_url`s and upload URLs, checks every Block Kit payload
against Slack's limits (`tests/blockkit.py`, recorded in `violations`), and can inject 429s, 5xx,
refusals (`{"ok": false, "error": …}` for chosen calls) and slow answers.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import ssl
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from tests.blockkit import check_blocks, check_message_text, check_view

TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "handoff-test"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
BOT_NAME = "handoff"
APP_ID = "A0HANDOFF"
TRIGGER_TTL = 3.0  # seconds a trigger_id may be exchanged, as on Slack
RESPONSE_URL_USES = 5  # a response_url works five times

# Fields that may arrive as JSON strings (slack_sdk sends them so in form bodies).
_JSON_FIELDS = ("blocks", "view", "attachments", "files", "metadata")

Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, extra headers
_FAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass
class Call:
    """One request the bot made.

    Attributes:
        method: the Web API method (`chat.postMessage`), or `response_url` / `file_upload`.
        params: query, form and JSON parameters merged; JSON-in-form fields decoded.
        token: the token from the Authorization header (or the `token` parameter).
        at: when it arrived (`time.time()`).
        fault: the HTTP status of an injected failure (the call took no effect), else None; 200 for an
            injected refusal (`refuse()`).
        delayed: seconds the answer was held back by `delay()`.
        response: the JSON the stand-in answered (None for faults and non-API URLs).
        path: the URL path requested.
        peer: the client's address and port: calls with the same one came over one connection.
        user: for `response_url`: the user whose request it came with (when the request said).
    """

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    fault: int | None = None
    delayed: float = 0.0
    response: dict[str, Any] | None = None
    path: str = ""
    peer: str = ""
    user: str | None = None

    @property
    def ok(self) -> bool:
        """Whether Slack accepted the call."""
        return self.fault is None and bool(self.response and self.response.get("ok"))


@dataclass
class _Trigger:
    issued: float
    used: bool = False


@dataclass
class _ResponseUrl:
    channel: str | None
    ts: str | None
    user: str | None = None
    uses: int = 0


@dataclass
class _Refusal:
    method: str
    error: str
    match: dict[str, Any]
    left: int | None  # None: every matching call


@dataclass
class _Faults:
    queued: dict[str, list[tuple[int, float | str]]] = field(default_factory=dict)  # method -> [(status, retry_after)]
    refusals: list[_Refusal] = field(default_factory=list)
    ratio_methods: frozenset[str] = frozenset()
    ratio: float = 0.0
    ratio_retry_after: int = 1
    rng: random.Random = field(default_factory=random.Random)
    delays: dict[str, float] = field(default_factory=dict)


def dm_channel(user_id: str) -> str:
    """The IM channel id the stand-in gives the bot's DM with `user_id` (`U1` → `D1`)."""
    return "D" + user_id[1:] if user_id[:1] in ("U", "W") else user_id


def self_signed_certificate(directory: Path) -> Path | None:
    """A throwaway self-signed certificate for 127.0.0.1 in `directory` (its key beside it, `.key`),
    made with the `openssl` command; None without one."""
    if shutil.which("openssl") is None:
        return None
    certificate = directory / "127.0.0.1.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(certificate.with_suffix(".key")), "-out", str(certificate), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return certificate


def tls_context(certificate: Path) -> ssl.SSLContext:
    """A server-side context serving `certificate` (from `self_signed_certificate`)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, certificate.with_suffix(".key"))
    return context


def https_standin(certificate: Path) -> SlackStandIn:
    """A stand-in serving HTTPS with `certificate` (from `self_signed_certificate`); a client trusts it
    through `SSL_CERT_FILE` or an SSL context loading it."""
    return SlackStandIn(tls=tls_context(certificate))


class SlackStandIn:
    """Slack's Web API on 127.0.0.1 and a free port; thread-safe; usable as a context manager."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server-side context to serve HTTPS with, as Slack does (default: plain HTTP)."""
        self.tls = tls
        self.valid_tokens: set[str] | None = None  # None: any token is accepted
        self.trigger_ttl = TRIGGER_TTL
        self.violations: list[str] = []
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._homes: dict[str, str] = {}  # user id -> view id
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[int, _ResponseUrl] = {}
        self._uploads: dict[str, bytes] = {}
        self._faults = _Faults()
        self._serial = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.add_user(BOT_USER_ID, BOT_NAME, is_bot=True)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> SlackStandIn:
        """Listen on 127.0.0.1 and a free port, serving from a daemon thread."""
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (`https://` with `tls`)"""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The Web API base for `WebClient(base_url=...)`: `http://127.0.0.1:PORT/api/`."""
        return self.base_url + "/api/"

    # ----------------------------------------------------------------- recorded calls

    @property
    def calls(self) -> list[Call]:
        """Every call so far, oldest first (a copy)."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str, *, include_faults: bool = False, **match: Any) -> list[Call]:
        """Calls to `method` whose params equal every `match` value (injected faults left out).

        Example: `calls_to("chat.postMessage", channel="U1")`.
        """
        return [c for c in self.calls if _matches(c, method, include_faults, match)]

    def private_answers(self, user: str | None = None, since: int = 0) -> list[str]:
        """The texts of the answers only one user sees (`user`, or anyone), in the order sent from the
        `since`-th call on: ephemeral messages, and answers beside their requests (an ephemeral
        `response_url` answer)."""
        return [c.params.get("text", "") for c in self.calls[since:] if c.ok and (
            (c.method == "chat.postEphemeral" and user in (None, c.params.get("user")))
            or (c.method == "response_url" and user in (None, c.user)
                and c.params.get("response_type") == "ephemeral"))]

    def clear(self) -> None:
        """Forget the recorded calls and violations (messages, views and users stay)."""
        with self._cond:
            self._calls.clear()
            self.violations.clear()

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 5.0) -> list[Call]:
        """Block until `predicate(calls)` holds, woken by every new call; return the calls.

        Raises:
            AssertionError: not within `timeout` seconds; the message lists every call.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                calls = list(self._calls)
                if predicate(calls):
                    return calls
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no such calls within {timeout}s; calls were:\n{self.dump()}")
                self._cond.wait(remaining)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0, **match: Any) -> list[Call]:
        """Block until at least `count` calls to `method` match (faults left out); return those calls."""
        calls = self.wait_for(lambda cs: sum(_matches(c, method, False, match) for c in cs) >= count, timeout)
        return [c for c in calls if _matches(c, method, False, match)]

    def dump(self) -> str:
        """The calls, one a line, for assertion messages."""
        lines = []
        for number, call in enumerate(self.calls):
            outcome = f"fault {call.fault}" if call.fault else json.dumps(call.response, default=str)[:160]
            lines.append(f"  {number}: {call.method} {json.dumps(call.params, default=str)[:400]} -> {outcome}")
        return "\n".join(lines) or "  (none)"

    # ----------------------------------------------------------------- workspace state

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str | None = None,
        tz: str = "America/New_York",
        locale: str = "en-US",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """Make `users.info` know a user; returns the user object it will answer."""
        name = name or user_id.lower()
        real_name = real_name or name.title()
        offset = ZoneInfo(tz).utcoffset(datetime.now(timezone.utc))
        user = {
            "id": user_id, "team_id": TEAM_ID, "name": name, "real_name": real_name, "deleted": deleted,
            "tz": tz, "tz_label": tz, "tz_offset": int(offset.total_seconds()) if offset else 0,
            "locale": locale, "is_bot": is_bot, "is_app_user": False, "is_admin": False,
            "profile": {"display_name": name, "real_name": real_name, "team": TEAM_ID},
        }
        with self._cond:
            self._users[user_id] = user
        return _copy(user)

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user object `users.info` answers for `user_id`, or None."""
        with self._cond:
            return _copy(self._users.get(user_id))

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """The latest version of a message the bot posted (a user id means the bot's DM with them).

        Raises:
            KeyError: no such message (never posted, or deleted).
        """
        with self._cond:
            return _copy(self._messages[dm_channel(channel)][ts])

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message the bot has in a channel (or DM with a user id), oldest first."""
        with self._cond:
            found = self._messages.get(dm_channel(channel), {})
            return [_copy(found[ts]) for ts in sorted(found)]

    def view(self, view_id: str) -> dict[str, Any]:
        """The current version of a view, as Slack holds it (with id, hash, state)."""
        with self._cond:
            return _copy(self._views[view_id])

    def last_view(self, callback_id: str | None = None) -> dict[str, Any]:
        """The view of the latest successful views.open/push/update (optionally with this callback_id).

        Raises:
            AssertionError: the bot opened no such view.
        """
        for call in reversed(self.calls):
            if call.method in ("views.open", "views.push", "views.update") and call.ok:
                assert call.response is not None
                view = self.view(call.response["view"]["id"])
                if callback_id is None or view.get("callback_id") == callback_id:
                    return view
        raise AssertionError(f"no view with callback_id {callback_id!r} was opened; calls were:\n{self.dump()}")

    def home(self, user_id: str) -> dict[str, Any]:
        """The Home tab last published for a user.

        Raises:
            KeyError: nothing was published for them.
        """
        with self._cond:
            return self.view(self._homes[user_id])

    def upload(self, file_id: str) -> bytes:
        """The bytes uploaded for a file id from files.getUploadURLExternal."""
        with self._cond:
            return self._uploads[file_id]

    def new_trigger_id(self) -> str:
        """A fresh trigger_id, valid for one views.open/push within three seconds."""
        with self._cond:
            self._serial += 1
            trigger_id = f"{self._serial}{random.randrange(10**9)}.{TEAM_ID[1:]}.{random.getrandbits(128):032x}"
            self._triggers[trigger_id] = _Trigger(time.monotonic())
            return trigger_id

    def new_response_url(self, channel: str | None = None, ts: str | None = None, user: str | None = None) -> str:
        """A response_url (`http://127.0.0.1:PORT/response/<n>`), tied to a message when given, for a
        request of `user` (recorded with each call to it)."""
        with self._cond:
            self._serial += 1
            self._response_urls[self._serial] = _ResponseUrl(dm_channel(channel) if channel else None, ts, user)
            return f"{self.base_url}/response/{self._serial}"

    # ----------------------------------------------------------------- fault injection

    def fail(self, method: str, status: int = 429, times: int = 1, retry_after: float | str = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP `status` (429 carries Retry-After: seconds,
        or any text, such as an HTTP date).

        The failed calls take no effect and are recorded with `call.fault = status`.
        `method` may also be `response_url`.
        """
        with self._cond:
            self._faults.queued.setdefault(method, []).extend([(status, retry_after)] * times)

    def refuse(self, method: str, error: str, times: int | None = None, **match: Any) -> None:
        """Answer calls to `method` whose params equal every `match` value as Slack refuses one:
        HTTP 200 `{"ok": false, "error": error}` (the next `times` of them; every one when None).

        The refused calls take no effect and are recorded with `call.fault = 200`.
        """
        with self._cond:
            self._faults.refusals.append(_Refusal(method, error, match, times))

    def fail_ratio(self, methods: str | Iterable[str], ratio: float, seed: int = 0, retry_after: int = 1) -> None:
        """Fail that share of calls to `methods` (`*`: all), each with 429 or 500, drawn from `seed`.

        `ratio=0` turns it off.
        """
        with self._cond:
            self._faults.ratio_methods = frozenset([methods] if isinstance(methods, str) else methods)
            self._faults.ratio = ratio
            self._faults.ratio_retry_after = retry_after
            self._faults.rng = random.Random(seed)

    def delay(self, method: str, seconds: float) -> None:
        """Hold back every answer to `method` by `seconds` (the call takes effect first); 0 stops."""
        with self._cond:
            if seconds > 0:
                self._faults.delays[method] = seconds
            else:
                self._faults.delays.pop(method, None)

    # ----------------------------------------------------------------- request handling

    def _handle(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        try:
            status, content_type, payload, headers = self._route(parts.path, parts.query, body, request)
        except Exception:  # noqa: BLE001 - a stand-in bug: made loud through the fixture's violations check
            with self._cond:
                self.violations.append(f"stand-in error on {parts.path}:\n{traceback.format_exc()}")
            status, content_type, payload, headers = 500, "application/json", b'{"ok": false}', {}
        # The bot may have given up waiting (a client timeout against `delay()`): that is its business.
        with contextlib.suppress(ConnectionError):
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(payload)

    def _route(self, path: str, query: str, body: bytes, request: _Handler) -> tuple[
        int, str, bytes, dict[str, str]
    ]:
        """Status, content type, body and extra headers of the answer to one request."""
        peer = "{}:{}".format(*request.client_address[:2])
        if path.startswith("/api/"):
            params = dict(parse_qsl(query))
            params.update(_body_params(body, request.headers.get("Content-Type", "")))
            token = _token(request.headers.get("Authorization"), params)
            status, answer, headers = self._api(path[len("/api/"):], params, token, path, peer)
            return status, "application/json; charset=utf-8", json.dumps(answer).encode(), headers
        if path.startswith("/response/"):
            status, text = self._response_url(path, body, peer)
            return status, "text/html", text.encode(), {}
        if path.startswith("/upload/"):
            file_id = path.rsplit("/", 1)[1]
            with self._cond:
                self._uploads[file_id] = body
                self._record(Call("file_upload", {"file_id": file_id, "size": len(body)}, None, time.time(), path=path))
            return 200, "text/plain", f"OK - {len(body)}".encode(), {}
        return 404, "text/plain", b"not found", {}

    def _api(self, method: str, params: dict[str, Any], token: str | None, path: str, peer: str) -> Answer:
        with self._cond:
            delayed = self._faults.delays.get(method, 0.0)
            call = Call(method, params, token, time.time(), delayed=delayed, path=path, peer=peer)
            fault = self._take_fault(method)
            refusal = self._take_refusal(method, params) if fault is None else None
            if fault is not None:
                status, retry_after = fault
                call.fault = status
                headers = {"Retry-After": str(retry_after)} if status == 429 else {}
                answer: Answer = (status, {"ok": False, "error": _FAULT_ERRORS.get(status, "internal_error")}, headers)
            elif refusal is not None:
                call.fault = 200
                answer = _error(refusal)
            else:
                answer = self._answer(method, params, token)
                call.response = answer[1]
            self._record(call)
        if delayed:
            time.sleep(delayed)
        return answer

    def _response_url(self, path: str, body: bytes, peer: str) -> tuple[int, str]:
        params = _body_params(body, "application/json")
        number = path.rsplit("/", 1)[1]
        with self._cond:
            delayed = self._faults.delays.get("response_url", 0.0)
            call = Call("response_url", params, None, time.time(), delayed=delayed, path=path, peer=peer)
            fault = self._take_fault("response_url")
            url = self._response_urls.get(int(number)) if number.isdigit() else None
            call.user = url.user if url else None
            if fault is not None:
                call.fault = status = fault[0]
                text = _FAULT_ERRORS.get(status, "internal_error")
            elif url is None:
                status, text = 404, "no_such_url"
            elif url.uses >= RESPONSE_URL_USES:
                status, text = 404, "used_url"
            else:
                url.uses += 1
                status, text = self._respond(url, params, path)
            if fault is None:
                call.response = {"ok": status == 200, "status": status, "text": text}
            self._record(call)
        if delayed:
            time.sleep(delayed)
        return status, text

    def _respond(self, url: _ResponseUrl, params: dict[str, Any], path: str) -> tuple[int, str]:
        problems = check_message_text(params.get("text"))
        if params.get("blocks") is not None:
            problems += check_blocks(params["blocks"], "message")
        if problems:
            self.violations += [f"response_url {path}: {p}" for p in problems]
            return 400, "invalid_blocks"
        known = url.channel is not None and url.ts in self._messages.get(url.channel, {})
        if known and _truthy(params.get("delete_original")):
            del self._messages[url.channel][url.ts]  # type: ignore[index, arg-type]
        elif known and _truthy(params.get("replace_original")):
            message = self._messages[url.channel][url.ts]  # type: ignore[index]
            message.update(text=params.get("text", ""), blocks=params.get("blocks", []))
        return 200, "ok"

    def _take_refusal(self, method: str, params: dict[str, Any]) -> str | None:
        for refusal in self._faults.refusals:
            if refusal.method == method and refusal.left != 0 and all(
                    params.get(k) == v for k, v in refusal.match.items()):
                if refusal.left is not None:
                    refusal.left -= 1
                return refusal.error
        return None

    def _take_fault(self, method: str) -> tuple[int, float | str] | None:
        queued = self._faults.queued.get(method)
        if queued:
            return queued.pop(0)
        faults = self._faults
        chosen = method in faults.ratio_methods or "*" in faults.ratio_methods
        if faults.ratio and chosen and faults.rng.random() < faults.ratio:
            return faults.rng.choice((429, 500)), faults.ratio_retry_after
        return None

    def _record(self, call: Call) -> None:
        self._calls.append(call)
        self._cond.notify_all()

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        if not token:
            return _error("not_authed")
        if self.valid_tokens is not None and token not in self.valid_tokens:
            return _error("invalid_auth")
        handler = _METHODS.get(method)
        if handler is None:
            return _error("unknown_method", req_method=method)
        return handler(self, params)

    # ----------------------------------------------------------------- Web API methods

    def _auth_test(self, params: dict[str, Any]) -> Answer:
        return _ok(
            url=f"https://{TEAM_DOMAIN}.slack.com/", team="Handoff Test", user=BOT_NAME, team_id=TEAM_ID,
            user_id=BOT_USER_ID, bot_id=BOT_ID, is_enterprise_install=False,
        )

    def _users_info(self, params: dict[str, Any]) -> Answer:
        user = self._users.get(str(params.get("user", "")))
        return _ok(user=_copy(user)) if user else _error("user_not_found")

    def _conversations_open(self, params: dict[str, Any]) -> Answer:
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users and not params.get("channel"):
            return _error("users_list_not_supplied")
        if len(users) > 1:
            return _ok(channel={"id": "G" + "".join(u[1:] for u in sorted(users))[:20]})
        return _ok(channel={"id": dm_channel(users[0]) if users else params["channel"]})

    def _check_message(self, method: str, params: dict[str, Any]) -> Answer | None:
        """Slack's checks on a message payload: something to show, text and blocks within limits."""
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            return _error("no_text")
        text_problems = check_message_text(params.get("text"))
        block_problems = check_blocks(params["blocks"], "message") if params.get("blocks") is not None else []
        self.violations += [f"{method}: {p}" for p in text_problems + block_problems]
        if block_problems:
            return _error("invalid_blocks", errors=block_problems, response_metadata={"messages": block_problems})
        if text_problems:
            return _error("msg_too_long", errors=text_problems)
        return None

    def _chat_post_message(self, params: dict[str, Any]) -> Answer:
        channel = _channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        refused = self._check_message("chat.postMessage", params)
        if refused:
            return refused
        ts = self._next_ts()
        message = {
            "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
            "ts": ts, "text": params.get("text", ""), "blocks": params.get("blocks", []),
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        self._messages.setdefault(channel, {})[ts] = message
        return _ok(channel=channel, ts=ts, message=_copy(message))

    def _chat_update(self, params: dict[str, Any]) -> Answer:
        channel = str(params.get("channel", ""))
        if channel[:1] not in ("C", "G", "D"):  # Slack wants the DM's D… id here, not a user id
            return _error("channel_not_found")
        message = self._messages.get(channel, {}).get(str(params.get("ts", "")))
        if message is None:
            return _error("message_not_found")
        refused = self._check_message("chat.update", params)
        if refused:
            return refused
        if "text" in params:
            message["text"] = params["text"]
        if "blocks" in params:
            message["blocks"] = params["blocks"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return _ok(channel=channel, ts=message["ts"], text=message["text"], message=_copy(message))

    def _chat_delete(self, params: dict[str, Any]) -> Answer:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if self._messages.get(channel, {}).pop(ts, None) is None:
            return _error("message_not_found")
        return _ok(channel=channel, ts=ts)

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> Answer:
        if _channel(params.get("channel")) is None:
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_in_channel")
        refused = self._check_message("chat.postEphemeral", params)
        return refused or _ok(message_ts=self._next_ts())

    def _chat_get_permalink(self, params: dict[str, Any]) -> Answer:
        channel, ts = str(params.get("channel", "")), str(params.get("message_ts", ""))
        if ts not in self._messages.get(channel, {}):
            return _error("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return _ok(channel=channel, permalink=link)

    def _take_trigger(self, trigger_id: Any) -> Answer | None:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            return _error("invalid_trigger_id")
        if trigger.used:
            return _error("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            return _error("expired_trigger_id")
        trigger.used = True
        return None

    def _check_view(self, method: str, view: Any) -> Answer | None:
        problems = check_view(view)
        if problems:
            self.violations += [f"{method}: {p}" for p in problems]
            return _error("invalid_arguments", errors=problems, response_metadata={"messages": problems})
        return None

    def _store_view(self, view: dict[str, Any], view_id: str | None = None, root: str | None = None) -> dict[str, Any]:
        self._serial += 1
        view_id = view_id or f"V{self._serial:08d}"
        stored = {
            "private_metadata": "", "callback_id": "", "external_id": "", "clear_on_close": False,
            "notify_on_close": False, **_copy(view),
            "id": view_id, "team_id": TEAM_ID, "state": {"values": {}}, "hash": f"1700000000.{self._serial:08x}",
            "previous_view_id": None, "root_view_id": root or view_id, "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID, "bot_id": BOT_ID,
        }
        self._views[view_id] = stored
        return _copy(stored)

    def _views_open(self, params: dict[str, Any]) -> Answer:
        refused = self._take_trigger(params.get("trigger_id")) or self._check_view("views.open", params.get("view"))
        if refused:
            return refused
        return _ok(view=self._store_view(params["view"]))

    def _views_push(self, params: dict[str, Any]) -> Answer:
        refused = self._take_trigger(params.get("trigger_id")) or self._check_view("views.push", params.get("view"))
        if refused:
            return refused
        return _ok(view=self._store_view(params["view"]))

    def _views_update(self, params: dict[str, Any]) -> Answer:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((k for k, v in self._views.items() if v.get("external_id") == params["external_id"]), None)
        current = self._views.get(str(view_id or ""))
        if current is None:
            return _error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return _error("hash_conflict")
        refused = self._check_view("views.update", params.get("view"))
        if refused:
            return refused
        return _ok(view=self._store_view(params["view"], current["id"], current["root_view_id"]))

    def _views_publish(self, params: dict[str, Any]) -> Answer:
        user_id = str(params.get("user_id", ""))
        if not user_id:
            return _error("invalid_arguments", errors=["user_id is required"])
        view = params.get("view")
        if isinstance(view, dict) and view.get("type") != "home":
            return _error("invalid_arguments", errors=["views.publish needs a home view"])
        current = self._views.get(self._homes.get(user_id, ""))
        if current and params.get("hash") and params["hash"] != current["hash"]:
            return _error("hash_conflict")
        refused = self._check_view("views.publish", view)
        if refused:
            return refused
        stored = self._store_view(view, current["id"] if current else None)  # type: ignore[arg-type]
        self._homes[user_id] = stored["id"]
        return _ok(view=stored)

    def _files_get_upload_url(self, params: dict[str, Any]) -> Answer:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return _error("invalid_arguments")
        self._serial += 1
        file_id = f"F{self._serial:08d}"
        return _ok(upload_url=f"{self.base_url}/upload/{file_id}", file_id=file_id)

    def _files_complete_upload(self, params: dict[str, Any]) -> Answer:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        missing = [f.get("id") for f in files if f.get("id") not in self._uploads]
        if missing:
            return _error("file_not_found", files=missing)
        return _ok(files=[
            {"id": f["id"], "title": f.get("title") or f["id"], "name": f.get("title") or f["id"],
             "size": len(self._uploads[f["id"]])}
            for f in files
        ])

    def _next_ts(self) -> str:
        """Message timestamps strictly increasing: 1700000000.000100, 1700000000.000200, …"""
        self._serial += 1
        micro = self._serial * 100
        return f"{1700000000 + micro // 1_000_000}.{micro % 1_000_000:06d}"


_METHODS: dict[str, Callable[[SlackStandIn, dict[str, Any]], Answer]] = {
    "auth.test": SlackStandIn._auth_test,
    "users.info": SlackStandIn._users_info,
    "conversations.open": SlackStandIn._conversations_open,
    "chat.postMessage": SlackStandIn._chat_post_message,
    "chat.update": SlackStandIn._chat_update,
    "chat.delete": SlackStandIn._chat_delete,
    "chat.postEphemeral": SlackStandIn._chat_post_ephemeral,
    "chat.getPermalink": SlackStandIn._chat_get_permalink,
    "views.open": SlackStandIn._views_open,
    "views.push": SlackStandIn._views_push,
    "views.update": SlackStandIn._views_update,
    "views.publish": SlackStandIn._views_publish,
    "files.getUploadURLExternal": SlackStandIn._files_get_upload_url,
    "files.completeUploadExternal": SlackStandIn._files_complete_upload,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Slack takes every connection. socketserver's backlog of 5 does not: connections beyond it
    # while the threads are busy were dropped, and each client waited a second to send its SYN again.
    request_queue_size = 1024


class _Handler(BaseHTTPRequestHandler):
    owner: SlackStandIn
    protocol_version = "HTTP/1.1"  # as Slack: connections stay open between calls
    disable_nagle_algorithm = True  # headers and body are two writes: the body must not wait for an ACK

    def do_POST(self) -> None:
        self.owner._handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


def _body_params(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    params: dict[str, Any]
    if "json" in content_type:
        loaded = json.loads(body)
        params = loaded if isinstance(loaded, dict) else {"_body": loaded}
    else:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for name in _JSON_FIELDS:  # Slack also takes these as JSON strings, in form and JSON bodies alike
        value = params.get(name)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            params[name] = json.loads(value)
    return params


def _token(authorization: str | None, params: dict[str, Any]) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization[len("Bearer "):]
    return params.get("token")


def _channel(channel: Any) -> str | None:
    """The conversation a message goes to: a user id means the bot's DM with them."""
    if not isinstance(channel, str) or channel[:1] not in ("C", "G", "D", "U", "W"):
        return None
    return dm_channel(channel)


def _truthy(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _matches(call: Call, method: str, include_faults: bool, match: dict[str, Any]) -> bool:
    if call.method != method or (call.fault is not None and not include_faults):
        return False
    return all(call.params.get(k) == v for k, v in match.items())


def _ok(**fields: Any) -> Answer:
    return 200, {"ok": True, **fields}, {}


def _error(error: str, **fields: Any) -> Answer:
    return 200, {"ok": False, "error": error, **fields}, {}


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (a round trip through JSON: several times faster than `copy.deepcopy`)."""
    return json.loads(json.dumps(value))
