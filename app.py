"""Run Handoff: `python app.py`. Settings come from the environment or `.env` (see .env.example)."""

from __future__ import annotations

import logging
import signal
import sys

from alembic.util import CommandError
from dotenv import find_dotenv, load_dotenv
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DatabaseError

from handoff_bot.config import ConfigError, Settings
from handoff_bot.db import shown_url, unusable
from handoff_bot.departments.config_file import ConfigFileError
from handoff_bot.logs import setup_logging
from handoff_bot.runtime import ListenError, Runtime


def main() -> int:
    load_dotenv(find_dotenv(usecwd=True), override=False)  # the .env of the directory it is run from
    setup_logging()
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"handoff: {error}", file=sys.stderr)
        return 2
    runtime = Runtime(settings)
    try:
        runtime.prepare()
        runtime.check_token()
    except ConfigFileError as error:
        print(f"handoff: {settings.handoff_config} is not valid:\n{error}", file=sys.stderr)
        return 2
    except DatabaseError as error:
        if not unusable(error):
            raise
        print(f"handoff: Cannot use the database {shown_url(settings.database_url)}: {error.orig}", file=sys.stderr)
        return 1
    except CommandError as error:
        print(f"handoff: Cannot migrate the database {shown_url(settings.database_url)}: {error}", file=sys.stderr)
        return 1
    except SlackApiError as error:
        print(f"handoff: Slack refused SLACK_BOT_TOKEN ({error.response.get('error')}). Copy the Bot User "
              "OAuth Token (xoxb-…) from OAuth & Permissions of your Slack app.", file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the shutdown short
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        runtime.serve()  # returns once interrupted (waitress takes the KeyboardInterrupt itself)
        logging.getLogger("handoff").info("stopped")
    except KeyboardInterrupt:  # before the server ran
        logging.getLogger("handoff").info("stopped")
    except ListenError as error:
        print(f"handoff: {error}", file=sys.stderr)
        return 2
    except SlackApiError as error:  # apps.connections.open refused SLACK_APP_TOKEN
        print(f"handoff: Slack refused SLACK_APP_TOKEN ({error.response.get('error')}). Copy an App-Level "
              "Token (xapp-…, scope connections:write) from Basic Information → App-Level Tokens of your "
              "Slack app, or leave SLACK_APP_TOKEN unset to serve HTTP.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
