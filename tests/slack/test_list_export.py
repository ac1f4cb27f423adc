"""`/handoff list [open|mine|dept]` and the CSV export, from the command line and from Slack."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from handoff_bot.clock import FakeClock
from handoff_bot.db import Database
from handoff_bot.handoffs import export
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.service import Draft
from handoff_bot.people import KnownProfiles, Profile
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.slack.conftest import MANAGER, MEMBER, OUTSIDER, RECIPIENT, REQUESTER, Bot
from tests.slack.test_core_loop import handoff, open_new_form, submit_new
from tests.slack.test_home import texts
from tests.slack_requests import radio_value, text_value
from tests.slack_standin import dm_channel

ROOT = Path(__file__).resolve().parents[2]
PROFILES = KnownProfiles({u: Profile(u, u.lower(), "Asia/Shanghai") for u in (REQUESTER, RECIPIENT, MEMBER)})


def shown(reply: Any) -> str:
    """What the user reads in an ephemeral answer: its blocks' texts, or its text."""
    body = reply.json
    return texts(body) if body.get("blocks") else body["text"]


def create(bot: Bot, title: str, recipient: str | None = RECIPIENT, due: date | None = None) -> int:
    with bot.runtime.db.transaction() as session:
        return handoffs.create(session, Draft(REQUESTER, bot.finance, title, recipient_id=recipient, due_date=due),
                               directory=PROFILES, now=bot.clock.now()).id


def finish(bot: Bot, handoff_id: int, rating: int = 4, comment: str = "") -> None:
    """Take a handoff through restate, accept, done and rated, as its people would."""
    now = bot.clock.now
    with bot.runtime.db.transaction() as session:
        handoffs.restate(session, handoff_id, RECIPIENT, ["My words"], now())
    with bot.runtime.db.transaction() as session:
        handoffs.accept(session, handoff_id, 1, REQUESTER, now())
    bot.clock.advance(timedelta(hours=2))
    with bot.runtime.db.transaction() as session:
        handoffs.mark_done(session, handoff_id, RECIPIENT, now())
    with bot.runtime.db.transaction() as session:
        handoffs.rate(session, handoff_id, REQUESTER, rating, comment, now())


# --------------------------------------------------------------------------- /handoff list


def test_list_and_list_open_show_open_handoffs_both_ways(bot: Bot) -> None:
    create(bot, "Close the books")
    for text in ("list", "list open", "LIST Open"):
        reply = bot.slack.command(RECIPIENT, text)
        assert reply.status == 200
        assert "*Sent to you*" in shown(reply) and "Close the books" in shown(reply)
        requester_view = shown(bot.slack.command(REQUESTER, text))
        assert "*You asked for*" in requester_view and "Close the books" in requester_view
    assert bot.standin.calls_to("views.open") == []  # a subcommand never opens the form


def test_list_shows_the_newest_ten_of_each_in_full_and_counts_every_other_one(bot: Bot) -> None:
    for n in range(1, 61):
        create(bot, f"R&D <budget> line {n:02} " + "x" * 100)
        bot.clock.advance(timedelta(seconds=1))
    reply = bot.slack.command(RECIPIENT, "list")
    listed = shown(reply)
    assert [f"line {n:02}" in listed for n in range(51, 61)] == [True] * 10  # long, escaped titles: all ten
    assert "line 50" not in listed
    assert reply.json["blocks"][-1]["elements"][0]["text"] == "and 50 more"
    assert all(len(b["text"]["text"]) <= 3000 for b in reply.json["blocks"] if b["type"] == "section")


def test_list_mine_shows_what_i_asked_for_open_and_recently_finished(bot: Bot) -> None:
    old = create(bot, "Last quarter's audit")
    finish(bot, old)
    bot.clock.advance(timedelta(days=40))
    done = create(bot, "Renew the licence")
    finish(bot, done, rating=5)
    create(bot, "Close the books", due=date(2026, 4, 30))
    create(bot, "Somebody else's", recipient=None)  # unassigned: still mine, waiting for a claim

    answer = shown(bot.slack.command(REQUESTER, "list mine"))
    still_open = answer[answer.index("*You asked for, still open*"):answer.index("*Finished in the last 30 days*")]
    finished = answer[answer.index("*Finished in the last 30 days*"):]
    assert "Close the books*: Waiting for <@UREC> to confirm their understanding" in still_open
    assert "confirm due in" in still_open and ":date: due 2026-04-30" in still_open
    assert still_open.count("2026-04-30") == 1  # the clock says it; the line does not say it again
    assert "Waiting for someone in Finance to claim it" in still_open
    assert "Renew the licence*: Closed, rated 5 out of 5" in finished
    assert "Last quarter" not in answer  # finished more than 30 days ago

    assert "You have not asked for anything lately" in shown(bot.slack.command(OUTSIDER, "list mine"))


