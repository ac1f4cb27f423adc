"""The test doubles themselves: the Slack stand-in, the Block Kit checks and the request signer.

The sender tests run a real Bolt app (with the stand-in as its Web API), so they prove that what
the tests send is what Bolt expects from Slack.
"""

from __future__ import annotations

import contextlib
import copy
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.blockkit import check_blocks, check_message_text, check_view
from tests.slack_requests import (
    SlackSender,
    bolt_transport,
    date_value,
    radio_value,
    select_value,
    sign,
    text_value,
    user_value,
)
from tests.slack_standin import SlackStandIn

SECRET = "test-signing-secret"


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token="xoxb-test", base_url=standin.api_url)


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()
    return str(raised.value.response["error"])


# --------------------------------------------------------------------------- Web API methods


def test_auth_test_answers_as_the_bot_and_refuses_unknown_tokens(standin: SlackStandIn, client: WebClient) -> None:
    answer = client.auth_test()
    identity = (answer["user_id"], answer["bot_id"], answer["team_id"], answer["user"])
    assert identity == ("UBOT", "BBOT", "T0TEAM", "handoff")
    assert standin.calls_to("auth.test")[0].token == "xoxb-test"

    standin.valid_tokens = {"xoxb-good"}
    assert _error(client.auth_test) == "invalid_auth"
    assert _error(WebClient(base_url=standin.api_url).auth_test) == "not_authed"


def test_users_info_is_slack_shaped(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_user("U1", "mei", real_name="Li Mei", tz="Asia/Shanghai", locale="zh-CN")
    user = client.users_info(user="U1", include_locale=True)["user"]
    assert user["id"] == "U1" and user["tz"] == "Asia/Shanghai" and user["tz_offset"] == 8 * 3600
    assert user["locale"] == "zh-CN" and user["is_bot"] is False and user["deleted"] is False
    assert user["profile"] == {"display_name": "mei", "real_name": "Li Mei", "team": "T0TEAM"}
    assert _error(lambda: client.users_info(user="U404")) == "user_not_found"


def test_post_message_to_a_user_goes_to_their_dm_with_increasing_ts(standin: SlackStandIn, client: WebClient) -> None:
    first = client.chat_postMessage(channel="U1", text="one")
    second = client.chat_postMessage(channel="C0FIN", text="two")
    assert first["channel"] == "D1" and second["channel"] == "C0FIN"
    assert float(first["ts"]) < float(second["ts"]) and first["ts"] == "1700000000.000100"
    assert standin.message("U1", first["ts"])["text"] == "one"
    assert [m["text"] for m in standin.messages("C0FIN")] == ["two"]
    assert len(standin.calls_to("chat.postMessage", channel="U1")) == 1


def test_post_message_needs_text_or_blocks(client: WebClient) -> None:
    assert _error(lambda: client.api_call("chat.postMessage", json={"channel": "C1"})) == "no_text"
    assert _error(lambda: client.chat_postMessage(channel="nowhere", text="x")) == "channel_not_found"


def test_update_changes_the_message_and_refuses_unknown_ones(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U1", text="old", blocks=[{"type": "divider"}])
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="new")
    assert standin.message("D1", posted["ts"])["text"] == "new"
    assert standin.message("D1", posted["ts"])["blocks"] == [{"type": "divider"}]  # kept when not sent
    client.chat_update(channel="D1", ts=posted["ts"], text="newer", blocks=[])
    assert standin.message("D1", posted["ts"])["blocks"] == []

    assert _error(lambda: client.chat_update(channel="D1", ts="1.2", text="x")) == "message_not_found"
    assert _error(lambda: client.chat_update(channel="U1", ts=posted["ts"], text="x")) == "channel_not_found"
    client.chat_delete(channel="D1", ts=posted["ts"])
    assert _error(lambda: client.chat_update(channel="D1", ts=posted["ts"], text="x")) == "message_not_found"


def test_form_encoded_json_fields_are_decoded(standin: SlackStandIn, client: WebClient) -> None:
    form = {"channel": "C1", "text": "x", "blocks": json.dumps([{"type": "divider"}])}
    client.api_call("chat.postMessage", data=form)
    [call] = standin.calls_to("chat.postMessage")
    assert call.params == {"channel": "C1", "text": "x", "blocks": [{"type": "divider"}]}


def test_ephemeral_open_permalink_and_unknown_methods(standin: SlackStandIn, client: WebClient) -> None:
    assert client.chat_postEphemeral(channel="C1", user="U1", text="only you")["message_ts"]
    assert client.conversations_open(users="U7")["channel"]["id"] == "D7"
    posted = client.chat_postMessage(channel="C1", text="x")
    link = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])["permalink"]
    assert link.endswith("/archives/C1/p" + posted["ts"].replace(".", ""))
    assert _error(lambda: client.api_call("reactions.add")) == "unknown_method"


