"""The command line: `python -m handoff_bot COMMAND ACTION …`.

Each action is one function taking the parsed arguments and the settings and returning the exit
status: 0 done, 1 the database failed, 2 the input was wrong (nothing changed).
To add a command, write its `_add_…(commands)` function and call it from `build_parser`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from dotenv import find_dotenv, load_dotenv
from sqlalchemy.exc import ArgumentError, DatabaseError

from handoff_bot.clock import SystemClock
from handoff_bot.config import ConfigError, Settings
from handoff_bot.db import Database, shown_url, unusable
from handoff_bot.departments import config_file
from handoff_bot.departments.service import all_departments
from handoff_bot.departments.standards import format_duration
from handoff_bot.handoffs import export

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
    except DatabaseError as exc:
        if not unusable(exc):
            raise
        return _fail(f"Cannot use the database {shown_url(settings.database_url)}: {exc.orig}", status=1)
    except NoDatabase as exc:
        return _fail(str(exc))
    except CommandError as exc:
        return _fail(f"Cannot migrate the database {shown_url(settings.database_url)}: {exc}", status=1)


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command; each action stores its function as `action`."""
    parser = argparse.ArgumentParser(
        prog="python -m handoff_bot",
        description="Handoff administration. Reads DATABASE_URL from the environment or .env.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_db(commands)
    _add_departments(commands)
    _add_export(commands)
    _add_digest(commands)
    _add_outbox(commands)
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


def _add_export(commands: argparse._SubParsersAction) -> None:
    actions = _command(commands, "export", "handoffs as a file")
    csv_file = _action(actions, "csv", export_csv,
                       "write one CSV row per handoff, with every timing the digest uses, to standard output")
    csv_file.add_argument("--since", metavar="YYYY-MM-DD", type=_day,
                          help="only handoffs created on or after this day (UTC)")
    csv_file.add_argument("--department", metavar="NAME",
                          help="only handoffs sent from or to this department")


def _add_outbox(commands: argparse._SubParsersAction) -> None:
    actions = _command(commands, "outbox", "notices waiting for, or given up on, delivery to Slack")
    lister = _action(actions, "list", outbox_list, "show the notices not delivered yet (dead ones first)")
    lister.add_argument("--all", action="store_true", help="also the delivered ones (the latest 50)")
    retry = _action(actions, "retry", outbox_retry, "deliver dead notices again")
    retry.add_argument("ids", metavar="ID", type=int, nargs="*", help="the notices to retry (default: every dead one)")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-02") from None


def _user_id(text: str) -> str:
    if not config_file.USER_ID.match(text.strip().upper()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Slack user id like U012AB3CD")
    return text.strip().upper()


def _add_digest(commands: argparse._SubParsersAction) -> None:
    actions = _command(commands, "digest", "the managers' weekly digests")
    sender = _action(actions, "send", digest_send,
                     "send the digests that are due and not sent yet (each manager once per week)")
    sender.add_argument("--now", action="store_true",
                        help="send every manager's digest of the week that ended, without waiting for its day "
                             "and time")
    preview = _action(actions, "preview", digest_preview, "print a manager's digest as text (nothing is sent)")
    preview.add_argument("user_id", metavar="USER_ID", type=_user_id,
                         help="the manager's Slack user id, like U012AB3CD")
    preview.add_argument("--current", action="store_true",
                         help="this week so far (as /handoff digest shows it) instead of the week that ended")


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
    print(f"Database {shown_url(settings.database_url)} is up to date at revision {revision}.")
    return 0


def departments_import(args: argparse.Namespace, settings: Settings) -> int:
    """`departments import FILE`: check the file, then import it in one transaction.

    Args:
        args: the parsed command line; `args.file` is the YAML file.
        settings: where the database is.
    """
    try:
        config = config_file.load(Path(args.file), name=args.file, known=_department_names(settings))
        with _migrated(settings) as database, database.transaction() as session:
            summary = config_file.apply(session, config, SystemClock().now())
    except config_file.ConfigFileError as exc:
        return _refuse_file(exc)
    print(summary)
    return 0


def _department_names(settings: Settings) -> list[str]:
    """The departments the database holds, which pair standards may name too; none in a database that
    holds no Handoff tables yet (it is not created for a file that turns out to be wrong)."""
    database = Database(settings.database_url)
    try:
        if not database.has_schema():
            return []
        with database.read() as session:
            return [d.name for d in all_departments(session)]
    finally:
        database.dispose()


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
    with _migrated(settings, create=False) as database, database.transaction() as session:
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


def export_csv(args: argparse.Namespace, settings: Settings) -> int:
    """`export csv [--since DATE] [--department NAME]`: the handoffs as CSV on standard output.

    Args:
        args: the parsed command line; `args.since` a date or None, `args.department` a name or None.
        settings: where the database is.
    """
    with _migrated(settings, create=False) as database, database.transaction() as session:
        department_ids = None
        if args.department is not None:
            department = export.department_by_name(session, args.department)
            if department is None:
                names = ", ".join(d.name for d in all_departments(session)) or "none yet"
                return _fail(f"There is no department named {args.department!r} (departments: {names}).")
            department_ids = [department.id]
        export.write_csv(sys.stdout, session, since=args.since, department_ids=department_ids)
    sys.stdout.flush()
    return 0


def digest_send(args: argparse.Namespace, settings: Settings) -> int:
    """`digest send [--now]`: queue the digests that are due, each at most once per manager and week.

    With `SLACK_BOT_TOKEN` set, the managers' time zones are looked up first and the queue is
    delivered right away; otherwise the running bot's outbox worker delivers it.

    Args:
        args: the parsed command line; `args.now` sends the week that ended to every manager now.
        settings: where the database is, and Slack.
    """
    from slack_sdk import WebClient
    from sqlalchemy import func, select

    from handoff_bot.digests.jobs import DigestRunner
    from handoff_bot.outbox.models import NoticeKind, OutboxMessage, OutboxState
    from handoff_bot.slack.delivery import Deliverer
    from handoff_bot.slack.users import SlackDirectory

    clock = SystemClock()
    with _migrated(settings, create=False) as database:
        client = WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=15) \
            if settings.bot_token else None
        directory = SlackDirectory(database, client, clock) if client is not None else None
        queued = DigestRunner(database, clock, lambda: None, directory).run_once(on_schedule=not args.now)
        with database.read() as session:  # with those an earlier run queued and did not see delivered
            waiting = session.scalar(select(func.count()).where(
                OutboxMessage.kind == NoticeKind.DIGEST,
                OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.SENDING]))) or 0
        earlier = waiting - queued
        left = f" {earlier} queued before {'is' if earlier == 1 else 'are'} still to be delivered." if earlier else ""
        print(f"{queued} digest{'' if queued == 1 else 's'} queued.{left}")
        if waiting and client is not None and directory is not None:
            delivered = Deliverer(database, client, directory, clock).drain()
            print(f"{delivered} message{'' if delivered == 1 else 's'} delivered to Slack.")
        elif waiting:
            print("SLACK_BOT_TOKEN is not set here: the running bot delivers them from its outbox.")
    return 0