def test_list_mine_and_dept_in_chinese_show_the_due_date_once_and_the_brackets_unspaced(bot: Bot) -> None:
    bot.standin.add_user(REQUESTER, locale="zh-CN")
    bot.standin.add_user(RECIPIENT, locale="zh-CN")
    create(bot, "Close the books", due=date(2026, 4, 30))
    create(bot, "Finished", due=date(2026, 4, 30))
    finish(bot, handoff(bot).id)

    mine = shown(bot.slack.command(REQUESTER, "list mine")).split("\n")
    still_open = next(line for line in mine if "Close the books" in line)
    assert still_open.startswith("• #1 *Close the books*：等待 <@UREC> 确认理解 · ")
    assert still_open.count("2026-04-30") == 1 and still_open.endswith(" · :date: 截止日期 2026-04-30")
    finished = next(line for line in mine if "Finished" in line)  # no clock runs: the line says the due date
    assert finished.startswith("• #2 *Finished*，截止 2026-04-30：")

    dept = shown(bot.slack.command(RECIPIENT, "list dept")).split("\n")
    books = next(line for line in dept if "Close the books" in line)
    assert books.count("2026-04-30") == 1
    assert books.endswith(":date: 截止日期 2026-04-30（发起人 <@UREQ>，负责人 <@UREC>）")


def test_list_dept_shows_the_department_to_its_members_and_managers(bot: Bot) -> None:
    create(bot, "Close the books", due=date(2026, 3, 3))
    create(bot, "Unclaimed work", recipient=None)
    bot.clock.advance(timedelta(days=3))  # the due date has passed
    for user in (MEMBER, MANAGER, RECIPIENT):
        answer = shown(bot.slack.command(user, "list dept"))
        assert "*Open in Finance*: 2" in answer
        lines = answer.split("\n")
        books = next(line for line in lines if "Close the books" in line)
        assert ":warning: overdue, was due 2026-03-03" in books and "(from <@UREQ>, with <@UREC>)" in books
        assert books.count("2026-03-03") == 1
        assert "with unassigned" in next(line for line in lines if "Unclaimed work" in line)
        assert lines.index(books) < lines.index(next(line for line in lines if "Unclaimed work" in line))

    requester = shown(bot.slack.command(REQUESTER, "list dept"))  # in Sales: nothing open there
    assert "*Open in Sales*: 0" in requester and "Nothing open." in requester
    outsider = shown(bot.slack.command(OUTSIDER, "list dept"))
    assert "You are not in any department" in outsider


def test_an_unknown_list_is_explained_and_a_longer_text_is_a_title(bot: Bot) -> None:
    answer = shown(bot.slack.command(REQUESTER, "list everything"))
    assert "`/handoff list mine`" in answer and "`/handoff list dept`" in answer
    assert bot.standin.calls_to("views.open") == []
    form = open_new_form(bot, "list the Q3 invoices")
    title = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)
    assert title["element"]["initial_value"] == "list the Q3 invoices"