def test_views_open_push_update_and_publish(standin: SlackStandIn, client: WebClient) -> None:
    modal = {
        "type": "modal", "callback_id": "ask", "private_metadata": "42",
        "title": {"type": "plain_text", "text": "Ask"}, "blocks": [{"type": "divider"}],
    }
    trigger = standin.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view=modal)["view"]
    assert opened["id"].startswith("V") and opened["hash"] and opened["private_metadata"] == "42"
    assert _error(lambda: client.views_open(trigger_id=trigger, view=modal)) == "exchanged_trigger_id"
    assert _error(lambda: client.views_open(trigger_id="made.up", view=modal)) == "invalid_trigger_id"

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view={**modal, "callback_id": "ask2"})
    assert updated["view"]["id"] == opened["id"] and updated["view"]["hash"] != opened["hash"]
    assert standin.last_view("ask2")["id"] == opened["id"]
    assert standin.last_view()["callback_id"] == "ask2"
    with pytest.raises(AssertionError, match="no view with callback_id 'nope'"):
        standin.last_view("nope")
    stale = lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)  # noqa: E731
    assert _error(stale) == "hash_conflict"
    assert _error(lambda: client.views_update(view_id="V404", view=modal)) == "not_found"

    pushed = client.views_push(trigger_id=standin.new_trigger_id(), view={**modal, "callback_id": "more"})["view"]
    assert pushed["id"] != opened["id"]

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Waiting on you"}}]}
    published = client.views_publish(user_id="U1", view=home)["view"]
    assert standin.home("U1")["id"] == published["id"]
    assert client.views_publish(user_id="U1", view=home)["view"]["id"] == published["id"]


def test_expired_trigger_is_refused(standin: SlackStandIn, client: WebClient) -> None:
    standin.trigger_ttl = 0.0
    trigger = standin.new_trigger_id()
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Late"}, "blocks": [{"type": "divider"}]}
    assert _error(lambda: client.views_open(trigger_id=trigger, view=view)) == "expired_trigger_id"


def test_file_upload_v2(standin: SlackStandIn, client: WebClient) -> None:
    answer = client.files_upload_v2(content="a,b\n1,2\n", filename="export.csv", channel="D1")
    assert standin.upload(answer["file"]["id"]) == b"a,b\n1,2\n"
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal", "file_upload", "files.completeUploadExternal",
    ]


def test_response_url_is_recorded_and_replaces_the_original(standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="card", blocks=[{"type": "divider"}])
    url = standin.new_response_url("C1", posted["ts"])
    assert WebhookClient(url).send(text="Claimed", replace_original=True).status_code == 200
    [call] = standin.calls_to("response_url")
    assert call.params == {"text": "Claimed", "replace_original": True} and call.path.startswith("/response/")
    assert standin.message("C1", posted["ts"])["text"] == "Claimed"
    for _ in range(4):
        WebhookClient(url).send(text="again")
    assert WebhookClient(url).send(text="sixth").status_code == 404  # a response_url works five times
    WebhookClient(url.replace("/response/", "/response/9")).send(text="?")
    assert standin.calls[-1].response == {"ok": False, "status": 404, "text": "no_such_url"}


