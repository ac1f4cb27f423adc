"""The hostile input corpus (`tests/hostile_corpus.json`), each case sent to the served app.

Every case must be answered within 3 s (measured here, client side), never with a 5xx, and change
nothing in the database (every row of every table but the profile cache, outbox rows holding the
ephemeral answer aside). Cases that should answer must carry the clear answer: an ephemeral text
(through the outbox), field errors (`response_action: errors`), an ephemeral command reply, or the
modal they open. Nothing the bot sends or answers may carry a raw `<!channel>`-style mention or a
disguised link. A replay (`"send": "twice"`: the same signed bytes again, still fresh) may not change
anything the first one did not.

The case format is described at the top of the JSON file.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from handoff_bot.departments.service import choices
from handoff_bot.i18n import translator
from handoff_bot.slack.blocks import modals
from handoff_bot.slack.ids import BlockId, CallbackId
from tests.slack.conftest import SECRET
from tests.slack.test_authorization import ADMIN, CHINESE, ROLES, Staged, World
from tests.slack.test_authorization import world as world  # the module-scoped fixture, one app here too
from tests.slack_requests import (
    FORM,
    Reply,
    SlackSender,
    date_value,
    radio_value,
    select_value,
    sign,
    text_value,
    user_value,
)
from tests.slack_standin import BOT_USER_ID, dm_channel

CORPUS_PATH = Path(__file__).resolve().parents[1] / "hostile_corpus.json"
CORPUS: dict[str, Any] = json.loads(CORPUS_PATH.read_text("utf-8"))
ANSWER_WITHIN = 3.0
# What user text must never become in anything the bot sends: a ping or a link to somewhere else.
RAW_MARKUP = ("<!channel", "<!here", "<!everyone", "<!subteam", "<https://evil", "<mailto:", "<#C0SECRET")
USERS = {**ROLES, "admin": ADMIN, "chinese": CHINESE, "bot": BOT_USER_ID}
PLACEHOLDER = re.compile(r"\$([a-z_]+)")
BACKEND = "postgresql" if os.environ.get("TEST_DATABASE_URL") else "sqlite"  # as tests/conftest.py chooses


def _cases() -> Iterator[Any]:
    names: set[str] = set()
    for case in CORPUS["cases"]:
        assert case["name"] not in names, f"duplicate case name {case['name']}"
        names.add(case["name"])
        failing = case.get("xfail") and case.get("xfail_only_on", BACKEND) == BACKEND
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if failing else []
        yield pytest.param(case, id=case["name"], marks=marks)


def test_the_corpus_is_large_and_covers_every_category() -> None:
    cases = CORPUS["cases"]
    assert len(cases) >= 100
    assert {c["category"] for c in cases} >= {
        "signature", "replay", "malformed", "unknown_action", "oversized", "control_chars", "emoji_cjk",
        "sql", "mentions_links", "wrong_role",
    }


# --------------------------------------------------------------------------- building requests


def expand(value: Any, subs: dict[str, str]) -> Any:
    """Fill `$h`-style placeholders; `{"repeat": s, "times": n}` (with optional prefix/suffix) is s × n."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: subs.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [expand(v, subs) for v in value]
    if isinstance(value, dict):
        if "repeat" in value and set(value) <= {"repeat", "times", "prefix", "suffix"}:
            return (expand(value.get("prefix", ""), subs) + expand(value["repeat"], subs) * int(value["times"])
                    + expand(value.get("suffix", ""), subs))
        return {k: expand(v, subs) for k, v in value.items()}
    return value


def _state(spec: Any) -> dict[str, Any]:
    if isinstance(spec, str) or spec is None:
        return text_value(spec)
    (kind, value), = spec.items()
    return {"select": select_value, "user": user_value, "date": date_value, "radio": radio_value}[kind](value)


VIEW_IDS = itertools.count(1)
NEW_DEFAULTS = {BlockId.DEPARTMENT: {"select": "$finance"}, BlockId.TITLE: "Prepare the Q3 invoice",
                BlockId.KEY_POINTS: "Totals per region\nAttach receipts"}


def _view(world: World, request: dict[str, Any], staged: Staged | None, user: str) -> dict[str, Any]:
    callback = CallbackId(request["callback"])
    if callback is CallbackId.NEW:
        with world.db.transaction() as session:
            every, own = choices(session, user)
            view = modals.new_handoff(translator("en-US"), every, own_departments=own)
    else:
        assert staged is not None, "a form other than the new-handoff form needs a `given` handoff"
        view = world.form(callback, staged)
    view = {"id": f"V0HOSTILE{next(VIEW_IDS)}", "type": "modal", **view}  # each form opened once, as in Slack
    if "metadata" in request:
        meta = request["metadata"]
        view["private_metadata"] = meta if isinstance(meta, str) else json.dumps(meta)
    return view


