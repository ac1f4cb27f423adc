"""Slack's Block Kit limits, checked the way Slack checks them before it accepts a payload.

`check_blocks`, `check_view` and `check_message_text` return human-readable violations (empty when
the payload is fine). Besides our own rules they run slack_sdk's models over every block and view
and report what those refuse.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MESSAGE_BLOCKS_MAX = 50
SURFACE_BLOCKS_MAX = 100  # modals and the Home tab
MESSAGE_TEXT_MAX = 4000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
BUTTON_URL_MAX = 3000
ID_MAX = 255  # action_id, block_id, callback_id, external_id
MODAL_TEXT_MAX = 24  # title, submit, close
PRIVATE_METADATA_MAX = 3000
TEXT_INPUT_MAX = 3000
PLACEHOLDER_MAX = 150
LABEL_MAX = 2000
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OVERFLOW_OPTIONS_MAX = 5
CHOICE_OPTIONS_MAX = 10  # radio buttons, checkboxes
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25

_SELECTS = {"static_select", "multi_static_select"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_message_text(text: Any) -> list[str]:
    """Problems with a message's top-level `text` (the notification and fallback text)."""
    if text is None:
        return []
    if not isinstance(text, str):
        return [f"message text must be a string, not {type(text).__name__}"]
    if len(text) > MESSAGE_TEXT_MAX:
        return [f"message text is {len(text)} characters; keep it to {MESSAGE_TEXT_MAX}"]
    return []


def check_blocks(blocks: Any, where: str = "message") -> list[str]:
    """Problems with a list of blocks.

    Args:
        blocks: the `blocks` payload as the bot sent it (already decoded from JSON).
        where: `message`, `modal` or `home`: decides how many blocks are allowed.
    """
    return _once(_check_blocks, blocks, where)


def check_view(view: Any) -> list[str]:
    """Problems with a modal or Home tab view as given to views.open/push/update/publish."""
    return _once(_check_view, view)


def _once(check: Callable[..., list[str]], value: Any, *args: str) -> list[str]:
    """`check(value, *args)`, done once for each distinct `value`: a bot sends the same form and the
    same buttons again and again, and slack_sdk's models are most of the stand-in's work."""
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as error:
        return [f"not JSON: {error}"]
    return list(_checked(check, text, args))


