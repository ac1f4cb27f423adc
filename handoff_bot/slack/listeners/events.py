"""Events API: the App Home tab, and a quiet 200 for events the bot does not use."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import App

from handoff_bot.outbox.models import NoticeKind
from handoff_bot.outbox.service import enqueue
from handoff_bot.slack.context import SlackContext


def register(app: App, ctx: SlackContext) -> None:
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user_id = event["user"]
        ctx.run(lambda session: enqueue(session, NoticeKind.HOME, user_id, ctx.clock.now()))

    def ignore() -> None:
        return None

    app.event("app_home_opened")(home_opened)
    app.event(re.compile(".*"))(ignore)