# --------------------------------------------------------------------------- waiting and faults


def test_wait_for_wakes_on_a_call_and_times_out_with_a_dump(standin: SlackStandIn, client: WebClient) -> None:
    worker = threading.Thread(target=lambda: client.chat_postMessage(channel="C1", text="later"))
    worker.start()
    [call] = standin.wait_for_calls("chat.postMessage", channel="C1")
    worker.join()
    assert call.params["text"] == "later"
    with pytest.raises(AssertionError, match=r"chat\.postMessage .*later"):
        standin.wait_for(lambda calls: len(calls) > 1, timeout=0.05)
    standin.clear()
    assert standin.calls == []


def test_fail_429_with_retry_after_then_recover(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail("chat.postMessage", status=429, times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="x")
        assert raised.value.response.status_code == 429
        assert raised.value.response.headers["Retry-After"] == "7"
        assert raised.value.response["error"] == "ratelimited"
    client.chat_postMessage(channel="C1", text="x")
    assert [c.fault for c in standin.calls] == [429, 429, None]
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert len(standin.calls_to("chat.postMessage", include_faults=True)) == 3
    assert len(standin.messages("C1")) == 1  # failed calls took no effect


def test_fail_500(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail("views.publish", status=500)
    with pytest.raises(SlackApiError) as raised:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}]})
    assert raised.value.response.status_code == 500
    assert standin.calls[-1].fault == 500


def test_refuse_answers_matching_calls_as_slack_refuses_one(standin: SlackStandIn, client: WebClient) -> None:
    standin.refuse("chat.postMessage", "not_in_channel", channel="C1")
    standin.refuse("chat.postMessage", "is_archived", times=1, channel="C2")
    for channel, error in (("C1", "not_in_channel"), ("C2", "is_archived"), ("C1", "not_in_channel")):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel=channel, text="x")
        assert (raised.value.response.status_code, raised.value.response["error"]) == (200, error)
    client.chat_postMessage(channel="C2", text="x")  # refused once only
    client.chat_postMessage(channel="C3", text="x")  # not matched
    assert [c.fault for c in standin.calls] == [200, 200, 200, None, None]
    assert standin.messages("C1") == [] and len(standin.messages("C2")) == 1


def test_fail_429_with_a_retry_after_that_is_not_whole_seconds(standin: SlackStandIn, client: WebClient) -> None:
    standin.fail("chat.postMessage", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C1", text="x")
    assert raised.value.response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_fail_ratio_is_deterministic_for_a_seed() -> None:
    def pattern(seed: int) -> list[int | None]:
        with SlackStandIn() as standin:
            client = WebClient(token="xoxb-test", base_url=standin.api_url)
            standin.fail_ratio(["chat.postMessage"], 0.5, seed=seed, retry_after=0)
            for _ in range(20):
                with contextlib.suppress(SlackApiError):
                    client.chat_postMessage(channel="C1", text="x")
            client.auth_test()  # not in the list: never fails
            return [c.fault for c in standin.calls]

    first = pattern(3)
    assert first == pattern(3) and first[-1] is None
    assert {429, 500} <= set(first) and None in first
    assert first != pattern(4)


def test_delay_holds_the_answer_after_the_call_took_effect(standin: SlackStandIn) -> None:
    standin.delay("chat.postMessage", 0.3)
    impatient = WebClient(token="xoxb-test", base_url=standin.api_url, timeout=0.05)
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel="C1", text="x")
    [call] = standin.wait_for_calls("chat.postMessage")
    assert call.delayed == 0.3 and len(standin.messages("C1")) == 1  # posted, though the bot never heard back
    standin.delay("chat.postMessage", 0)
    started = time.monotonic()
    impatient.chat_postMessage(channel="C1", text="y")
    assert time.monotonic() - started < 0.3


