"""`/handoff`: open the form, or answer `help` and `list` right away."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handoff_bot.departments import service as departments
from handoff_bot.handoffs import service as handoffs
from handoff_bot.slack.blocks import modals, replies
from handoff_bot.slack.context import MENTION, SlackContext

CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def parse_text(text: str) -> tuple[str, str | None]:
    """Split `/handoff` text into a title and the first mentioned user (`<@U…|name>`)."""
    mention = MENTION.search(text)
    recipient = mention.group(1) if mention else None
    title = MENTION.sub("", text)
    title = CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), title)
    title = SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)), title)
    title = LINK.sub(lambda m: m.group(2) or m.group(1), title)
    return " ".join(title.split())[: handoffs.TITLE_MAX], recipient


def register(app: App, ctx: SlackContext) -> None:
    def answer_now(ack: Ack, command: dict[str, Any]) -> None:
        user_id = command["user_id"]
        word = (command.get("text") or "").strip().lower()
        tr = ctx.tr(user_id)
        if word == "help":
            ack(response_type="ephemeral", blocks=replies.help_blocks(tr), text=tr.gettext("How to use Handoff"))
        elif word == "list":
            incoming, outgoing = ctx.run(lambda s: handoffs.open_for(s, user_id))
            ack(response_type="ephemeral", blocks=replies.list_blocks(tr, incoming, outgoing),
                text=tr.gettext("Your open handoffs"))
        elif not ctx.run(departments.all_departments):
            ack(response_type="ephemeral", text=tr.gettext(
                "No departments are set up yet. An admin can import them with "
                "`python -m handoff_bot departments import FILE`."))
        else:
            ack()

    def open_form(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        word = (command.get("text") or "").strip().lower()
        if word in ("help", "list"):
            return
        user_id = command["user_id"]
        title, recipient = parse_text(command.get("text") or "")
        all_departments = ctx.run(departments.all_departments)
        if not all_departments:
            return
        own = ctx.run(lambda s: departments.departments_of(s, user_id))
        tr = ctx.tr(user_id)
        view = modals.new_handoff(tr, all_departments, own_departments=own, title=title, recipient_id=recipient,
                                  channel_id=command.get("channel_id"))
        try:
            client.views_open(trigger_id=command["trigger_id"], view=view)
        except SlackApiError as error:
            respond(response_type="ephemeral", replace_original=False, text=tr.gettext(
                "Slack could not open the form ({error}). Please type /handoff again.",
                error=error.response.get("error", "error")))

    app.command("/handoff")(ack=answer_now, lazy=[open_form])