def digest_preview(args: argparse.Namespace, settings: Settings) -> int:
    """`digest preview USER_ID [--current]`: print a manager's digest as plain text, sending nothing.

    Args:
        args: the parsed command line; `args.user_id` the manager, `args.current` this week so far.
        settings: where the database is.
    """
    from handoff_bot.digests import service as digests
    from handoff_bot.i18n import translator
    from handoff_bot.people import SlackUser
    from handoff_bot.slack.blocks import digest as digest_blocks

    with _migrated(settings, create=False) as database, database.transaction() as session:
        digest = digests.build(session, args.user_id, SystemClock().now(),
                               period="current" if args.current else "last")
        profile = session.get(SlackUser, args.user_id)
        locale = profile.locale if profile is not None else None
    if not digest.departments:
        return _fail(f"{args.user_id} manages no department, so there is no digest for them. "
                     "`python -m handoff_bot departments list` shows the managers.")
    print(digest_blocks.text(translator(locale), digest), end="")
    return 0


def outbox_list(args: argparse.Namespace, settings: Settings) -> int:
    """`outbox list [--all]`: the notices not delivered yet, dead ones first, with their last error.

    Args:
        args: the parsed command line; `args.all` also lists the latest delivered notices.
        settings: where the database is.
    """
    from handoff_bot.outbox import service as outbox

    with _migrated(settings, create=False) as database, database.read() as session:
        rows = outbox.undelivered(session, include_sent=args.all)
    if not rows:
        print("Nothing waits in the outbox.")
        return 0
    print(f"{'ID':>7}  {'STATE':<8} {'TRIES':>5}  {'KIND':<15} {'TO':<12} {'HANDOFF':>7}  "
          f"{'CREATED (UTC)':<19}  LAST ERROR")
    for row in rows:
        print(f"{row.id:>7}  {row.state.value:<8} {row.attempts:>5}  {row.kind.value:<15} {row.target:<12} "
              f"{row.handoff_id or '-':>7}  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.last_error or ''}")
    return 0


def outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    """`outbox retry [ID ...]`: put dead notices back in the queue (every dead one without ids).

    Args:
        args: the parsed command line; `args.ids` the notices to retry.
        settings: where the database is.
    """
    from sqlalchemy import select

    from handoff_bot.outbox import service as outbox
    from handoff_bot.outbox.models import OutboxMessage

    wanted = sorted(set(args.ids))
    with _migrated(settings, create=False) as database, database.transaction() as session:
        known = set(session.scalars(select(OutboxMessage.id).where(OutboxMessage.id.in_(wanted)))) if wanted else set()
        count = outbox.retry_dead(session, wanted or None, SystemClock().now())
    if wanted and count < len(wanted):
        missing = [str(i) for i in wanted if i not in known]
        why = [f"no notice has the id {', '.join(missing)}"] if missing else []
        if count < len(known):
            why.append(f"{len(known) - count} {'is' if len(known) - count == 1 else 'are'} not dead")
        print(f"{count} of {len(wanted)} notices requeued; {'; '.join(why)} (see `outbox list --all`).",
              file=sys.stderr if count == 0 else sys.stdout)  # none requeued: an error
        return 2 if count == 0 else 0
    print(f"{count} dead notices requeued; a running app delivers them within seconds.")
    return 0


class NoDatabase(Exception):
    """A command that reads or sends what is there found no Handoff database at DATABASE_URL."""


@contextmanager
def _migrated(settings: Settings, *, create: bool = True) -> Iterator[Database]:
    """The database, migrated to the latest schema, closed afterwards; unless `create`, one that
    holds no Handoff tables yet is refused (`NoDatabase`), untouched, rather than created."""
    database = Database(settings.database_url)
    try:
        if not create and not database.has_schema():
            raise NoDatabase(f"There is no Handoff database at {shown_url(settings.database_url)}, so nothing to "
                             "show or send. Set DATABASE_URL to the app's database; `python -m handoff_bot db "
                             "upgrade` (or starting the app) creates a new one.")
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


def _fail(message: str, status: int = 2) -> int:
    print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`… | head`): what it read is all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs advise
        status = 1
    raise SystemExit(status)