def test_invalid_payloads_are_refused_and_recorded() -> None:
    with SlackStandIn() as standin:
        client = WebClient(token="xoxb-test", base_url=standin.api_url)
        too_many = [{"type": "divider"}] * 51
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="x", blocks=too_many)
        assert raised.value.response["error"] == "invalid_blocks"
        assert "51 blocks; at most 50" in raised.value.response["errors"][0]
        assert _error(lambda: client.chat_postMessage(channel="C1", text="x" * 4001)) == "msg_too_long"
        view = {"type": "modal", "title": {"type": "plain_text", "text": "T" * 25}, "blocks": [{"type": "divider"}]}
        assert _error(lambda: client.views_open(trigger_id=standin.new_trigger_id(), view=view)) == "invalid_arguments"
        url = standin.new_response_url()
        assert WebhookClient(url).send(text="x", blocks=too_many).status_code == 400
        assert [v.split(":")[0] for v in standin.violations] == [
            "chat.postMessage", "chat.postMessage", "views.open", "views.open", "response_url " + urlsplit(url).path,
        ]
        assert standin.messages("C1") == []


# --------------------------------------------------------------------------- Block Kit checks


def _button(text: str = "Claim", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": "claim", "value": "7", **extra}


def _options(count: int, text: str = "Option", value: str = "v") -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": f"{text} {i}"}, "value": f"{value}{i}"} for i in range(count)]


VALID_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "block_id": "head", "text": {"type": "plain_text", "text": "New handoff: 发票 🧾"}},
    {
        "type": "section", "block_id": "summary", "text": {"type": "mrkdwn", "text": "*Fix the invoice*"},
        "fields": [{"type": "mrkdwn", "text": "*Due*\n2026-03-06"}, {"type": "mrkdwn", "text": "*From*\nSales"}],
        "accessory": _button("Details", action_id="details", url="https://example.com"),
    },
    {"type": "actions", "block_id": "buttons", "elements": [
        _button(style="primary"),
        _button("Decline", action_id="decline", style="danger"),
        {"type": "static_select", "action_id": "pick", "options": _options(3), "initial_option": _options(3)[1],
         "placeholder": {"type": "plain_text", "text": "Pick"}},
        {"type": "overflow", "action_id": "more", "options": _options(5)},
    ]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Sent by <@U1>"}]},
    {"type": "divider"},
]

VALID_MODAL: dict[str, Any] = {
    "type": "modal", "callback_id": "handoff_create", "private_metadata": json.dumps({"channel": "C1"}),
    "title": {"type": "plain_text", "text": "New handoff"},
    "submit": {"type": "plain_text", "text": "Send"}, "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
         "element": {"type": "plain_text_input", "action_id": "title", "max_length": 150, "initial_value": "Fix it"}},
        {"type": "input", "block_id": "details", "optional": True, "label": {"type": "plain_text", "text": "Details"},
         "element": {"type": "plain_text_input", "action_id": "details", "multiline": True, "max_length": 3000}},
        {"type": "input", "block_id": "department", "label": {"type": "plain_text", "text": "To department"},
         "element": {"type": "static_select", "action_id": "department", "options": _options(100)}},
        {"type": "input", "block_id": "recipient", "optional": True, "label": {"type": "plain_text", "text": "To"},
         "element": {"type": "users_select", "action_id": "recipient"}},
        {"type": "input", "block_id": "due", "optional": True, "label": {"type": "plain_text", "text": "Due"},
         "element": {"type": "datepicker", "action_id": "due", "initial_date": "2026-03-06"}},
        {"type": "input", "block_id": "relation", "label": {"type": "plain_text", "text": "Relationship"},
         "element": {"type": "radio_buttons", "action_id": "relation", "options": _options(3)}},
    ],
}


def test_valid_payloads_pass() -> None:
    assert check_blocks(VALID_BLOCKS) == []
    assert check_view(VALID_MODAL) == []
    assert check_view({"type": "home", "blocks": [{"type": "divider"}] * 100}) == []
    assert check_message_text("x" * 4000) == []


