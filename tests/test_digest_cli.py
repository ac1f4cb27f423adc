"""`python -m handoff_bot digest send [--now]` and `digest preview USER_ID`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.slack_standin import SlackStandIn
from tests.test_cli import GOOD, ROOT


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return request.getfixturevalue("db").url
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(tmp_path: Path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "HANDOFF_CONFIG", "PORT", "SLACK_BOT_TOKEN", "SLACK_API_URL")}
    values.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), values.get("PYTHONPATH")])),
                  DATABASE_URL=database_url, **env)
    return subprocess.run([sys.executable, "-m", "handoff_bot", *args], cwd=tmp_path, env=values,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def imported(tmp_path: Path, database_url: str) -> str:
    (tmp_path / "departments.yaml").write_text(GOOD, encoding="utf-8")
    result = run(tmp_path, database_url, "departments", "import", "departments.yaml")
    assert result.returncode == 0, result.stderr
    return database_url


def test_send_now_twice_queues_each_managers_digest_once(tmp_path: Path, imported: str) -> None:
    first = run(tmp_path, imported, "digest", "send", "--now")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "2 digests queued.", "SLACK_BOT_TOKEN is not set here: the running bot delivers them from its outbox."]
    again = run(tmp_path, imported, "digest", "send", "--now")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "0 digests queued. 2 queued before are still to be delivered.",
        "SLACK_BOT_TOKEN is not set here: the running bot delivers them from its outbox."]
    on_schedule = run(tmp_path, imported, "digest", "send")
    assert on_schedule.stdout.splitlines()[0] == "0 digests queued. 2 queued before are still to be delivered."


def test_send_now_delivers_when_slack_is_configured(tmp_path: Path, imported: str, standin: SlackStandIn) -> None:
    for user in ("U0MGR1", "U0MGR2"):
        standin.add_user(user, tz="Asia/Shanghai")
    result = run(tmp_path, imported, "digest", "send", "--now", SLACK_BOT_TOKEN="xoxb-test",
                 SLACK_API_URL=standin.api_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["2 digests queued.", "2 messages delivered to Slack."]
    posted = standin.calls_to("chat.postMessage")
    assert sorted(c.params["channel"] for c in posted) == ["U0MGR1", "U0MGR2"]
    assert all(c.params["text"].startswith("Weekly digest for ") for c in posted)


def test_send_delivers_the_digests_an_earlier_run_queued_and_left(tmp_path: Path, imported: str,
                                                                   standin: SlackStandIn) -> None:
    """A run that queued the digests and stopped before they went out (no token here, or killed): the
    next run delivers them, though it has nothing new to queue."""
    assert run(tmp_path, imported, "digest", "send", "--now").stdout.startswith("2 digests queued.")
    result = run(tmp_path, imported, "digest", "send", SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=standin.api_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["0 digests queued. 2 queued before are still to be delivered.",
                                          "2 messages delivered to Slack."]
    assert sorted(c.params["channel"] for c in standin.calls_to("chat.postMessage")) == ["U0MGR1", "U0MGR2"]


def test_preview_prints_the_digest_as_text(tmp_path: Path, imported: str) -> None:
    result = run(tmp_path, imported, "digest", "preview", "U0MGR1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Weekly digest for ") and set(lines[1]) == {"="}
    assert "Finance" in lines and "Sales" not in lines
    assert "Nothing to report for Finance" in result.stdout
    current = run(tmp_path, imported, "digest", "preview", "U0MGR1", "--current")
    assert current.stdout.startswith("This week so far (")
    # A preview sends nothing and records nothing.
    assert run(tmp_path, imported, "digest", "send", "--now").stdout.startswith("2 digests queued.")


def test_preview_of_someone_who_manages_nothing_exits_2(tmp_path: Path, imported: str) -> None:
    result = run(tmp_path, imported, "digest", "preview", "U0AAA")
    assert result.returncode == 2
    assert result.stderr.startswith("U0AAA manages no department")


@pytest.mark.parametrize("text", ["", "bob smith", "<@U0MGR1>"])
def test_preview_of_something_that_is_no_user_id_says_so(tmp_path: Path, imported: str, text: str) -> None:
    result = run(tmp_path, imported, "digest", "preview", text)
    assert result.returncode == 2 and "is not a Slack user id like U012AB3CD" in result.stderr


def test_preview_reads_a_user_id_in_lower_case(tmp_path: Path, imported: str) -> None:
    result = run(tmp_path, imported, "digest", "preview", "u0mgr1")
    assert result.returncode == 0 and "Finance" in result.stdout.splitlines()