def build(world: World, request: dict[str, Any], staged: Staged | None) -> tuple[bytes, dict[str, str]]:
    """The request's bytes and headers, signed validly (the case's `signature` is applied later)."""
    kind = request["kind"]
    user = USERS.get(request.get("user", ""), request.get("user", ""))
    if kind == "interaction":
        return urlencode({"payload": json.dumps(request["payload"])}).encode(), {"Content-Type": FORM}
    if kind == "body":
        body = bytes.fromhex(request["body_hex"]) if "body_hex" in request else request["body"].encode()
        return body, {"Content-Type": request.get("content_type", FORM)}
    captured: list[tuple[bytes, dict[str, str]]] = []

    def capture(body: bytes, headers: dict[str, str]) -> Reply:
        captured.append((body, headers))
        return Reply(200, {}, "", None)

    sender = SlackSender(None, SECRET, world.standin, transport=capture)
    if kind == "click":
        sender.block_action(user, request["action"], request.get("value"), channel_id=dm_channel(user),
                            message_ts="1700000000.000001", action_type=request.get("action_type", "button"))
    elif kind == "command":
        sender.command(user, request.get("text", ""), command=request.get("command", "/handoff"))
    elif kind == "form":
        view = _view(world, request, staged, user)
        values = dict(NEW_DEFAULTS) if request["callback"] == CallbackId.NEW else {}
        values.update(request.get("values", {}))
        subs = _subs(world, staged)
        sender.view_submission(user, view, {
            block: {"value": _state(expand(spec, subs))} for block, spec in values.items()})
    elif kind == "event":
        sender.event(request["event"], event_id=request.get("event_id"))
    else:
        raise AssertionError(f"unknown request kind {kind}")
    [(body, headers)] = captured
    return body, {k: v for k, v in headers.items() if not k.startswith("X-Slack-")}


def signed(body: bytes, headers: dict[str, str], how: dict[str, Any] | None) -> tuple[bytes, dict[str, str]]:
    """Apply the case's signature: valid (default), `offset` seconds off, another `secret`, `none`,
    `tampered` (signed, then `replace` applied to the body) or `custom` header values."""
    how = how or {"mode": "valid"}
    now = int(time.time())
    mode = how["mode"]
    headers = dict(headers)
    if mode == "valid":
        headers.update(sign(SECRET, body, now + int(how.get("offset", 0))))
    elif mode == "secret":
        headers.update(sign(how["secret"], body, now))
    elif mode == "tampered":
        headers.update(sign(SECRET, body, now))
        old, new = how["replace"]
        assert old.encode() in body, (old, body[:300])
        body = body.replace(old.encode(), new.encode())
    elif mode == "custom":
        timestamp = str(how.get("timestamp", now))
        base = b"v0:" + timestamp.encode() + b":" + body
        hexdigest = hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = how["signature"].replace("{hex}", hexdigest).replace(
            "{HEX}", hexdigest.upper())
    elif mode != "none":
        raise AssertionError(f"unknown signature mode {mode}")
    return body, headers


def _subs(world: World, staged: Staged | None) -> dict[str, str]:
    subs = {name: user for name, user in USERS.items()}
    subs.update(finance=str(world.bot.finance), sales=str(world.bot.sales))
    if staged is not None:
        subs.update(staged.values())
    return subs


# --------------------------------------------------------------------------- checking answers


def _status_ok(status: int, expected: Any) -> bool:
    if isinstance(expected, list):
        return any(_status_ok(status, e) for e in expected)
    if isinstance(expected, str) and expected.endswith("xx"):
        return status // 100 == int(expected[0])
    return status == int(expected)


def _reply_text(reply: Reply) -> str:
    if not isinstance(reply.json, dict):
        return reply.text
    return json.dumps(reply.json.get("text", "")) + json.dumps(reply.json.get("blocks", []), ensure_ascii=False)


@pytest.mark.parametrize("case", list(_cases()))
def test_hostile(world: World, case: dict[str, Any]) -> None:
    given = case.get("given")
    staged = world.stage(given, reuse=not case.get("fresh"), post=bool(case.get("post"))) if given else None
    subs = _subs(world, staged)
    request = expand(case["request"], subs)
    expect = expand(case["expect"], subs)
    user = USERS.get(request.get("user", ""), request.get("user", ""))
    body, headers = signed(*build(world, request, staged), case.get("signature"))

    def send(extra: dict[str, str] | None = None) -> Reply:
        started = time.monotonic()
        reply = world.slack.transport(body, {**headers, **(extra or {})})
        elapsed = time.monotonic() - started
        assert elapsed < ANSWER_WITHIN, f"answered in {elapsed:.2f}s"
        assert reply.status < 500, f"{reply.status}: {reply.text[:300]}"
        return reply

    if case.get("send") == "twice":
        start = world.mark()
        first = send()
        assert first.status == 200, first
        if case.get("first_modal"):
            world.wait_view(start, case["first_modal"])
    world.settle()
    before, since = world.snapshot(), world.mark()
    reply = send(case.get("retry_headers") if case.get("send") == "twice" else None)
    assert _status_ok(reply.status, expect.get("status", 200)), f"{reply.status}: {reply.text[:300]}"
    world.settle()

    effect = expect.get("effect", "none")
    wanted = expect.get("text", "")
    if effect == "ephemeral":
        answers = world.answers(user, since)
        assert len(answers) == 1 and wanted in answers[0], answers
    else:
        assert world.standin.private_answers(since=since) == []
    if effect == "field_error":
        assert isinstance(reply.json, dict) and reply.json.get("response_action") == "errors", reply.text
        errors = reply.json["errors"]
        assert wanted in errors.get(expect["block"], ""), errors
    elif effect == "reply":
        assert wanted in _reply_text(reply), reply.text
    elif effect == "modal":
        view = world.wait_view(since, expect["callback"])
        assert wanted in json.dumps(view, ensure_ascii=False), view
    elif effect == "none" and reply.status == 200 and isinstance(reply.json, dict):
        assert reply.json.get("response_action") != "errors", reply.text
    if effect != "modal":
        assert world.opened_views(since) == [], "the request opened a modal"

    assert world.snapshot() == before, "the request changed the database"
    sent = [reply.text] + [json.dumps(c.params, ensure_ascii=False) for c in world.standin.calls[since:]]
    for raw in (*RAW_MARKUP, *expect.get("not_contains", [])):
        assert not any(raw in s for s in sent), f"{raw!r} was sent"
