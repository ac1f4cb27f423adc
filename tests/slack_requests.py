"""Requests to the bot built and signed exactly as Slack builds and signs them.

    sender = SlackSender(app_url, SIGNING_SECRET, standin)
    reply = sender.command("U1", "fix the invoice")
    view = standin.last_view("handoff_create")
    sender.view_submission("U1", view, {"title": {"title": text_value("Fix it")}})

By default the requests go over HTTP to `base_url + "/slack/events"`; `bolt_transport(app)` hands
them to a Bolt app in-process instead (same bytes, same signature check).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlencode

from slack_bolt import App, BoltRequest

from tests.slack_standin import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, SlackStandIn, dm_channel

VERIFICATION_TOKEN = "verification-token-deprecated"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Reply(NamedTuple):
    """The bot's HTTP answer. Header names are lower-case; `json` is None when the body is not JSON."""

    status: int
    headers: dict[str, str]
    text: str
    json: Any


Transport = Callable[[bytes, dict[str, str]], Reply]


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Slack's signature headers: `v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`)."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


_sign = sign  # SlackSender.raw has a parameter named `sign`


def _reply(status: int, headers: dict[str, str], text: str) -> Reply:
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return Reply(status, {k.lower(): v for k, v in headers.items()}, text, parsed)


def http_transport(url: str, timeout: float = 10.0) -> Transport:
    """POST each request to `url` over real HTTP."""

    def send(body: bytes, headers: dict[str, str]) -> Reply:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _reply(response.status, dict(response.headers), response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            return _reply(error.code, dict(error.headers), error.read().decode("utf-8"))

    return send


def bolt_transport(app: App) -> Transport:
    """Hand each request to `app.dispatch()` in-process, as Bolt's HTTP adapters do."""

    def send(body: bytes, headers: dict[str, str]) -> Reply:
        response = app.dispatch(BoltRequest(body=body.decode("utf-8"), headers=headers))
        flat = {k: ", ".join(v) if isinstance(v, (list, tuple)) else str(v) for k, v in response.headers.items()}
        return _reply(response.status, flat, response.body or "")

    return send


def text_value(text: str | None) -> dict[str, Any]:
    """A plain_text_input's state."""
    return {"type": "plain_text_input", "value": text}


def select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """A static_select's state (`None`: nothing chosen)."""
    return {"type": "static_select", "selected_option": _option(value, text)}


def user_value(user_id: str | None) -> dict[str, Any]:
    """A users_select's state."""
    return {"type": "users_select", "selected_user": user_id}


def date_value(day: str | None) -> dict[str, Any]:
    """A datepicker's state; `day` is `YYYY-MM-DD`."""
    return {"type": "datepicker", "selected_date": day}


def radio_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """A radio_buttons' state."""
    return {"type": "radio_buttons", "selected_option": _option(value, text)}


def _option(value: str | None, text: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


# What Slack puts in state.values for an input left empty, by element type.
_EMPTY_STATE: dict[str, dict[str, Any]] = {
    "plain_text_input": {"value": None},
    "number_input": {"value": None},
    "email_text_input": {"value": None},
    "url_text_input": {"value": None},
    "static_select": {"selected_option": None},
    "external_select": {"selected_option": None},
    "radio_buttons": {"selected_option": None},
    "users_select": {"selected_user": None},
    "conversations_select": {"selected_conversation": None},
    "channels_select": {"selected_channel": None},
    "datepicker": {"selected_date": None},
    "timepicker": {"selected_time": None},
    "multi_static_select": {"selected_options": []},
    "multi_users_select": {"selected_users": []},
    "checkboxes": {"selected_options": []},
}


class SlackSender:
    """Sends the bot slash commands, clicks, form submissions and events, signed with `secret`.

    Args:
        base_url: the bot's HTTP address (`http://127.0.0.1:3000`); may be None with a `transport`.
        secret: the signing secret the bot verifies with.
        standin: the Slack stand-in: issues trigger_ids and response_urls, knows users, messages, views.
        clock: the sender's wall clock for `X-Slack-Request-Timestamp` (unix seconds).
        transport: how requests reach the bot (default: HTTP POST to `base_url + "/slack/events"`).
    """

    def __init__(
        self,
        base_url: str | None,
        secret: str,
        standin: SlackStandIn,
        clock: Callable[[], float] = time.time,
        *,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            if base_url is None:
                raise ValueError("give base_url or transport")
            transport = http_transport(base_url.rstrip("/") + "/slack/events")
        self.secret = secret
        self.standin = standin
        self.clock = clock
        self.transport = transport
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- sending

    def raw(
        self, body: bytes, headers: dict[str, str] | None = None, *, sign: bool = True, timestamp: int | None = None
    ) -> Reply:
        """Send any bytes: signed (with `timestamp`, default now) unless `sign=False`; for hostile tests."""
        sent = {"Content-Type": FORM, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if sign:
            sent.update(_sign(self.secret, body, int(self.clock()) if timestamp is None else timestamp))
        sent.update(headers or {})
        return self.transport(body, sent)

    def _form(self, fields: dict[str, Any]) -> Reply:
        return self.raw(urlencode(fields).encode(), {"Content-Type": FORM})

    def _interaction(self, payload: dict[str, Any]) -> Reply:
        return self._form({"payload": json.dumps(payload)})

    # ----------------------------------------------------------------- slash commands

    def command(
        self, user_id: str, text: str = "", command: str = "/handoff", channel_id: str = "C0GENERAL"
    ) -> Reply:
        """A slash command, with every field Slack sends."""
        return self._form({
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": _channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.standin.new_response_url(channel_id, user=user_id),
            "trigger_id": self.standin.new_trigger_id(),
        })

    # ----------------------------------------------------------------- interactivity

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None,
        *,
        block_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        container: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        action_type: str = "button",
        without: tuple[str, ...] = (),
    ) -> Reply:
        """A `block_actions` payload: a click on an element in a message (`channel_id` + `message_ts`)
        or in a view (`view`, e.g. from `standin.last_view()` or `standin.home(user)`).

        `block_id` defaults to the block holding `action_id` in that message or view ("b" if none).
        For `action_type` other than button (overflow, static_select, radio_buttons) `value` is sent
        as the selected option. The payload's top-level fields named in `without` are left out.
        """
        channel = dm_channel(channel_id) if channel_id else None
        message = self._message(channel, message_ts)
        blocks = (view or {}).get("blocks") or (message or {}).get("blocks") or []
        element, found_block_id = _find_element(blocks, action_id)
        action: dict[str, Any] = {
            "action_id": action_id, "block_id": block_id or found_block_id or "b", "type": action_type,
            "action_ts": f"{self.clock():.6f}",
        }
        if element and element.get("text"):
            action["text"] = element["text"]
        if action_type == "button":
            action["value"] = value
        else:
            action["selected_option"] = _option(value, None)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.standin.new_trigger_id(),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        if view is not None:
            payload["container"] = container or {"type": "view", "view_id": view.get("id")}
            payload["view"] = view
        elif channel is not None and message_ts is not None:
            payload["container"] = container or {
                "type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": message is None,
            }
            payload["channel"] = {"id": channel, "name": _channel_name(channel)}
            if message is not None:
                payload["message"] = message
            payload["response_url"] = self.standin.new_response_url(channel, message_ts, user=user_id)
        else:
            payload["container"] = container or {}
        return self._interaction({k: v for k, v in payload.items() if k not in without})

    def click(
        self,
        user_id: str,
        action_id: str,
        *,
        channel: str | None = None,
        ts: str | None = None,
        view: dict[str, Any] | None = None,
        option: str | None = None,
    ) -> Reply:
        """Click the element `action_id` as it is now in a posted message (`channel`, `ts`) or a view.

        Raises:
            AssertionError: the message or view has no such element (a stale or missing button).
        """
        if view is None:
            assert channel is not None and ts is not None, "click needs channel and ts, or view"
            blocks = self.standin.message(channel, ts).get("blocks") or []
        else:
            blocks = view.get("blocks") or []
        element, _ = _find_element(blocks, action_id)
        if element is None:
            present = [e.get("action_id") for e in _elements(blocks)]
            raise AssertionError(f"no element {action_id!r} to click; there are {present}")
        value = option if element["type"] != "button" else element.get("value")
        return self.block_action(
            user_id, action_id, value, channel_id=channel, message_ts=ts, view=view, action_type=element["type"]
        )

    def view_submission(self, user_id: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> Reply:
        """Submit a modal the bot opened, with `values` as {block_id: {action_id: state}}.

        Input blocks not in `values` are sent empty, as Slack does.

        Raises:
            AssertionError: `values` names a block or action the view does not have, or a state of
                another type than the element.
        """
        return self._interaction({
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.standin.new_trigger_id(),
            "view": {**view, "state": {"values": _state(view, values)}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        })

    # ----------------------------------------------------------------- events

    def event(
        self,
        event: dict[str, Any],
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> Reply:
        """An `event_callback` (JSON); with `retry_num`, Slack's retry headers are added."""
        now = self.clock()
        body = json.dumps({
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": {"event_ts": f"{now:.6f}", **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{int(now)}{next(self._ids):06d}",
            "event_time": int(now),
            "authorizations": [{
                "enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
            "event_context": f"4-{next(self._ids):012d}",
        }).encode()
        headers = {"Content-Type": JSON}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason})
        return self.raw(body, headers)

    def app_home_opened(self, user_id: str, tab: str = "home", event_id: str | None = None) -> Reply:
        """The `app_home_opened` event Slack sends on every visit to the bot's Home tab."""
        return self.event(
            {"type": "app_home_opened", "user": user_id, "channel": dm_channel(user_id), "tab": tab},
            event_id=event_id,
        )

    def app_rate_limited(self, minute: int) -> Reply:
        """Slack's notice that it holds back this app's events (more than 30,000 in an hour)."""
        body = json.dumps({"token": VERIFICATION_TOKEN, "type": "app_rate_limited", "team_id": TEAM_ID,
                           "minute_rate_limited": minute, "api_app_id": APP_ID})
        return self.raw(body.encode(), {"Content-Type": JSON})

    def url_verification(self, challenge: str) -> Reply:
        """The handshake Slack sends when the Request URL is saved."""
        body = json.dumps({"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"})
        return self.raw(body.encode(), {"Content-Type": JSON})

    # ----------------------------------------------------------------- helpers

    def _user_name(self, user_id: str) -> str:
        user = self.standin.user(user_id)
        return str(user["name"]) if user else user_id.lower()

    def _user(self, user_id: str) -> dict[str, Any]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}

    def _message(self, channel: str | None, ts: str | None) -> dict[str, Any] | None:
        if channel is None or ts is None:
            return None
        try:
            return self.standin.message(channel, ts)
        except KeyError:
            return None


def _channel_name(channel_id: str) -> str:
    if channel_id.startswith("D"):
        return "directmessage"
    return "general" if channel_id == "C0GENERAL" else channel_id.lower()


def _elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for block in blocks:
        for element in [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]:
            if isinstance(element, dict) and element.get("action_id"):
                found.append({**element, "_block_id": block.get("block_id")})
    return found


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any] | None, str | None]:
    for element in _elements(blocks):
        if element["action_id"] == action_id:
            return element, element["_block_id"]
    return None, None


def _state(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    inputs = {
        b["block_id"]: b["element"] for b in view.get("blocks") or []
        if b.get("type") == "input" and b.get("block_id") and isinstance(b.get("element"), dict)
    }
    state = {
        block_id: {element.get("action_id", ""): {"type": element["type"], **_EMPTY_STATE.get(element["type"], {})}}
        for block_id, element in inputs.items()
    }
    for block_id, actions in values.items():
        if block_id not in inputs:
            raise AssertionError(f"the view has no input block {block_id!r}; it has {sorted(inputs)}")
        element = inputs[block_id]
        for action_id, value in actions.items():
            if action_id != element.get("action_id"):
                raise AssertionError(f"block {block_id!r} has action {element.get('action_id')!r}, not {action_id!r}")
            if value.get("type") != element["type"]:
                raise AssertionError(f"block {block_id!r} is a {element['type']}, not a {value.get('type')}")
            state[block_id] = {action_id: value}
    return state