def _blocks_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    blocks = copy.deepcopy(VALID_BLOCKS)
    blocks[index].update(changes)
    return blocks


def _element(**changes: Any) -> list[dict[str, Any]]:
    blocks = copy.deepcopy(VALID_BLOCKS)
    blocks[2]["elements"][0].update(changes)
    return blocks


def _select(**changes: Any) -> list[dict[str, Any]]:
    blocks = copy.deepcopy(VALID_BLOCKS)
    blocks[2]["elements"][2].update(changes)
    return blocks


def _text_input(**changes: Any) -> dict[str, Any]:
    view = copy.deepcopy(VALID_MODAL)
    view["blocks"][0]["element"].update(changes)
    return view


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


BLOCK_BREACHES = {
    "51 blocks in a message": ([{"type": "divider"}] * 51, "51 blocks; at most 50"),
    "section text 3001": (_blocks_with(1, text={"type": "mrkdwn", "text": "x" * 3001}), "text is 3001 characters"),
    "empty section text": (_blocks_with(1, text={"type": "mrkdwn", "text": ""}), "non-empty text"),
    "11 fields": (_blocks_with(1, fields=[{"type": "mrkdwn", "text": "f"}] * 11), "11 fields; at most 10"),
    "field 2001": (_blocks_with(1, fields=[{"type": "mrkdwn", "text": "f" * 2001}]), "field 0 is 2001 characters"),
    "header 151": (_blocks_with(0, text=_plain("h" * 151)), "text is 151 characters; at most 150"),
    "header mrkdwn": (_blocks_with(0, text={"type": "mrkdwn", "text": "h"}), "must be plain_text"),
    "button text 76": (_element(text=_plain("b" * 76)), "text is 76 characters; at most 75"),
    "button value 2001": (_element(value="v" * 2001), "value is 2001 characters; at most 2000"),
    "button url 3001": (_element(url="https://x/" + "u" * 2991), "url is 3001 characters; at most 3000"),
    "action_id 256": (_element(action_id="a" * 256), "action_id is 256 characters; at most 255"),
    "action_id twice in a block": (_element(action_id="decline"), "action_id 'decline' is used twice"),
    "block_id 256": (_blocks_with(4, block_id="b" * 256), "block_id is 256 characters; at most 255"),
    "block_id twice": (_blocks_with(4, block_id="summary"), "block_id 'summary' is used twice"),
    "101 options": (_select(options=_options(101), initial_option=None), "101 options; 1 to 100"),
    "option text 76": (_select(options=_options(1, text="o" * 74), initial_option=None), "76 characters; at most 75"),
    "option value 151": (_select(options=_options(1, value="v" * 150), initial_option=None), "151 characters; at most"),
    "initial option not offered": (_select(initial_option=_options(1, value="zz")[0]), "is not one of the options"),
    "11 context elements": (_blocks_with(3, elements=[{"type": "mrkdwn", "text": "c"}] * 11), "11 elements; 1 to 10"),
    "26 actions elements": (_blocks_with(2, elements=[_button(action_id=f"a{i}") for i in range(26)]),
                            "26 elements; 1 to 25"),
    "unknown block type": ([{"type": "marquee"}], "slack_sdk does not know this block type"),
    "not a list": ({"type": "divider"}, "blocks must be a list"),
}


@pytest.mark.parametrize("case", BLOCK_BREACHES)
def test_each_block_limit_breach_is_reported(case: str) -> None:
    blocks, expected = BLOCK_BREACHES[case]
    problems = check_blocks(blocks)
    assert any(expected in p for p in problems), problems


