"""The Bolt app: verification and routing are Bolt's; listeners are registered here, explicitly."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from handoff_bot.i18n import translator
from handoff_bot.slack.context import SlackContext
from handoff_bot.slack.listeners import actions, commands, events, views

log = logging.getLogger(__name__)


def build_app(
    ctx: SlackContext, client: WebClient, signing_secret: str, middleware: Callable[..., Any] | None = None
) -> App:
    """A Bolt app answering commands, buttons, modals and events.

    Args:
        ctx: database, clock, profiles and outbox worker the listeners use.
        client: the Web API client (its `base_url` may point at a stand-in).
        signing_secret: verifies every HTTP request (Bolt answers 401 to a bad or stale signature).
        middleware: runs around every verified request (metrics).
    """
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=True,
        token_verification_enabled=False,
        request_verification_enabled=True,
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        user = body.get("user")
        user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
        log.error("request failed (%s)", body.get("type") or body.get("command"), exc_info=error)
        try:
            locale = ctx.directory.locale(user_id) if isinstance(user_id, str) else None
        except SQLAlchemyError:  # what failed may be the database the profiles are kept in: answer in English
            locale = None
        text = translator(locale).gettext(
            "Something went wrong on our side and nothing was changed. Please try again in a moment.")
        if body.get("type") == "view_submission":
            view = body.get("view")
            blocks = view.get("blocks") if isinstance(view, dict) else None
            inputs = [b["block_id"] for b in blocks or [] if isinstance(b, dict) and b.get("type") == "input"
                      and isinstance(b.get("block_id"), str)] if isinstance(blocks, list) else []
            if not inputs:
                return BoltResponse(status=200, body="")
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {inputs[0]: text}})
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})

    if middleware is not None:
        app.use(middleware)

    @app.use
    def rate_limited(body: dict[str, Any], next: Callable[[], Any]) -> Any:
        """Slack's notice that it is dropping events to this app (over 30,000 an hour): taken, logged."""
        if body.get("type") != "app_rate_limited":
            return next()
        log.warning("Slack is holding back events to this app (rate limited since minute %s)",
                    body.get("minute_rate_limited"))
        return BoltResponse(status=200, body="")

    commands.register(app, ctx, client)
    actions.register(app, ctx, client)
    views.register(app, ctx)
    events.register(app, ctx)
    return app

