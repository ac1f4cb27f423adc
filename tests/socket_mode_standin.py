"""Slack's Socket Mode for tests: `apps.connections.open` plus a WebSocket server (stdlib only, RFC 6455).

    server = SocketModeServer().start()
    with SocketModeStandIn(server) as standin:          # the Web API stand-in, answering apps.connections.open
        ... run the app with SLACK_APP_TOKEN=xapp-…, SLACK_API_URL=standin.api_url
        server.wait_connected()
        ack = server.request("slash_commands", {...command fields...})   # the app's {"envelope_id", "payload"?}
    server.stop()

What Slack does, and so what this does: `apps.connections.open` (app-level `xapp-` token only)
answers a one-time `ws(s)://…/link/?ticket=…` URL; on connect the server sends
`{"type": "hello", "num_connections": n, "debug_info": {...}, "connection_info": {"app_id": …}}`;
each request is an envelope `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api",
"payload", "accepts_response_payload"}` the app must ack with `{"envelope_id", "payload"?}`;
`{"type": "disconnect", "reason": "refresh_requested"}` asks the app to reconnect to a new URL.
Server frames are unmasked, client frames masked; pings are answered with pongs.

`socket_transport(server)` lets `tests.slack_requests.SlackSender` build commands, clicks and
submissions exactly as for HTTP and deliver them as envelopes instead.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.slack_requests import Reply
from tests.slack_standin import APP_ID, SlackStandIn

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class WebSocketClosed(Exception):
    """The peer closed the connection (or it broke)."""


def accept_key(key: str) -> str:
    """`Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def encode_frame(opcode: int, payload: bytes, *, mask: bool = False) -> bytes:
    """One final frame (servers send unmasked frames; clients must mask theirs)."""
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    length = len(payload)
    if length < 126:
        head += bytes([bit | length])
    elif length < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = uuid.uuid4().bytes[:4]
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Connection:
    """One WebSocket connection from the app, served by its own reader thread."""

    def __init__(self, server: SocketModeServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.path = ""
        self.open = False
        self.pings = 0
        self.unmasked_frames = 0  # client frames that broke the rule that clients mask
        self._send_lock = threading.Lock()

    # -- the wire ----------------------------------------------------------------------

    def _recv_exact(self, size: int) -> bytes:
        chunks = b""
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise WebSocketClosed("connection closed by the app")
            chunks += chunk
        return chunks

    def _read_frame(self) -> tuple[int, bool, bytes]:
        first, second = self._recv_exact(2)
        opcode, fin, masked, length = first & 0x0F, bool(first & 0x80), bool(second & 0x80), second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._recv_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._recv_exact(8))
        key = self._recv_exact(4) if masked else b""
        data = self._recv_exact(length)
        if masked:
            data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
        else:
            self.unmasked_frames += 1
        return opcode, fin, data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if not self.open:
                raise WebSocketClosed(f"connection {self.number} is closed")
            self.sock.sendall(encode_frame(opcode, payload))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(TEXT, json.dumps(message).encode())

    def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(OSError, WebSocketClosed):
            self.send_frame(CLOSE, struct.pack("!H", code) + reason.encode())
        self._shut()

    def _shut(self) -> None:
        with self._send_lock:
            self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    # -- serving -----------------------------------------------------------------------

    def _handshake(self) -> bool:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.sock.recv(1024)
            if not chunk:
                return False
            request += chunk
            if len(request) > 16384:
                return False
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, self.path, _version = [*head[0].split(" "), "", "", ""][:3]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        ticket = (parse_qs(self.path.partition("?")[2]).get("ticket") or [""])[0]
        if (method != "GET" or headers.get("upgrade", "").lower() != "websocket"
                or "sec-websocket-key" not in headers or not self.server.take_ticket(ticket)):
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        self.sock.sendall((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(headers['sec-websocket-key'])}\r\n\r\n"
        ).encode())
        return True

    def serve(self) -> None:
        try:
            if not self._handshake():
                self._shut()
                return
            with self._send_lock:
                self.open = True
            self.server.connected(self)
            self.send_json({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            })
            message = b""
            while True:
                opcode, fin, data = self._read_frame()
                if opcode == PING:
                    self.pings += 1
                    self.send_frame(PONG, data)
                elif opcode == CLOSE:
                    self.close(1000)
                    return
                elif opcode in (TEXT, 0x0):
                    message += data
                    if fin:
                        self.server.received(self, message.decode("utf-8"))
                        message = b""
        except (OSError, WebSocketClosed, ValueError):
            pass
        finally:
            if self.open:
                self._shut()
            self.server.disconnected(self)


@dataclass
class SocketModeServer:
    """A Socket Mode WebSocket endpoint on 127.0.0.1 and a free port.

    Attributes:
        acks: the app's acks by envelope id.
        messages: every text message the app sent, parsed (or `{"_raw": text}`).
    """

    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    tickets_issued: int = 0
    _tickets: set[str] = field(default_factory=set)
    _cond: threading.Condition = field(default_factory=lambda: threading.Condition(threading.RLock()))
    _listener: socket.socket | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def start(self) -> SocketModeServer:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, name="socket-mode-accept", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for connection in self.open_connections():
            connection.close(1001, "going away")

    def __enter__(self) -> SocketModeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "not started"
        return int(self._listener.getsockname()[1])

    def new_url(self) -> str:
        """A fresh one-time URL, as `apps.connections.open` answers."""
        with self._cond:
            self.tickets_issued += 1
            ticket = uuid.uuid4().hex
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    def take_ticket(self, ticket: str) -> bool:
        with self._cond:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
                return True
            return False

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            connection = Connection(self, sock, next(self._numbers))
            threading.Thread(target=connection.serve, name=f"socket-mode-{connection.number}", daemon=True).start()

    # -- events from connections -------------------------------------------------------

    def connected(self, connection: Connection) -> None:
        with self._cond:
            self.connections.append(connection)
            self._cond.notify_all()

    def disconnected(self, connection: Connection) -> None:
        with self._cond:
            self._cond.notify_all()

    def received(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = {"_raw": text}
        with self._cond:
            self.messages.append(message)
            if isinstance(message, dict) and message.get("envelope_id"):
                self.acks[str(message["envelope_id"])] = message
            self._cond.notify_all()

    # -- what tests use ----------------------------------------------------------------

    def open_connections(self) -> list[Connection]:
        with self._cond:
            return [c for c in self.connections if c.open]

    def wait(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what} not within {timeout}s; the app sent {self.messages}")
                self._cond.wait(remaining)

    def wait_connected(self, count: int = 1, timeout: float = 15.0) -> Connection:
        """Wait until `count` connections were opened in all; returns the newest open one."""
        self.wait(lambda: len(self.connections) >= count and bool(self.open_connections()), timeout,
                  f"{count} Socket Mode connection(s)")
        return self.open_connections()[-1]

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool | None = None,
             **extra: Any) -> str:
        """Send an envelope over the newest open connection; returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or payload.get("type") in (
                "view_submission", "block_suggestion")
        connection = self.wait_connected()
        connection.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                              "accepts_response_payload": accepts_response_payload, **extra})
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The app's ack of an envelope (Slack gives it 3 seconds)."""
        self.wait(lambda: envelope_id in self.acks, timeout, f"the ack of envelope {envelope_id}")
        with self._cond:
            return self.acks[envelope_id]

    def request(self, kind: str, payload: dict[str, Any], timeout: float = 3.0, **extra: Any) -> dict[str, Any]:
        """Send an envelope and return the app's ack."""
        return self.wait_ack(self.send(kind, payload, **extra), timeout)

    def refresh(self, timeout: float = 15.0) -> Connection:
        """Refresh the connection as Slack does every few hours: ask the app to reconnect, wait for
        its new connection, then close the old one. Returns the new connection."""
        old = self.wait_connected()
        with self._cond:
            count = len(self.connections)
        old.send_json({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-standin"}})
        new = self.wait_connected(count + 1, timeout)
        old.close(1000, "refreshed")
        return new


class SocketModeStandIn(SlackStandIn):
    """The Web API stand-in, also answering `apps.connections.open` with `server`'s URLs."""

    def __init__(self, server: SocketModeServer) -> None:
        super().__init__()
        self.socket_mode = server

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> Any:
        if method != "apps.connections.open":
            return super()._answer(method, params, token)
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if not token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if self.valid_tokens is not None and token not in self.valid_tokens:  # a revoked app-level token
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return 200, {"ok": True, "url": self.socket_mode.new_url()}, {}


def socket_transport(server: SocketModeServer, timeout: float = 3.0) -> Any:
    """A `SlackSender` transport: each request goes to the app as a Socket Mode envelope.

    A slash command's form fields become a `slash_commands` payload, an interaction's `payload`
    field an `interactive` one, a JSON event body an `events_api` one; the ack comes back as a
    `Reply` (200, the ack's `payload` as the body; 504 when no ack came within `timeout`).
    """

    def send(body: bytes, headers: dict[str, str]) -> Reply:
        if "json" in headers.get("Content-Type", ""):
            kind, payload = "events_api", json.loads(body)
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
            if "payload" in form:
                kind, payload = "interactive", json.loads(form["payload"])
            else:
                kind, payload = "slash_commands", form
        envelope_id = server.send(kind, payload)
        try:
            ack = server.wait_ack(envelope_id, timeout)
        except AssertionError:
            return Reply(504, {}, "", None)
        answer = ack.get("payload")
        return Reply(200, {}, json.dumps(answer) if answer is not None else "", answer)

    return send