@functools.lru_cache(maxsize=4096)
def _checked(check: Callable[..., list[str]], text: str, args: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(check(json.loads(text), *args))


def _check_blocks(blocks: Any, where: str) -> list[str]:
    if not isinstance(blocks, list):
        return [f"{where}: blocks must be a list, not {type(blocks).__name__}"]
    problems: list[str] = []
    limit = MESSAGE_BLOCKS_MAX if where == "message" else SURFACE_BLOCKS_MAX
    if len(blocks) > limit:
        problems.append(f"{where}: {len(blocks)} blocks; at most {limit}")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        path = f"{where} block {index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"{path}: a block must be an object with a type")
            continue
        path = f"{path} ({block['type']})"
        problems += _check_block(block, path, block_ids)
        problems += _sdk_block(block, path)
    return problems


def _check_view(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return [f"view must be an object, not {type(view).__name__}"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"view type must be modal or home, not {kind!r}"]
    problems: list[str] = []
    if kind == "modal":
        if view.get("title") is None:
            problems.append("modal: title is required")
        for name in ("title", "submit", "close"):
            if view.get(name) is not None:
                problems += _plain_text(view[name], f"modal {name}", MODAL_TEXT_MAX)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and view.get("submit") is None:
            problems.append("modal: submit is required when the modal has input blocks")
    problems += _max_len(view.get("private_metadata"), f"{kind} private_metadata", PRIVATE_METADATA_MAX)
    problems += _max_len(view.get("callback_id"), f"{kind} callback_id", ID_MAX)
    problems += _max_len(view.get("external_id"), f"{kind} external_id", ID_MAX)
    problems += _check_blocks(view.get("blocks"), kind)
    try:
        View(**view).to_dict()  # to_dict() runs validate_json() on the view and everything in it
    except Exception as error:  # noqa: BLE001 - reported, not swallowed
        problems.append(f"{kind}: slack_sdk refuses the view: {type(error).__name__}: {error}")
    return problems


def _sdk_block(block: dict[str, Any], path: str) -> list[str]:
    return [f"{path}: {problem}" for problem in _once(_sdk_refuses, block)]


def _sdk_refuses(block: dict[str, Any]) -> list[str]:
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return ["slack_sdk does not know this block type"]
        parsed.to_dict()  # runs validate_json() on the block and its elements
    except Exception as error:  # noqa: BLE001 - reported, not swallowed
        return [f"slack_sdk refuses the block: {type(error).__name__}: {error}"]
    return []


def _max_len(value: Any, what: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"{what} must be a string, not {type(value).__name__}"]
    if len(value) > limit:
        return [f"{what} is {len(value)} characters; at most {limit}"]
    return []


def _text(obj: Any, what: str, limit: int) -> list[str]:
    """A text object (plain_text or mrkdwn) of at most `limit` characters."""
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"{what} must be a plain_text or mrkdwn text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{what} must have a non-empty text"]
    if len(text) > limit:
        return [f"{what} is {len(text)} characters; at most {limit}"]
    return []


def _plain_text(obj: Any, what: str, limit: int) -> list[str]:
    if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
        return [f"{what} must be plain_text, not mrkdwn"]
    return _text(obj, what, limit)


def _check_block(block: dict[str, Any], path: str, block_ids: set[str]) -> list[str]:
    problems: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None:
        problems += _max_len(block_id, f"{path} block_id", ID_MAX)
        if block_id in block_ids:
            problems.append(f"{path}: block_id {block_id!r} is used twice in one payload")
        block_ids.add(block_id)
    kind = block["type"]
    action_ids: set[str] = set()
    if kind == "section":
        if block.get("text") is None and not block.get("fields"):
            problems.append(f"{path}: needs text or fields")
        if block.get("text") is not None:
            problems += _text(block["text"], f"{path} text", SECTION_TEXT_MAX)
        fields = block.get("fields") or []
        if len(fields) > SECTION_FIELDS_MAX:
            problems.append(f"{path}: {len(fields)} fields; at most {SECTION_FIELDS_MAX}")
        for number, item in enumerate(fields):
            problems += _text(item, f"{path} field {number}", SECTION_FIELD_MAX)
        if block.get("accessory") is not None:
            problems += _check_element(block["accessory"], f"{path} accessory", action_ids)
    elif kind == "header":
        problems += _plain_text(block.get("text"), f"{path} text", HEADER_TEXT_MAX)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= ACTIONS_ELEMENTS_MAX:
            problems.append(f"{path}: {len(elements)} elements; 1 to {ACTIONS_ELEMENTS_MAX}")
        for number, element in enumerate(elements):
            problems += _check_element(element, f"{path} element {number}", action_ids)
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= CONTEXT_ELEMENTS_MAX:
            problems.append(f"{path}: {len(elements)} elements; 1 to {CONTEXT_ELEMENTS_MAX}")
    elif kind == "input":
        problems += _plain_text(block.get("label"), f"{path} label", LABEL_MAX)
        if block.get("hint") is not None:
            problems += _plain_text(block["hint"], f"{path} hint", LABEL_MAX)
        if block.get("element") is None:
            problems.append(f"{path}: needs an element")
        else:
            problems += _check_element(block["element"], f"{path} element", action_ids)
    return problems


def _check_element(element: Any, path: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"{path}: an element must be an object with a type"]
    kind = element["type"]
    path = f"{path} ({kind})"
    problems: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None:
        problems += _max_len(action_id, f"{path} action_id", ID_MAX)
        if action_id in action_ids:
            problems.append(f"{path}: action_id {action_id!r} is used twice in one block")
        action_ids.add(action_id)
    if element.get("placeholder") is not None:
        problems += _plain_text(element["placeholder"], f"{path} placeholder", PLACEHOLDER_MAX)
    if kind == "button":
        problems += _plain_text(element.get("text"), f"{path} text", BUTTON_TEXT_MAX)
        problems += _max_len(element.get("value"), f"{path} value", BUTTON_VALUE_MAX)
        problems += _max_len(element.get("url"), f"{path} url", BUTTON_URL_MAX)
        if element.get("style") not in (None, "primary", "danger"):
            problems.append(f"{path}: style must be primary or danger")
    elif kind in _SELECTS:
        problems += _check_select(element, path)
    elif kind == "overflow":
        problems += _check_options(element.get("options"), path, OVERFLOW_OPTIONS_MAX, plain=True)
    elif kind in ("radio_buttons", "checkboxes"):
        problems += _check_options(element.get("options"), path, CHOICE_OPTIONS_MAX, plain=False)
    elif kind == "plain_text_input":
        problems += _check_text_input(element, path)
    elif kind == "datepicker" and element.get("initial_date") is not None and not _DATE.match(
        str(element["initial_date"])
    ):
        problems.append(f"{path}: initial_date must be YYYY-MM-DD")
    return problems


def _check_select(element: dict[str, Any], path: str) -> list[str]:
    options, groups = element.get("options"), element.get("option_groups")
    if (options is None) == (groups is None):
        return [f"{path}: needs either options or option_groups"]
    problems: list[str] = []
    if options is not None:
        problems += _check_options(options, path, SELECT_OPTIONS_MAX, plain=True)
        every = options if isinstance(options, list) else []
    else:
        if not isinstance(groups, list) or not 1 <= len(groups) <= SELECT_OPTIONS_MAX:
            return [f"{path}: option_groups must be a list of 1 to {SELECT_OPTIONS_MAX}"]
        every = []
        for number, group in enumerate(groups):
            group_options = group.get("options") if isinstance(group, dict) else None
            problems += _check_options(group_options, f"{path} group {number}", SELECT_OPTIONS_MAX, plain=True)
            every += group_options if isinstance(group_options, list) else []
    values = {o.get("value") for o in every if isinstance(o, dict)}
    initial = [element["initial_option"]] if element.get("initial_option") else element.get("initial_options") or []
    for option in initial:
        if not isinstance(option, dict) or option.get("value") not in values:
            problems.append(f"{path}: initial option {option!r} is not one of the options")
    return problems


def _check_options(options: Any, path: str, limit: int, *, plain: bool) -> list[str]:
    if not isinstance(options, list) or not 1 <= len(options) <= limit:
        count = len(options) if isinstance(options, list) else 0
        return [f"{path}: {count} options; 1 to {limit}"]
    problems: list[str] = []
    for number, option in enumerate(options):
        where = f"{path} option {number}"
        if not isinstance(option, dict):
            problems.append(f"{where}: must be an object")
            continue
        check = _plain_text if plain else _text
        problems += check(option.get("text"), f"{where} text", OPTION_TEXT_MAX)
        problems += _max_len(option.get("value"), f"{where} value", OPTION_VALUE_MAX)
        if option.get("description") is not None:
            problems += check(option["description"], f"{where} description", OPTION_TEXT_MAX)
    return problems


def _check_text_input(element: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    max_length = element.get("max_length", TEXT_INPUT_MAX)
    min_length = element.get("min_length", 0)
    if not isinstance(max_length, int) or not 1 <= max_length <= TEXT_INPUT_MAX:
        problems.append(f"{path}: max_length {max_length!r} must be 1 to {TEXT_INPUT_MAX}")
        max_length = TEXT_INPUT_MAX
    if not isinstance(min_length, int) or not 0 <= min_length <= TEXT_INPUT_MAX:
        problems.append(f"{path}: min_length {min_length!r} must be 0 to {TEXT_INPUT_MAX}")
    elif min_length > max_length:
        problems.append(f"{path}: min_length {min_length} is above max_length {max_length}")
    initial = element.get("initial_value")
    if initial is not None:
        problems += _max_len(initial, f"{path} initial_value", max_length)
    return problems
