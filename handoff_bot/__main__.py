"""The command line: `python -m handoff_bot COMMAND ACTION …`.

Each action is one function taking the parsed arguments and the settings and returning the exit
status: 0 done, 1 the database failed, 2 the input was wrong (nothing changed).
To add a command, write its `_add_…(commands)` function and call it from `build_parser`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from dotenv import find_dotenv, load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from handoff_bot.clock import SystemClock
from handoff_bot.config import ConfigError, Settings
from handoff_bot.db import Database
from handoff_bot.departments import config_file
from handoff_bot.departments.standards import format_duration

Action = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status.

    Args:
        argv: the arguments after `python -m handoff_bot`; default: `sys.argv[1:]`.
    """
    args = build_parser().parse_args(argv)
    # The .env of the directory the command is run from; variables already set win.
    load_dotenv(find_dotenv(usecwd=True), override=False)
    try:
        settings = Settings.from_env(require_slack=False)
    except ConfigError as exc:
        return _fail(str(exc))
    action: Action = args.action
    try:
        return action(args, settings)
    except ArgumentError as exc:
        return _fail(f"DATABASE_URL is not a database URL like sqlite:///handoff.db or "
                     f"postgresql+psycopg://user:password@host/dbname ({exc}).")
    except OperationalError as exc:
        return _fail(f"Cannot use the database {_shown(settings.database_url)}: {exc.orig}", status=1)
    except CommandError as exc:
        return _fail(f"Cannot migrate the database {_shown(settings.database_url)}: {exc}", status=1)


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command; each action stores its function as `action`."""
    parser = argparse.ArgumentParser(
        prog="python -m handoff_bot",
        description="Handoff administration. Reads DATABASE_URL from the environment or .env.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_db(commands)
    _add_departments(commands)
    return parser


def _add_db(commands: argparse._SubParsersAction) -> None:
    actions = _command(commands, "db", "the database schema")
    _action(actions, "upgrade", db_upgrade, "migrate the database to the latest schema")


def _add_departments(commands: argparse._SubParsersAction) -> None:
    actions = _command(commands, "departments", "departments, their people and service standards")
    importer = _action(actions, "import", departments_import,
                       "create or update the departments named in a YAML file and add its admins")
    importer.add_argument("file", metavar="FILE", help="the departments YAML file")
    _action(actions, "list", departments_list, "show the departments, their people and standards, and the admins")


def _command(commands: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=help_text, description=help_text.capitalize() + ".")
    return parser.add_subparsers(dest="subcommand", metavar="ACTION", required=True)


def _action(actions: argparse._SubParsersAction, name: str, run: Action, help_text: str) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help_text, description=help_text.capitalize() + ".")
    parser.set_defaults(action=run)
    return parser


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """`db upgrade`: migrate the database and print the revision now in place.

    Args:
        args: the parsed command line (no options).
        settings: where the database is.
    """
    with _migrated(settings) as database, database.engine.connect() as conn:
        revision = ", ".join(MigrationContext.configure(conn).get_current_heads())
    print(f"Database {_shown(settings.database_url)} is up to date at revision {revision}.")
    return 0


def departments_import(args: argparse.Namespace, settings: Settings) -> int:
    """`departments import FILE`: check the file, then import it in one transaction.

    Args:
        args: the parsed command line; `args.file` is the YAML file.
        settings: where the database is.
    """
    try:
        config = config_file.load(Path(args.file), name=args.file)
    except config_file.ConfigFileError as exc:
        return _refuse_file(exc)
    try:
        with _migrated(settings) as database, database.transaction() as session:
            summary = config_file.apply(session, config, SystemClock().now())
    except config_file.ConfigFileError as exc:  # e.g. a pair standard names an unknown department
        return _refuse_file(exc)
    print(summary)
    return 0


def _refuse_file(exc: config_file.ConfigFileError) -> int:
    """Print every problem of a departments file and say nothing was imported; returns 2."""
    for error in exc.errors:
        print(error, file=sys.stderr)
    problems = "the problem" if len(exc.errors) == 1 else f"the {len(exc.errors)} problems"
    print(f"Nothing was imported. Fix {problems} above and run the import again.", file=sys.stderr)
    return 2


def departments_list(args: argparse.Namespace, settings: Settings) -> int:
    """`departments list`: print the departments as a table, then the pair standards, then the admins.

    Args:
        args: the parsed command line (no options).
        settings: where the database is.
    """
    with _migrated(settings) as database, database.transaction() as session:
        current = config_file.from_database(session)
    if current.departments:
        rows = [
            [
                d.name,
                ", ".join(d.managers) or "-",
                f"{len(d.members)}: {', '.join(d.members)}" if d.members else "0",
                d.intake_channel or "-",
                format_duration(d.standard.confirm_within_s),
                format_duration(d.standard.remind_every_s),
                str(d.standard.escalate_after),
                format_duration(d.standard.complete_within_s),
                d.standard.working_hours,
                d.standard.holiday_country or "-",
            ]
            for d in current.departments
        ]
        headers = ["NAME", "MANAGERS", "MEMBERS", "INTAKE", "CONFIRM", "REMIND", "ESCALATE", "COMPLETE", "HOURS",
                   "HOLIDAYS"]
        print(_table(headers, rows))
        print()
        if current.pair_standards:
            print("Pair standards (for handoffs FROM one department TO another; - = the TO department's own):")
            rows = [
                [
                    p.from_department,
                    p.to_department,
                    _or_dash(p.confirm_within_s, format_duration),
                    _or_dash(p.remind_every_s, format_duration),
                    _or_dash(p.escalate_after, str),
                    _or_dash(p.complete_within_s, format_duration),
                    p.working_hours or "-",
                ]
                for p in current.pair_standards
            ]
            print(_table(["FROM", "TO", "CONFIRM", "REMIND", "ESCALATE", "COMPLETE", "HOURS"], rows))
        else:
            print("Pair standards: none.")
    else:
        print("No departments yet. Add them with: python -m handoff_bot departments import FILE")
    print()
    print(f"Admins: {', '.join(current.admins) or 'none'}")
    return 0


@contextmanager
def _migrated(settings: Settings) -> Iterator[Database]:
    """The database, migrated to the latest schema, closed afterwards."""
    database = Database(settings.database_url)
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = [headers, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _or_dash(value: int | None, shown: Callable[[int], str]) -> str:
    return "-" if value is None else shown(value)


def _shown(url: str) -> str:
    """A database URL safe to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable DATABASE_URL)"


def _fail(message: str, status: int = 2) -> int:
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