def test_a_long_list_stays_within_a_message(bot: Bot) -> None:
    for n in range(120):
        create(bot, f"Task {n:03d} " + "x" * 80)
    for user, text in ((REQUESTER, "list mine"), (MEMBER, "list dept")):
        reply = bot.slack.command(user, text)
        blocks = reply.json["blocks"]
        assert len(blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        assert "and 80 more" in shown(reply)  # 40 shown


# --------------------------------------------------------------------------- the CSV


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def cli(db: Database) -> Any:
    """Run `python -m handoff_bot ARGS…` on the test database, as a user runs it."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("HANDOFF_CONFIG", "PORT")}
        env["DATABASE_URL"] = db.url
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return subprocess.run([sys.executable, "-m", "handoff_bot", *args], cwd=ROOT / "tests", env=env,
                              capture_output=True, text=True, timeout=120)
    return run


def test_the_csv_has_one_row_per_handoff_with_every_timing(bot: Bot, cli: Any) -> None:
    first = create(bot, "=HYPERLINK(\"http://evil\")", due=date(2026, 3, 6))
    finish(bot, first, rating=4, comment="Quick, 谢谢")
    bot.clock.advance(timedelta(days=3))
    create(bot, "Open one", recipient=None)

    result = cli("export", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(export.COLUMNS)
    rows = read_csv(result.stdout)
    assert [r["id"] for r in rows] == [str(first), str(first + 1)]
    done = rows[0]
    assert done["title"] == "'=HYPERLINK(\"http://evil\")"  # never a formula in a spreadsheet
    assert done["created_at"] == "2026-03-02T10:00:00Z"
    assert done["requester"] == REQUESTER and done["recipient"] == RECIPIENT
    assert done["from_department"] == "Sales" and done["to_department"] == "Finance"
    assert done["relation"] == "functional" and done["priority"] == "normal" and done["state"] == "rated"
    assert done["due_date"] == "2026-03-06" and done["deadline_at"] == ""  # no deadline once closed
    assert done["confirmed_at"] == "2026-03-02T10:00:00Z" and done["done_at"] == "2026-03-02T12:00:00Z"
    assert done["confirm_working_s"] == "0" and done["confirmed_in_standard"] == "true"
    assert done["complete_working_s"] == "7200"  # two working hours (the recipient's zone is not known: UTC)
    assert done["rounds"] == "1" and done["questions"] == "0" and done["escalated"] == "false"
    assert done["rating"] == "4" and done["rating_comment"] == "Quick, 谢谢"
    opened = rows[1]
    assert opened["state"] == "sent" and opened["recipient"] == "" and opened["confirmed_at"] == ""
    assert opened["confirmed_in_standard"] == "" and opened["rating"] == ""

    since = read_csv(cli("export", "csv", "--since", "2026-03-04").stdout)
    assert [r["title"] for r in since] == ["Open one"]
    sales = read_csv(cli("export", "csv", "--department", "sales").stdout)  # sent from Sales: both
    assert len(sales) == 2


def test_the_csv_refuses_an_unknown_department_or_date(bot: Bot, cli: Any) -> None:
    result = cli("export", "csv", "--department", "Legal")
    assert result.returncode == 2 and result.stdout == ""
    assert "There is no department named 'Legal' (departments: Finance, Sales)." in result.stderr
    result = cli("export", "csv", "--since", "March")
    assert result.returncode == 2 and "'March' is not a date like 2026-03-02" in result.stderr


def test_the_csv_streams_in_batches(db: Database, clock: FakeClock, dept: Any) -> None:
    finance = dept("Finance", members=[RECIPIENT])
    with db.transaction() as session:
        for n in range(export.BATCH * 2 + 7):
            handoffs.create(session, Draft(REQUESTER, finance, f"T{n}", recipient_id=RECIPIENT), directory=PROFILES,
                            now=clock.now())
    with db.transaction() as session:
        rows = export.rows(session)
        first = next(rows)
        assert first[0] == "1"
        assert sum(1 for _ in rows) == export.BATCH * 2 + 6


def test_a_manager_gets_the_csv_in_their_dm(bot: Bot) -> None:
    create(bot, "Close the books")
    bot.clock.advance(timedelta(days=10))
    create(bot, "Newer work")
    reply = bot.slack.command(MANAGER, "export --since 2026-03-05")
    assert reply.status == 200
    assert reply.json["text"].startswith("Preparing a CSV file of the handoffs to or from Finance since 2026-03-05")
    [done] = bot.standin.wait_for_calls("files.completeUploadExternal", channel_id=dm_channel(MANAGER))
    [upload] = done.params["files"]
    assert done.params["initial_comment"] == "1 handoff to or from Finance."
    content = bot.standin.upload(upload["id"]).decode("utf-8-sig")
    assert [r["title"] for r in read_csv(content)] == ["Newer work"]
    assert bot.standin.calls_to("files.getUploadURLExternal")[0].params["filename"] == "handoffs-2026-03-12.csv"


def test_only_managers_export_and_a_bad_date_is_explained(bot: Bot) -> None:
    refused = bot.slack.command(RECIPIENT, "export")
    assert refused.json["text"].startswith("Only department managers can export handoffs.")
    bad = bot.slack.command(MANAGER, "export --since yesterday")
    assert bad.json["text"] == "Type `/handoff export` or `/handoff export --since 2026-03-01`."
    bot.slack.command(MANAGER, "export figures")  # a title: opens the form instead
    bot.wait_view(CallbackId.NEW)
    assert bot.standin.calls_to("files.getUploadURLExternal") == []


def test_the_export_counts_the_questions_asked_in_slack(bot: Bot) -> None:
    """A question asked from the DM shows in the CSV a manager receives."""
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    bot.deliver()
    bot.click(RECIPIENT, ActionId.ASK, bot.last(RECIPIENT, "New handoff"))
    bot.slack.view_submission(RECIPIENT, bot.wait_view(CallbackId.ASK), {
        BlockId.QUESTION_KIND: {"value": radio_value("open")}, BlockId.QUESTION: {"value": text_value("Which?")}})
    bot.slack.command(MANAGER, "export")
    [done] = bot.standin.wait_for_calls("files.completeUploadExternal")
    [row] = read_csv(bot.standin.upload(done.params["files"][0]["id"]).decode("utf-8-sig"))
    assert row["id"] == str(handoff(bot).id) and row["questions"] == "1" and row["state"] == "sent"