VIEW_BREACHES = {
    "101 blocks in a modal": ({**VALID_MODAL, "blocks": [{"type": "divider"}] * 101}, "101 blocks; at most 100"),
    "title 25": ({**VALID_MODAL, "title": _plain("t" * 25)}, "modal title is 25 characters; at most 24"),
    "title missing": ({**VALID_MODAL, "title": None}, "title is required"),
    "title mrkdwn": ({**VALID_MODAL, "title": {"type": "mrkdwn", "text": "t"}}, "must be plain_text"),
    "submit 25": ({**VALID_MODAL, "submit": _plain("s" * 25)}, "modal submit is 25 characters"),
    "close 25": ({**VALID_MODAL, "close": _plain("c" * 25)}, "modal close is 25 characters"),
    "inputs without submit": ({**VALID_MODAL, "submit": None}, "submit is required"),
    "private_metadata 3001": ({**VALID_MODAL, "private_metadata": "m" * 3001}, "private_metadata is 3001 characters"),
    "callback_id 256": ({**VALID_MODAL, "callback_id": "c" * 256}, "callback_id is 256 characters"),
    "max_length 3001": (_text_input(max_length=3001, initial_value=None), "max_length 3001 must be 1 to 3000"),
    "initial_value over max_length": (_text_input(initial_value="x" * 151), "initial_value is 151 characters"),
    "bad initial_date": (
        {**VALID_MODAL, "blocks": [{**VALID_MODAL["blocks"][4], "element": {
            "type": "datepicker", "action_id": "due", "initial_date": "06/03/2026"}}]},
        "initial_date must be YYYY-MM-DD",
    ),
    "not a modal or home": ({"type": "workflow", "blocks": []}, "view type must be modal or home"),
}


@pytest.mark.parametrize("case", VIEW_BREACHES)
def test_each_view_limit_breach_is_reported(case: str) -> None:
    view, expected = VIEW_BREACHES[case]
    problems = check_view(view)
    assert any(expected in p for p in problems), problems


def test_message_text_limit() -> None:
    assert check_message_text("x" * 4001) == ["message text is 4001 characters; keep it to 4000"]


def test_slack_sdk_models_are_consulted() -> None:
    # A button without text passes no rule of ours except the text check, and slack_sdk refuses it too.
    problems = check_blocks([{"type": "actions", "elements": [{"type": "button", "action_id": "x"}]}])
    assert any("slack_sdk refuses the block" in p for p in problems), problems


# --------------------------------------------------------------------------- signing and sending


