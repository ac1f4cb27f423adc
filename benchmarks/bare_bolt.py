"""A bare Bolt app whose listeners only ack, served the way `python app.py` serves Handoff.

    SLACK_SIGNING_SECRET=… SLACK_API_URL=http://127.0.0.1:PORT/api/ PORT=3001 \
        .venv/bin/python benchmarks/bare_bolt.py                              # Bolt's defaults
    … .venv/bin/python benchmarks/bare_bolt.py --process-before-response      # ack inline
    … .venv/bin/python benchmarks/bare_bolt.py --process-before-response --open-modal

The floor for `benchmarks/run_all.py`: what Bolt and the server cost before the app does anything.
The same server stack as `handoff_bot.runtime.Runtime.serve`: waitress `create_server(…,
threads=8, max_request_body_size=1 MiB)`, Bolt's WSGI adapter (`SlackRequestHandler`) on
`POST /slack/events`, `GET /healthz` answered beside it; the same Bolt set-up as
`handoff_bot.slack.app.build_app` (a `WebClient` with the bot token and `SLACK_API_URL`, request
verification on, token verification at start off, so the first request asks `auth.test` once).

Every slash command, block action and view submission is acked with an empty body, nothing else:

- default: `process_before_response=False` (Bolt's default): the listener runs on Bolt's thread
  pool and the HTTP thread waits for `ack()`, polling every 10 ms;
- `--process-before-response`: the listener runs on the HTTP thread and the answer is sent when
  it returns (what Handoff uses).

With `--open-modal` (and `--process-before-response`), commands and actions also open a small
modal the way Bolt's documentation does it: a lazy listener that calls `views.open`, started on
Bolt's thread pool as the ack goes out. That is the work `/handoff` and a click set going in
Handoff; this app shows what it costs the acks of any Bolt app on the same machine.

Environment: SLACK_SIGNING_SECRET (required), SLACK_BOT_TOKEN (default `xoxb-bare`),
SLACK_API_URL (default Slack's), PORT (default 3000). SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

MAX_BODY = 1024 * 1024  # as handoff_bot.runtime
ANY = re.compile(".*")


MODAL = {"type": "modal", "callback_id": "bare", "title": {"type": "plain_text", "text": "Bare Bolt"},
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Opened after the ack."}}]}


def build(signing_secret: str, token: str, api_url: str, *, process_before_response: bool,
          open_modal: bool = False) -> App:
    """The bare Bolt app: every command, action and view acked; with `open_modal`, commands and actions
    also open a modal, in a lazy listener (Bolt runs it on its thread pool as the ack goes out)."""
    app = App(
        client=WebClient(token=token, base_url=api_url, timeout=5),
        signing_secret=signing_secret,
        process_before_response=process_before_response,
        token_verification_enabled=False,
        request_verification_enabled=True,
    )

    def just_ack(ack: Ack) -> None:
        ack()

    def open_it(body: dict[str, Any], client: WebClient) -> None:
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    if open_modal:
        app.command(ANY)(ack=just_ack, lazy=[open_it])
        app.action(ANY)(ack=just_ack, lazy=[open_it])
    else:
        app.command(ANY)(just_ack)
        app.action(ANY)(just_ack)
    app.view(ANY)(just_ack)
    return app


def wsgi(app: App) -> Callable[..., Iterable[bytes]]:
    """POST /slack/events to Bolt's WSGI adapter, GET /healthz answered here."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def answer(start_response: StartResponse, status: str, payload: dict[str, Any]) -> Iterable[bytes]:
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/slack/events":
            return slack(environ, start_response)
        if path == "/healthz":
            return answer(start_response, "200 OK", {"status": "ok"})
        return answer(start_response, "404 Not Found", {"error": "not found"})

    return application


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--process-before-response", action="store_true",
                        help="ack inline (Handoff's setting) instead of Bolt's default")
    parser.add_argument("--open-modal", action="store_true",
                        help="commands and actions also open a modal (a lazy listener calling views.open)")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.open_modal and not args.process_before_response:
        parser.error("--open-modal goes with --process-before-response")
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        print("bare_bolt: set SLACK_SIGNING_SECRET", file=sys.stderr)
        return 2
    from waitress import create_server

    app = build(secret, os.environ.get("SLACK_BOT_TOKEN") or "xoxb-bare",
                os.environ.get("SLACK_API_URL") or "https://slack.com/api/",
                process_before_response=args.process_before_response, open_modal=args.open_modal)
    port = int(os.environ.get("PORT") or 3000)
    server = create_server(wsgi(app), host=args.host, port=port, threads=8, max_request_body_size=MAX_BODY,
                           ident="bare-bolt")

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"bare Bolt (process_before_response={args.process_before_response}) on http://{args.host}:{port}",
          flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
