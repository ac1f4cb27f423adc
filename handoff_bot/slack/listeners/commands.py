"""`/handoff`: open the form, answer `help` and `list` right away, or send an `export` as a CSV file."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from handoff_bot.departments import service as departments
from handoff_bot.digests import service as digests
from handoff_bot.handoffs import export, queries
from handoff_bot.handoffs import service as handoffs
from handoff_bot.i18n import N_, Translator
from handoff_bot.slack.blocks import digest as digest_blocks
from handoff_bot.slack.blocks import modals, replies
from handoff_bot.slack.blocks.common import context, unesc
from handoff_bot.slack.context import MENTION, SlackContext
from handoff_bot.text import clean

CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def _special(m: re.Match[str]) -> str:
    """A special mention as its reader saw it: `<!subteam^S1|@team>` as @team, `<!here>` as @here (never a
    ping), `<!date^…|Feb 18, 2014>` as its fallback text."""
    if m.group(1) == "date" and m.group(2):
        return m.group(2)
    return "@" + (m.group(2) or m.group(1)).removeprefix("@")


def parse_text(text: str, name: Callable[[str], str] = lambda user_id: user_id) -> tuple[str, str | None]:
    """Split `/handoff` text into a title and the first mentioned user (`<@U…|name>`), the recipient.

    Other people mentioned stay in the title as `@name` (the name Slack sent with the mention, else
    `name(user_id)`). The title is not shortened (see `modals.new_handoff`).
    """
    mention = MENTION.search(text)
    recipient = mention.group(1) if mention else None
    title = MENTION.sub("", text, count=1)
    title = MENTION.sub(lambda m: "@" + (m.group(2) or name(m.group(1))), title)
    title = CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), title)
    title = SPECIAL.sub(_special, title)
    title = LINK.sub(lambda m: m.group(2) or m.group(1), title)
    # Slack sends &, < and > typed by the user as entities; the title is kept as typed.
    title = unesc(title)
    return clean(title), recipient  # cleaned as it will be stored


def subcommand(text: str) -> tuple[str, list[str]] | None:
    """The subcommand `/handoff` text names and its arguments, or None when the text is a title.

    `list` takes at most one word (`open`, `mine`, `dept`); `export` only options (`--since DATE`):
    `/handoff list the invoices` and `/handoff export figures` are titles.
    """
    words = text.split()
    first, rest = (words[0].lower(), words[1:]) if words else ("", [])
    if first == "help" and not rest:
        return first, rest
    if first == "list" and len(rest) <= 1:
        return first, [w.lower() for w in rest]
    if first == "export" and (not rest or rest[0].startswith("--")):
        return first, rest
    if first == "digest" and not rest:
        return first, rest
    return None


def export_since(args: list[str]) -> date | None:
    """The day of `--since YYYY-MM-DD` (or `--since=…`) in `/handoff export` arguments.

    Raises:
        ValueError: anything else in the arguments, or not a date.
    """
    if not args:
        return None
    if len(args) == 1 and args[0].startswith("--since="):
        return date.fromisoformat(args[0].split("=", 1)[1])
    if len(args) == 2 and args[0] == "--since":
        return date.fromisoformat(args[1])
    raise ValueError(" ".join(args))


def register(app: App, ctx: SlackContext, client: WebClient) -> None:
    def list_reply(user_id: str, variant: str, tr: Translator) -> dict[str, Any]:
        """The ephemeral answer to `/handoff list [open|mine|dept]`."""
        now = ctx.clock.now()
        if variant in ("", "open"):
            incoming, outgoing, hidden = ctx.read(lambda s: handoffs.open_for(s, user_id))
            return {"blocks": replies.list_blocks(tr, incoming, outgoing, hidden),
                    "text": tr.gettext("Your open handoffs")}
        if variant == "mine":
            mine = ctx.read(lambda s: queries.mine(s, user_id, now))
            return {"blocks": replies.mine_blocks(tr, mine.unfinished, mine.unfinished_total, mine.finished,
                                                  mine.timings, now), "text": tr.gettext("What you asked for")}
        if variant == "dept":
            found = ctx.read(lambda s: queries.department_lists(s, user_id, now))
            if found is None:
                return {"text": tr.gettext(
                    "You are not in any department, so there is no department list to show. An admin adds "
                    "people to departments; `/handoff list` shows your own handoffs.")}
            return {"blocks": replies.department_list_blocks(tr, found.lists, found.timings, now),
                    "text": tr.gettext("Your department's open handoffs")}
        return {"text": replies.list_usage(tr)}

    def export_reply(user_id: str, args: list[str], tr: Translator) -> str:
        """The immediate answer to `/handoff export`: refused, or what is being prepared."""
        try:
            since = export_since(args)
        except ValueError:
            return tr.gettext("Type `/handoff export` or `/handoff export --since 2026-03-01`.")
        managed = ctx.read(lambda s: departments.managed_by(s, user_id))
        if not managed:
            return tr.gettext("Only department managers can export handoffs. `/handoff list mine` shows yours.")
        names = ", ".join(d.name for d in managed)
        if since is None:
            return tr.gettext("Preparing a CSV file of every handoff to or from {departments}; it will arrive "
                              "in your messages with Handoff in a moment.", departments=names)
        return tr.gettext("Preparing a CSV file of the handoffs to or from {departments} since {date}; it will "
                          "arrive in your messages with Handoff in a moment.", departments=names,
                          date=since.isoformat())

    def digest_reply(user_id: str, tr: Translator) -> dict[str, Any]:
        """The ephemeral answer to `/handoff digest`: this week so far, for managers only."""
        now = ctx.clock.now()
        found = ctx.read(lambda s: digests.this_week(s, user_id, now))
        if found is None:
            return {"text": tr.gettext("The digest is for department managers, and you manage no department. "
                                       "`/handoff list` shows your own handoffs.")}
        parts = digest_blocks.messages(tr, found)
        if len(parts) == 1:
            return {"blocks": parts[0].blocks, "text": parts[0].text}
        ctx.run(lambda s: digests.queue_copy(s, found, now))  # too long for one answer: the whole of it by DM
        note = context(tr.gettext("The whole digest is on its way to your messages with Handoff."))
        return {"blocks": [*parts[0].blocks[:49], note], "text": parts[0].text}

    def answer_now(ack: Ack, command: dict[str, Any]) -> None:
        user_id = command["user_id"]
        word = (command.get("text") or "").strip().lower()
        named = subcommand(command.get("text") or "")
        if word != "help" and named is None:
            ack()  # the form: opened once the ack has gone out, with nothing else in the way
            ctx.later(user_id, command.get("channel_id"), "form", command)
            return
        tr = ctx.tr(user_id)
        if word == "help":
            ack(response_type="ephemeral", blocks=replies.help_blocks(tr), text=tr.gettext("How to use Handoff"))
        elif named is not None and named[0] == "list":
            ack(response_type="ephemeral", **list_reply(user_id, named[1][0] if named[1] else "", tr))
        elif named is not None and named[0] == "export":
            ack(response_type="ephemeral", text=export_reply(user_id, named[1], tr))
            ctx.later(user_id, command.get("channel_id"), "export", {**command, "args": named[1]})
        elif named is not None and named[0] == "digest":
            ack(response_type="ephemeral", **digest_reply(user_id, tr))
        else:
            ack()

    def open_form(command: dict[str, Any]) -> None:
        user_id = command["user_id"]
        channel_id = command.get("channel_id")
        tr = ctx.tr(user_id)

        def not_opened(error: str) -> None:
            ctx.answer(user_id, N_("Slack could not open the form ({error}). Please type /handoff again."),
                       channel_id, command, error=error)

        if ctx.trigger_expired(command):
            not_opened("expired_trigger_id")
            return
        title, recipient = parse_text(command.get("text") or "", ctx.display_name)
        if recipient == user_id:
            recipient = None  # no one hands work to themselves: the form would refuse it on Send
        every, own = ctx.read(lambda session: departments.choices(session, user_id))
        if not every:
            ctx.answer(user_id, N_("No departments are set up yet. An admin can import them with "
                                   "`python -m handoff_bot departments import FILE`."), channel_id, command)
            return
        view = modals.new_handoff(tr, every, own_departments=own, title=title, recipient_id=recipient,
                                  channel_id=channel_id)
        try:
            client.views_open(trigger_id=command["trigger_id"], view=view)
        except SlackApiError as error:
            if error.response.get("error") == "exchanged_trigger_id":
                return  # an earlier try opened the form (a job done again after the worker died)
            not_opened(error.response.get("error", "error"))

    def send_export(command: dict[str, Any]) -> None:
        """After `/handoff export` was acknowledged: build the CSV and upload it to the manager's DM."""
        user_id = command["user_id"]
        try:
            since = export_since(command["args"])
        except ValueError:
            return
        tr = ctx.tr(user_id)

        def build(session: Session) -> tuple[list[str], int, bytes]:
            managed = departments.managed_by(session, user_id)
            buffer = io.StringIO(newline="")
            count = export.write_csv(buffer, session, since=since, department_ids=[d.id for d in managed])
            return [d.name for d in managed], count, buffer.getvalue().encode("utf-8-sig")  # BOM: Excel reads UTF-8

        names, count, content = ctx.run(build)
        if not names:
            return
        today = ctx.clock.now().date().isoformat()
        try:
            channel = client.conversations_open(users=user_id)["channel"]["id"]
            # The request client keeps calls short; an upload of a large file may take longer.
            uploader = WebClient(token=client.token, base_url=client.base_url, timeout=60)
            uploader.files_upload_v2(
                channel=channel, content=content, filename=f"handoffs-{today}.csv",
                title=tr.gettext("Handoffs of {departments}", departments=", ".join(names)),
                initial_comment=tr.ngettext("{n} handoff to or from {departments}.",
                                            "{n} handoffs to or from {departments}.", count,
                                            departments=", ".join(names)),
            )
        except SlackApiError as error:
            ctx.answer(user_id, N_("Slack did not take the CSV file ({error}). Please try `/handoff export` again "
                                   "later."), command.get("channel_id"), command,
                       error=error.response.get("error", "error"))

    app.command("/handoff")(answer_now)
    ctx.jobs["form"] = open_form
    ctx.jobs["export"] = send_export