def test_signature_matches_slacks_documented_example() -> None:
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618) == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log in test output."""


Seen = queue.Queue[tuple[str, dict[str, Any]]]


@pytest.fixture
def bolt(standin: SlackStandIn) -> tuple[App, Seen]:
    """A Bolt app queueing what its listeners receive, with the stand-in as its Web API."""
    app = App(signing_secret=SECRET, client=WebClient(token="xoxb-test", base_url=standin.api_url))
    seen: Seen = queue.Queue()
    modal = copy.deepcopy(VALID_MODAL)

    @app.command("/handoff")
    def command(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=modal)
        client.chat_postMessage(channel=body["user_id"], text="card", blocks=VALID_BLOCKS)
        seen.put(("command", body))

    @app.action("claim")
    def claim(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        respond(replace_original=True, text="Claimed by you")
        seen.put(("action", body))

    @app.view("handoff_create")
    def submit(ack: Any, body: dict[str, Any]) -> None:
        ack(response_action="errors", errors={"title": "Too vague"})
        seen.put(("view", body))

    @app.event("app_home_opened")
    def home(body: dict[str, Any], request: Any) -> None:
        seen.put(("event", {**body, "retry": request.headers.get("x-slack-retry-num")}))

    return app, seen


def _next(seen: Seen, kind: str) -> dict[str, Any]:
    got, body = seen.get(timeout=5)
    assert got == kind
    return body


@pytest.fixture(params=["http", "in-process"])
def sender(request: pytest.FixtureRequest, bolt: tuple[App, Any], standin: SlackStandIn) -> Iterator[SlackSender]:
    """A sender reaching the Bolt app over HTTP (WSGI server on a free port) or via `bolt_transport`."""
    app, _ = bolt
    if request.param == "in-process":
        yield SlackSender(None, SECRET, standin, transport=bolt_transport(app))
        return
    server: WSGIServer = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SlackSender(f"http://127.0.0.1:{server.server_port}", SECRET, standin)
    server.shutdown()
    server.server_close()


def test_bolt_accepts_the_whole_conversation(
    sender: SlackSender, standin: SlackStandIn, bolt: tuple[App, Seen]
) -> None:
    _, seen = bolt
    standin.add_user("U1", "ada")

    assert sender.command("U1", "fix the invoice").status == 200
    command = _next(seen, "command")
    assert command["text"] == "fix the invoice" and command["user_name"] == "ada"
    assert set(command) >= {
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name", "command", "text",
        "api_app_id", "is_enterprise_install", "response_url", "trigger_id",
    }
    assert standin.calls_to("views.open")[0].ok  # the trigger_id was fresh and unused
    [posted] = standin.calls_to("chat.postMessage", channel="U1")
    ts = posted.response["ts"]  # type: ignore[index]

    assert sender.click("U1", "claim", channel="D1", ts=ts).status == 200
    action = _next(seen, "action")
    assert action["actions"][0] | {"action_ts": "-"} == {
        "action_id": "claim", "block_id": "buttons", "type": "button", "value": "7", "action_ts": "-",
        "text": {"type": "plain_text", "text": "Claim"},
    }
    assert action["container"]["channel_id"] == "D1" and action["message"]["blocks"] == VALID_BLOCKS
    assert standin.message("D1", ts)["text"] == "Claimed by you"

    view = standin.last_view("handoff_create")
    reply = sender.view_submission("U1", view, {
        "title": {"title": text_value("Fix it")}, "department": {"department": select_value("v7", "Finance")},
        "recipient": {"recipient": user_value("U2")}, "due": {"due": date_value("2026-03-06")},
        "relation": {"relation": radio_value("v1")},
    })
    assert reply.json == {"response_action": "errors", "errors": {"title": "Too vague"}}
    submitted = _next(seen, "view")["view"]
    assert submitted["id"] == view["id"] and submitted["private_metadata"] == VALID_MODAL["private_metadata"]
    assert submitted["state"]["values"]["details"] == {"details": {"type": "plain_text_input", "value": None}}
    assert submitted["state"]["values"]["due"]["due"]["selected_date"] == "2026-03-06"

    assert sender.app_home_opened("U1", event_id="Ev1").status == 200
    first = _next(seen, "event")
    assert (first["event_id"], first["retry"]) == ("Ev1", None)
    retried = sender.event({"type": "app_home_opened", "user": "U1", "tab": "home"}, event_id="Ev1", retry_num=1)
    assert retried.status == 200
    event = _next(seen, "event")
    assert (event["event_id"], event["retry"]) == ("Ev1", ["1"])

    assert sender.url_verification("c-123").json == {"challenge": "c-123"}


def test_view_submission_refuses_values_the_view_does_not_have(sender: SlackSender) -> None:
    with pytest.raises(AssertionError, match="no input block 'nope'"):
        sender.view_submission("U1", VALID_MODAL, {"nope": {"x": text_value("x")}})
    with pytest.raises(AssertionError, match="is a static_select, not a plain_text_input"):
        sender.view_submission("U1", VALID_MODAL, {"department": {"department": text_value("x")}})


def test_click_needs_the_button_to_be_there(sender: SlackSender, standin: SlackStandIn, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="no buttons")
    with pytest.raises(AssertionError, match="no element 'claim' to click"):
        sender.click("U1", "claim", channel="C1", ts=posted["ts"])


def test_bolt_refuses_forged_and_stale_signatures(sender: SlackSender, bolt: tuple[App, Seen]) -> None:
    body = b"command=%2Fhandoff&user_id=U1&text="
    assert sender.raw(body, sign=False).status == 401
    assert sender.raw(body, {"X-Slack-Signature": "v0=" + "0" * 64}).status == 401
    assert sender.raw(body, timestamp=int(time.time()) - 301).status == 401
    assert bolt[1].empty()
