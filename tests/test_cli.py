"""`python -m handoff_bot`, run as a user runs it: a subprocess, its exit status and its output."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from handoff_bot.db import alembic_config
from handoff_bot.logs import OncePer, setup_logging

ROOT = Path(__file__).resolve().parent.parent
GOOD = """\
admins: [U0ADMIN]
departments:
  - name: Finance
    managers: [U0MGR1]
    members: [U0AAA, U0BBB]
    intake_channel: C0FIN
  - name: Sales
    managers: [U0MGR2]
    standard:
      confirm_within: 30m
      working_hours: always
"""
BAD = """\
departments:
  - name: Finance
    managers: ['@carol']
    standard:
      confirm_within: 4 hours
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file the CLI creates itself, or the migrated PostgreSQL test database."""
    if os.environ.get("TEST_DATABASE_URL"):
        return request.getfixturevalue("db").url
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Run:
    """Run `python -m handoff_bot ARGS…` in `tmp_path` (no .env there unless a test writes one)."""
    def run(*args: str, database: str | None = database_url) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HANDOFF_CONFIG", "PORT")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        if database is not None:
            env["DATABASE_URL"] = database
        return subprocess.run(
            [sys.executable, "-m", "handoff_bot", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
    return run


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return name


def test_db_upgrade_migrates_and_prints_the_revision(cli: Run, database_url: str):
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    result = cli("db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"is up to date at revision {head}.")
    assert cli("db", "upgrade").returncode == 0


def test_import_then_list(cli: Run, tmp_path: Path):
    result = cli("departments", "import", write(tmp_path, "departments.yaml", GOOD))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Departments: 2 created, 0 updated, 0 unchanged, 0 not in file (kept).",
        "  created: Finance, Sales",
        "Admins: 1 added (U0ADMIN).",
    ]

    listing = cli("departments", "list")

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "MANAGERS", "MEMBERS", "INTAKE", "CONFIRM", "REMIND", "ESCALATE", "COMPLETE",
                                "HOURS", "HOLIDAYS"]
    assert lines[1].split() == ["Finance", "U0MGR1", "2:", "U0AAA,", "U0BBB", "C0FIN", "4h", "4h", "2", "3d",
                                "Mon-Fri", "09:00-18:00", "-"]
    assert lines[2].split() == ["Sales", "U0MGR2", "0", "-", "30m", "4h", "2", "3d", "always", "-"]
    assert lines[3:] == ["", "Pair standards: none.", "", "Admins: U0ADMIN"]


def test_list_shows_holiday_countries_and_pair_standards(cli: Run, tmp_path: Path):
    paired = GOOD.replace("    intake_channel: C0FIN\n", "    intake_channel: C0FIN\n    holiday_country: cn\n") + (
        "pair_standards:\n"
        "  - from: Sales\n    to: Finance\n    confirm_within: 2h\n"
        "  - from: finance\n    to: sales\n    escalate_after: 0\n    working_hours: Mon-Fri 08:00-20:00\n"
    )
    result = cli("departments", "import", write(tmp_path, "departments.yaml", paired))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2:4] == [
        "Pair standards: 2 created, 0 updated, 0 unchanged, 0 removed.",
        "  created: Sales → Finance, Finance → Sales",
    ]

    listing = cli("departments", "list")

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[1].split()[-1] == "CN"
    assert lines[2].split()[-1] == "-"
    assert lines[3:] == [
        "",
        "Pair standards (for handoffs FROM one department TO another; - = the TO department's own):",
        "FROM     TO       CONFIRM  REMIND  ESCALATE  COMPLETE  HOURS",
        "Finance  Sales    -        -       0         -         Mon-Fri 08:00-20:00",
        "Sales    Finance  2h       -       -         -         -",
        "",
        "Admins: U0ADMIN",
    ]

    again = cli("departments", "import", "departments.yaml")
    assert again.returncode == 0, again.stderr
    assert "Pair standards: 0 created, 0 updated, 2 unchanged, 0 removed." in again.stdout
    assert again.stdout.strip().endswith("Nothing changed.")


def test_a_pair_with_an_unknown_department_exits_2_and_changes_nothing(cli: Run, tmp_path: Path):
    assert cli("departments", "import", write(tmp_path, "good.yaml", GOOD)).returncode == 0
    before = cli("departments", "list").stdout
    unknown = "departments:\n  - name: Legal\npair_standards:\n  - from: Legal\n    to: Sails\n    confirm_within: 1h\n"

    result = cli("departments", "import", write(tmp_path, "pairs.yaml", unknown))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "pairs.yaml:5:9: pair_standards[0].to: 'Sails' is neither a department in this file nor one already in the "
        "database. Did you mean 'Sales'? Add it under 'departments', or correct the name.",
        "Nothing was imported. Fix the problem above and run the import again.",
    ]
    assert cli("departments", "list").stdout == before


def test_an_unknown_department_in_a_pair_is_reported_with_the_files_other_problems(cli: Run, tmp_path: Path):
    assert cli("departments", "import", write(tmp_path, "good.yaml", GOOD)).returncode == 0
    wrong = ("departments:\n  - name: Legal\n    intake_channel: legal\npair_standards:\n"
             "  - from: Legal\n    to: Sails\n    confirm_within: 1h\n"
             "  - from: Sales\n    to: Finance\n    confirm_within: 1h\n")

    result = cli("departments", "import", write(tmp_path, "wrong.yaml", wrong))

    assert result.returncode == 2
    assert [line.split(": ")[0] for line in result.stderr.splitlines()[:-1]] == [
        "wrong.yaml:3:21", "wrong.yaml:6:9"]  # the channel, then 'Sails' (Sales and Finance are in the database)
    assert "'Sails' is neither a department in this file nor one already in the database" in result.stderr
    assert result.stderr.splitlines()[-1] == "Nothing was imported. Fix the 2 problems above and run the import again."


def test_importing_the_same_file_again_reports_nothing_changed(cli: Run, tmp_path: Path):
    name = write(tmp_path, "departments.yaml", GOOD)
    assert cli("departments", "import", name).returncode == 0

    result = cli("departments", "import", name)

    assert result.returncode == 0, result.stderr
    assert "0 created, 0 updated, 2 unchanged" in result.stdout
    assert result.stdout.strip().endswith("Nothing changed.")


def test_a_bad_file_prints_every_problem_exits_2_and_changes_nothing(cli: Run, tmp_path: Path):
    assert cli("departments", "import", write(tmp_path, "good.yaml", GOOD)).returncode == 0
    before = cli("departments", "list").stdout

    result = cli("departments", "import", write(tmp_path, "bad.yaml", BAD))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.yaml:3:16: departments[0].managers[0]: '@carol' is a name, not a Slack user id; in Slack, open the "
        "person's profile → ⋮ → Copy member ID (it looks like U012AB3CD).",
        "bad.yaml:5:23: departments[0].standard.confirm_within: '4 hours' is not a duration like 30s, 15m, 4h or 2d.",
        "Nothing was imported. Fix the 2 problems above and run the import again.",
    ]
    assert "Traceback" not in result.stderr
    assert cli("departments", "list").stdout == before


def test_a_bad_file_does_not_touch_a_new_database(cli: Run, tmp_path: Path, database_url: str):
    result = cli("departments", "import", write(tmp_path, "bad.yaml", "departments:\n  - name: [A]\n"))

    assert result.returncode == 2
    assert result.stderr.startswith("bad.yaml:2:11: departments[0].name: must be text, not a list.")
    if database_url.startswith("sqlite"):
        assert not (tmp_path / "cli.db").exists()


def test_a_missing_file_is_a_clear_error(cli: Run):
    result = cli("departments", "import", "missing.yaml")

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "missing.yaml: there is no such file."


def test_commands_that_read_or_send_what_is_there_neither_create_a_database_nor_call_a_missing_one_empty(
        cli: Run, tmp_path: Path):
    missing = tmp_path / "elsewhere.db"
    for command in (["departments", "list"], ["outbox", "list"], ["export", "csv"], ["digest", "preview", "U0MGR1"],
                    ["outbox", "retry"], ["digest", "send", "--now"]):
        result = cli(*command, database=f"sqlite:///{missing}")
        assert result.returncode == 2, result
        assert result.stderr.startswith(f"There is no Handoff database at sqlite:///{missing}, so nothing to show "
                                        "or send."), command
        assert not missing.exists()


def test_list_on_an_empty_database(cli: Run):
    assert cli("db", "upgrade").returncode == 0
    result = cli("departments", "list")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "No departments yet. Add them with: python -m handoff_bot departments import FILE", "", "Admins: none",
    ]


@pytest.mark.parametrize("args", [[], ["departments"], ["departments", "export"], ["nope"]])
def test_usage_errors_exit_2_with_usage(cli: Run, args: list[str]):
    result = cli(*args)

    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m handoff_bot")
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_a_clear_error(cli: Run, tmp_path: Path):
    result = cli("db", "upgrade", database=f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")

    assert result.returncode == 1
    assert result.stderr.startswith("Cannot use the database sqlite:///")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["db", "upgrade"], ["departments", "list"], ["outbox", "list"]])
def test_a_file_that_is_not_a_database_is_a_clear_error_and_stays_as_it_was(cli: Run, tmp_path: Path,
                                                                             args: list[str]):
    notes = tmp_path / write(tmp_path, "notes.db", "shopping list\n")
    result = cli(*args, database=f"sqlite:///{notes}")

    assert result.returncode == 1
    assert result.stderr == f"Cannot use the database sqlite:///{notes}: file is not a database\n"
    assert notes.read_text() == "shopping list\n"


def test_a_reader_that_stops_early_gets_no_traceback(cli: Run, tmp_path: Path, database_url: str):
    names = "".join(f"  - name: Department {n:04} of the company with a long name\n" for n in range(1000))
    assert cli("departments", "import", write(tmp_path, "many.yml", "departments:\n" + names)).returncode == 0
    env = {**os.environ, "DATABASE_URL": database_url,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with subprocess.Popen([sys.executable, "-m", "handoff_bot", "departments", "list"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as listing:  # as `… | head -1`
        assert listing.stdout is not None and listing.stderr is not None
        assert listing.stdout.readline().startswith(b"NAME")
        listing.stdout.close()
        assert listing.wait(timeout=60) == 1
        assert listing.stderr.read() == b""


def test_database_url_comes_from_dotenv_unless_already_set(cli: Run, tmp_path: Path):
    write(tmp_path, ".env", "DATABASE_URL=sqlite:///from-dotenv.db\n")

    from_dotenv = cli("db", "upgrade", database=None)
    from_environment = cli("db", "upgrade", database=f"sqlite:///{tmp_path / 'from-env.db'}")

    assert from_dotenv.returncode == 0, from_dotenv.stderr
    assert "sqlite:///from-dotenv.db" in from_dotenv.stdout
    assert from_environment.returncode == 0, from_environment.stderr
    assert "from-env.db" in from_environment.stdout


def test_the_apps_own_settings_do_not_stop_the_cli_but_a_bad_slack_address_or_memory_database_does(
        cli: Run, tmp_path: Path):
    write(tmp_path, ".env", "SLACK_APP_TOKEN=xoxb-not-an-app-token\nPORT=eighty\n")  # what app.py alone reads
    assert cli("db", "upgrade").returncode == 0
    write(tmp_path, ".env", "SLACK_API_URL=slack.example.com/api\n")
    bad_address = cli("db", "upgrade")
    assert bad_address.returncode == 2 and "SLACK_API_URL must be an http(s) address" in bad_address.stderr
    for memory in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:x?mode=memory&uri=true"):
        refused = cli("db", "upgrade", database=memory)
        assert refused.returncode == 2 and "in-memory SQLite database" in refused.stderr, memory
        assert "Traceback" not in refused.stderr


def test_an_unknown_log_level_is_reported_and_info_is_used(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOG_LEVEL", "verbose")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging()
        assert root.level == logging.INFO
    finally:
        root.handlers[:], root.level = handlers, level
    assert "LOG_LEVEL=VERBOSE is not a level (DEBUG, INFO, WARNING, ERROR); logging at INFO" in capsys.readouterr().err


def test_the_web_servers_warning_of_every_busy_request_is_logged_once_every_ten_seconds(
        capsys: pytest.CaptureFixture[str]) -> None:
    root, queue = logging.getLogger(), logging.getLogger("waitress.queue")
    handlers, level, filters = root.handlers[:], root.level, queue.filters[:]
    try:
        setup_logging()
        for depth in range(1, 6):
            queue.warning("Task queue depth is %d", depth)
    finally:
        root.handlers[:], root.level, queue.filters[:] = handlers, level, filters
    lines = [json.loads(line)["message"] for line in capsys.readouterr().err.splitlines()]
    assert lines == ["Task queue depth is 1"]

    now = [100.0]
    once = OncePer(10.0, clock=lambda: now[0])
    seen: list[str] = []
    for depth, at in ((1, 100.0), (2, 104.0), (3, 109.9), (4, 110.0), (5, 115.0), (6, 125.0)):
        now[0] = at
        record = logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d",
                                   (depth,), None)
        if once.filter(record):
            seen.append(record.getMessage())
    assert seen == ["Task queue depth is 1", "Task queue depth is 4 (2 more held back)",
                    "Task queue depth is 6 (1 more held back)"]


def test_a_department_without_a_manager_is_imported_with_a_warning(cli: Run, tmp_path: Path):
    result = cli("departments", "import", write(tmp_path, "nomanager.yaml", "departments:\n  - name: Legal\n"
                                                "    members: [U0AAA]\n    intake_channel: C0LEGAL\n"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ("Warning: Legal has no manager: its escalations, overdue notices and "
                                              "weekly digest reach nobody there.")
    assert "Legal" in cli("departments", "list").stdout
