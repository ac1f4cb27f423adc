"""Settings, read once from the environment into a typed object.

`.env` is loaded only by the entry points (`app.py`, `python -m handoff_bot`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///handoff.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """The environment is missing something the bot needs to run."""


def database_url(text: str) -> str:
    """`DATABASE_URL` checked: SQLite, or PostgreSQL through psycopg 3 (`postgresql://` and
    `postgres://` are read as `postgresql+psycopg://`).

    Raises:
        ConfigError: not a URL, or another database.
    """
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a database URL like sqlite:///handoff.db or "
                          "postgresql+psycopg://user:password@host/dbname.") from None
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise ConfigError(f"DATABASE_URL must be SQLite (sqlite:///handoff.db) or PostgreSQL "
                          f"(postgresql+psycopg://user:password@host/dbname), not {url.drivername}.")
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.drivername.startswith("sqlite") and in_memory:
        raise ConfigError("DATABASE_URL names an in-memory SQLite database, which each connection and the worker "
                          "process would see empty: name a file, like sqlite:///handoff.db.")
    return text


def slack_api_url(text: str) -> str:
    """`SLACK_API_URL` checked, with the trailing slash slack_sdk joins method names to.

    Raises:
        ConfigError: not an http(s) address.
    """
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"SLACK_API_URL must be an http(s) address like {DEFAULT_SLACK_API_URL}, not {text!r}.")
    return text if text.endswith("/") else text + "/"


@dataclass(frozen=True)
class Settings:
    bot_token: str
    signing_secret: str
    app_token: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    slack_api_url: str = DEFAULT_SLACK_API_URL
    port: int = 3000
    handoff_config: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_slack: bool = True) -> Settings:
        """Read the settings from `env` (default: `os.environ`).

        Args:
            env: the variables to read.
            require_slack: raise `ConfigError` when the Slack credentials are missing.
        """
        env = os.environ if env is None else env
        values = {k: (env.get(k) or "").strip() for k in (
            "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DATABASE_URL",
            "SLACK_API_URL", "PORT", "HANDOFF_CONFIG",
        )}
        if require_slack:
            missing = [k for k in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET") if not values[k]]
            if missing:
                raise ConfigError(
                    f"Missing {' and '.join(missing)}.\n"
                    "Create the Slack app from manifest.yml (api.slack.com/apps → Create New App → "
                    "From an app manifest), install it to your workspace, then set:\n"
                    "  SLACK_BOT_TOKEN       OAuth & Permissions → Bot User OAuth Token (xoxb-…)\n"
                    "  SLACK_SIGNING_SECRET  Basic Information → App Credentials → Signing Secret\n"
                    "  SLACK_APP_TOKEN       optional, for Socket Mode: Basic Information → App-Level "
                    "Tokens (xapp-…, scope connections:write)\n"
                    "in the environment or in a .env file (see .env.example)."
                )
        # The app's own settings; the CLI (require_slack=False) uses neither.
        if require_slack and values["SLACK_APP_TOKEN"] and not values["SLACK_APP_TOKEN"].startswith("xapp-"):
            raise ConfigError(
                "SLACK_APP_TOKEN must be an App-Level Token starting with xapp- (Basic Information → App-Level "
                "Tokens, scope connections:write), or empty to serve HTTP."
            )
        port_text = values["PORT"] or "3000"
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            if require_slack:
                raise ConfigError(f"PORT must be a number from 1 to 65535, not {port_text!r}.")
            port_text = "3000"
        return cls(
            bot_token=values["SLACK_BOT_TOKEN"],
            signing_secret=values["SLACK_SIGNING_SECRET"],
            app_token=values["SLACK_APP_TOKEN"] or None,
            database_url=database_url(values["DATABASE_URL"] or DEFAULT_DATABASE_URL),
            slack_api_url=slack_api_url(values["SLACK_API_URL"] or DEFAULT_SLACK_API_URL),
            port=int(port_text),
            handoff_config=values["HANDOFF_CONFIG"] or None,
        )
