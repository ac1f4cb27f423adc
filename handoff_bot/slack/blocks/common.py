"""Small Block Kit pieces and the one place user text is escaped for mrkdwn."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

Block = dict[str, Any]
MESSAGE_BLOCKS = 50  # Slack's limit for one message (a modal or the Home tab: 100)


def esc(text: str | None) -> str:
    """Escape user text for mrkdwn so `<!channel>`, `<@U…>` and `<url|label>` stay plain text."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unesc(text: str) -> str:
    """mrkdwn's entities back to the characters (`esc` undone): for plain text, and for what Slack sends."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def quote(text: str | None) -> str:
    """User text as a mrkdwn block quote, escaped."""
    return "\n".join("&gt; " + line for line in esc(text).split("\n"))


def slack_date(moment: datetime) -> str:
    """A moment Slack shows in each reader's own time zone and format."""
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut(text, 3000)}


def section(text: str, **extra: Any) -> Block:
    return {"type": "section", "text": mrkdwn(text), **extra}


def sections(text: str, limit: int = 3000) -> list[Block]:
    """Escaped mrkdwn `text` whole, in as many sections as Slack's 3000 characters need: split at a
    line end where there is one, never inside an entity such as `&amp;`; a quoted line split in two
    goes on quoted."""
    blocks: list[Block] = []
    while len(text) > limit:
        at = text.rfind("\n", 0, limit + 1)
        if at > 0:
            blocks.append(section(text[:at]))
            text = text[at + 1:]
            continue
        at = limit
        entity = text.rfind("&", at - 4, at)  # `&amp;`, `&lt;`, `&gt;`: at most 5 characters
        if entity != -1 and ";" not in text[entity:at]:
            at = entity
        blocks.append(section(text[:at]))
        text = ("&gt; " if text.startswith("&gt; ") else "") + text[at:]
    blocks.append(section(text))
    return blocks


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str, action_id: str, value: str, *, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, 75), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def actions(block_id: str, *elements: dict[str, Any]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"text": plain(text, 75), "value": value}
    if description:
        item["description"] = plain(description, 75)
    return item


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input", "block_id": block_id, "label": plain(label, 2000),
        "element": element, "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def text_input(
    *, multiline: bool = False, max_length: int = 3000, initial: str | None = None, placeholder: str | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input", "action_id": "value", "multiline": multiline, "max_length": max_length,
    }
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return element


def modal(
    callback_id: str, title: str, blocks: list[Block], *, submit: str | None, close: str, metadata: str = ""
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal", "callback_id": callback_id, "title": plain(title, 24),
        "close": plain(close, 24), "blocks": blocks[:100], "private_metadata": metadata,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    return view
