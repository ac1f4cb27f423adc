"""Events API: the App Home tab, and a quiet 200 for events the bot does not use."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App
from sqlalchemy.orm import Session

from handoff_bot.outbox import service as outbox
from handoff_bot.slack.context import SlackContext

USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")


def register(app: App, ctx: SlackContext) -> None:
    def home_opened(ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        ack()  # the Home tab is published once Slack has the ack
        if event.get("tab", "home") != "home" or not USER_ID.fullmatch(str(event.get("user") or "")):
            return
        ctx.later(event["user"], None, "home", {"user_id": event["user"], "event_id": str(body.get("event_id") or "")})

    def publish_home(payload: dict[str, Any]) -> None:
        user_id, event_id = payload["user_id"], payload["event_id"]
        now = ctx.clock.now()

        def handle(session: Session) -> None:
            # Slack retries an event it thinks was missed (X-Slack-Retry-Num): handle each event id once.
            if not event_id or outbox.first_delivery(session, event_id, now):
                outbox.home_opened(session, user_id, now)

        ctx.run(handle)

    def ignore() -> None:
        return None

    app.event("app_home_opened")(home_opened)
    ctx.jobs["home"] = publish_home
    app.event(re.compile(".*"))(ignore)
