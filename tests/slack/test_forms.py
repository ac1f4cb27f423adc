"""Point 2 and 8: invalid forms come back as field errors and record nothing; user text is escaped."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import pytest
from sqlalchemy import func, select

from handoff_bot.db import Database
from handoff_bot.departments.models import Department, DepartmentPerson, MemberRole
from handoff_bot.handoffs import service as handoffs
from handoff_bot.handoffs.models import Handoff
from handoff_bot.handoffs.service import Draft
from handoff_bot.people import Profile
from handoff_bot.slack.ids import ActionId, BlockId, CallbackId
from tests.conftest import START
from tests.slack.conftest import (
    BOT_USER,
    DEACTIVATED,
    INTAKE,
    MANAGER,
    MEMBER,
    OUTSIDER,
    RECIPIENT,
    REQUESTER,
    Bot,
)
from tests.slack.test_core_loop import handoff, open_new_form, submit_new
from tests.slack.test_home import texts
from tests.slack_requests import user_value


def count(bot: Bot) -> int:
    with bot.runtime.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Handoff))


@pytest.mark.parametrize(("fields", "block", "message"), [
    ({"recipient": REQUESTER}, BlockId.RECIPIENT, "can't hand work off to yourself"),
    ({"recipient": OUTSIDER}, BlockId.RECIPIENT, "not in Finance"),
    ({"recipient": BOT_USER}, BlockId.RECIPIENT, "is a bot"),
    ({"recipient": DEACTIVATED}, BlockId.RECIPIENT, "deactivated"),
    ({"title": "x" * 151}, BlockId.TITLE, "Too long: 151 characters, the limit is 150"),
    ({"title": "   "}, BlockId.TITLE, "Please fill this in"),
    ({"details": "d" * 3001}, BlockId.DETAILS, "the limit is 3000"),
    ({"key_points": "\n".join(f"point {i}" for i in range(11))}, BlockId.KEY_POINTS, "11 key points; at most 10"),
    ({"key_points": "ok\n" + "p" * 301}, BlockId.KEY_POINTS, "Key point 2 is longer than 300"),
    ({"due": "2026-03-01"}, BlockId.DUE_DATE, "in the past"),
    ({"department": "999"}, BlockId.DEPARTMENT, "no longer exists"),
    ({"department": "finance' OR 1=1"}, BlockId.DEPARTMENT, "no longer exists"),
])
def test_a_wrong_field_is_marked_and_nothing_is_recorded(bot: Bot, fields: dict, block: str, message: str) -> None:
    reply = submit_new(bot, open_new_form(bot), **fields)
    assert reply.status == 200
    assert reply.json["response_action"] == "errors"
    assert message in reply.json["errors"][block], reply.json
    assert count(bot) == 0
    assert bot.deliver() == 0


def test_no_person_and_no_intake_channel_asks_for_a_person(bot: Bot) -> None:
    reply = submit_new(bot, open_new_form(bot), department=bot.sales)
    assert "Sales has no intake channel" in reply.json["errors"][BlockId.RECIPIENT]
    assert count(bot) == 0


def test_someone_outside_the_department_is_told_to_leave_the_field_empty_only_where_that_posts_to_a_channel(
        bot: Bot) -> None:
    to_finance = submit_new(bot, open_new_form(bot), recipient=OUTSIDER)  # Finance has an intake channel
    assert to_finance.json["errors"][BlockId.RECIPIENT] == (
        "This person is not in Finance. Pick someone who is, or leave it empty to post to the department's intake "
        "channel.")
    to_sales = submit_new(bot, open_new_form(bot), department=bot.sales, recipient=OUTSIDER)  # Sales has none
    assert to_sales.json["errors"][BlockId.RECIPIENT] == "This person is not in Sales; pick someone who is."

    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT).text == ""
    bot.deliver()
    assert bot.slack.block_action(MANAGER, ActionId.REASSIGN, str(handoff(bot).id), channel_id="DMGR").status == 200
    reply = bot.slack.view_submission(MANAGER, bot.wait_view(CallbackId.REASSIGN), {
        BlockId.RECIPIENT: {"value": user_value(OUTSIDER)}})  # the field is required, and no channel is involved
    assert reply.json["errors"][BlockId.RECIPIENT] == "This person is not in Finance; pick someone who is."


def test_help_says_the_weekly_digest_comes_when_the_department_has_it_sent(bot: Bot) -> None:
    """The day and time are set per department (`digest_day`, `digest_time`), not always Monday morning."""
    help_text = texts(bot.slack.command(MANAGER, "help").json)
    assert ("Managers: `/handoff digest` shows this week so far; the weekly digest comes by DM on the day and at "
            "the time set for their department.") in help_text
    assert "Monday" not in help_text


def test_today_is_the_requesters_today(bot: Bot) -> None:
    """10:00 UTC on 2 March is 05:00 in New York: 2 March is still today there, 1 March is not."""
    assert submit_new(bot, open_new_form(bot), recipient=RECIPIENT, due="2026-03-02").text == ""
    assert count(bot) == 1


def test_mass_mentions_and_fake_links_in_user_text_stay_plain(bot: Bot) -> None:
    title = "<!channel> pay <@UOUT> now <https://evil.example|bank.example> & more"
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title=title,
               details="<!here> see <#C0SECRET> > quoted", key_points="<!everyone>\nfine")
    bot.deliver()
    sent = [c for c in bot.standin.calls_to("chat.postMessage") if c.ok]
    assert sent
    for call in sent:
        payload = str(call.params.get("text")) + str(call.params.get("blocks"))
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<@UOUT>", "<https://evil", "<#C0SECRET>"):
            assert raw not in payload, (raw, call.method)
    card = bot.last(RECIPIENT, "New handoff")
    assert "&lt;!channel&gt; pay &lt;@UOUT&gt; now" in str(card["blocks"])
    assert "&amp; more" in str(card["blocks"])


def test_control_and_direction_characters_are_removed(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title="Invoice\u202egnp.exe\u0007 批准 ✅")
    with bot.runtime.db.transaction() as session:
        assert session.scalar(select(Handoff.title)) == "Invoicegnp.exe 批准 ✅"


def test_slash_text_fills_the_form_without_pinging_anyone(bot: Bot) -> None:
    form = open_new_form(bot, f"<!channel> Budget for <#{INTAKE}|fin-intake> <@{RECIPIENT}|rec> ")
    title = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)["element"]["initial_value"]
    assert title == "@channel Budget for #fin-intake"
    user = next(b for b in form["blocks"] if b.get("block_id") == BlockId.RECIPIENT)["element"]["initial_user"]
    assert user == RECIPIENT


def test_slash_text_keeps_what_the_user_typed_and_the_card_shows_it_once(bot: Bot) -> None:
    # Slack sends "R&D budget <draft> for @team" as entities and markup
    form = open_new_form(bot, "R&amp;D budget &lt;draft&gt; &amp;amp; for <!subteam^S0TEAM|@team>")
    title = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)["element"]["initial_value"]
    assert title == "R&D budget <draft> &amp; for @team"
    assert submit_new(bot, form, recipient=RECIPIENT, title=title).text == ""
    bot.deliver()
    card = bot.last(RECIPIENT, "New handoff")
    assert "R&amp;D budget &lt;draft&gt; &amp;amp; for @team" in str(card["blocks"])  # escaped once, shown as typed


def test_slash_text_shows_a_date_as_its_reader_saw_it_and_a_channel_by_name(bot: Bot) -> None:
    form = open_new_form(bot, "Report due <!date^1392734382^{date_short}|Feb 18, 2014> in <#C0GENERAL|general>")
    title = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)["element"]["initial_value"]
    assert title == "Report due Feb 18, 2014 in #general"


def test_help_and_list_answer_privately(bot: Bot) -> None:
    reply = bot.slack.command(REQUESTER, "help")
    assert reply.status == 200 and reply.json["response_type"] == "ephemeral"
    assert "/handoff list" in str(reply.json["blocks"])
    assert bot.slack.command(REQUESTER, "list").json["blocks"][0]["text"]["text"].startswith("You have no open")
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title="Renew the licence")
    mine = str(bot.slack.command(REQUESTER, "list").json["blocks"])
    theirs = str(bot.slack.command(RECIPIENT, "LIST").json["blocks"])
    assert "You asked for" in mine and "Renew the licence" in mine
    assert "Sent to you" in theirs and "Renew the licence" in theirs
    assert "Renew the licence" not in str(bot.slack.command(OUTSIDER, "list").json["blocks"])
    assert len(bot.standin.calls_to("views.open")) == 1  # help and list open no form


def test_without_departments_the_command_says_how_to_set_them_up(make_bot: Callable[..., Bot], db: Database) -> None:
    bot = make_bot()
    with db.transaction() as session:
        for department in session.scalars(select(Department)):
            session.delete(department)
    reply = bot.slack.command(REQUESTER, "")
    assert reply.status == 200
    answer = bot.standin.wait_for_calls("response_url")[0]  # answered right after the ack
    assert answer.params["response_type"] == "ephemeral" and "departments import" in answer.params["text"]
    assert bot.standin.calls_to("views.open") == []


def test_the_home_tab_lists_what_waits_on_me_and_what_i_asked_for(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT, title="Renew the licence")
    for user, heading in ((RECIPIENT, "Waiting on me"), (REQUESTER, "My requests")):
        assert bot.slack.app_home_opened(user).status == 200
        bot.deliver()
        home = str(bot.standin.home(user)["blocks"])
        assert heading in home and "Renew the licence" in home


def test_metrics_count_requests_ack_times_and_the_outbox(bot: Bot) -> None:
    submit_new(bot, open_new_form(bot), recipient=RECIPIENT)
    url = bot.base_url + "/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'handoff_slack_requests_total{kind="command"} 1.0' in text
    assert 'handoff_slack_requests_total{kind="view_submission"} 1.0' in text
    assert 'handoff_ack_seconds_count{kind="command"} 1.0' in text
    assert 'handoff_outbox_notices{state="pending"} 2.0' in text
    bot.deliver()
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    assert 'handoff_outbox_notices{state="sent"} 2.0' in text
    assert "handoff_outbox_delivered_total 2.0" in text
    head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5)
    assert head.status == 200 and head.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_slacks_notice_that_it_holds_back_events_is_taken_and_logged(
        bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    reply = bot.slack.app_rate_limited(1518467820)
    assert (reply.status, reply.text) == (200, "")  # anything else counts as a failed delivery
    assert "Slack is holding back events to this app (rate limited since minute 1518467820)" in caplog.text


def test_the_title_typed_after_the_command_is_offered_cleaned_as_it_will_be_kept(bot: Bot) -> None:
    form = open_new_form(bot, "Fix\u202e the\u0007 March\u0000 invoice  \u200f")
    title = next(b for b in form["blocks"] if b.get("block_id") == BlockId.TITLE)
    assert title["element"]["initial_value"] == "Fix the March invoice"


def title_and_recipient(form: dict[str, Any]) -> tuple[str, str | None]:
    blocks = {b.get("block_id"): b for b in form["blocks"]}
    return (blocks[BlockId.TITLE]["element"].get("initial_value", ""),
            blocks[BlockId.RECIPIENT]["element"].get("initial_user"))


def test_the_first_person_mentioned_is_the_recipient_and_others_stay_in_the_title_by_name(bot: Bot) -> None:
    form = open_new_form(bot, f"<@{RECIPIENT}|wei> ask <@{MEMBER}|mia> and <@{OUTSIDER}> about it")
    assert title_and_recipient(form) == ("ask @mia and @uout about it", RECIPIENT)


def test_naming_yourself_after_the_command_names_no_recipient(bot: Bot) -> None:
    assert title_and_recipient(open_new_form(bot, f"<@{REQUESTER}|maya> Renew the licence")) == (
        "Renew the licence", None)


def test_text_too_long_for_a_title_is_offered_cut_and_whole_as_the_details(bot: Bot) -> None:
    text = "Collect the signed contracts from every regional office " * 5
    form = open_new_form(bot, text)
    title, _ = title_and_recipient(form)
    details = next(b for b in form["blocks"] if b.get("block_id") == BlockId.DETAILS)["element"]["initial_value"]
    assert len(title) == 150 and title.endswith("…") and text.startswith(title[:-1])
    assert details == text.strip()
    assert "initial_value" not in next(
        b for b in open_new_form(bot, "Short")["blocks"] if b.get("block_id") == BlockId.DETAILS)["element"]


def test_one_form_submitted_twice_at_the_same_moment_records_one_handoff_and_both_succeed(
        bot: Bot, db: Database) -> None:
    """PostgreSQL: two processes both find no handoff from the form, both insert; the second insert waits
    for the first, fails on the unique form id, and its second try finds the first one's handoff."""
    if not db.url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE: the second submission sees the first one's row")
    both_looked = threading.Barrier(2, timeout=10)

    class Directory:  # called by create() after it looked for a handoff from this form
        def profile(self, user_id: str) -> Profile | None:
            with suppress(threading.BrokenBarrierError):
                both_looked.wait()
            return Profile(user_id, user_id)

    draft = Draft(REQUESTER, bot.finance, "Prepare the Q3 invoice", recipient_id=RECIPIENT, source_view_id="V0TWICE")
    now = bot.clock.now()
    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda _: bot.runtime.ctx.run(
            lambda s: handoffs.create(s, draft, directory=Directory(), now=now).id), range(2)))
    assert ids[0] == ids[1]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1


def test_someone_in_several_departments_chooses_which_one_the_handoff_is_from(bot: Bot) -> None:
    def offered(view: dict[str, Any], block_id: str) -> list[str] | None:
        block = next((b for b in view["blocks"] if b["block_id"] == block_id), None)
        return None if block is None else [o["text"]["text"] for o in block["element"]["options"]]

    with bot.runtime.db.transaction() as session:
        session.add(Department(name="Audit", updated_at=START))
    alone = open_new_form(bot)  # the requester is in Sales only: nothing to choose
    assert offered(alone, BlockId.FROM_DEPARTMENT) is None
    assert offered(alone, BlockId.DEPARTMENT) == ["Audit", "Finance", "Sales"]
    with bot.runtime.db.transaction() as session:
        session.add(DepartmentPerson(department_id=bot.finance, user_id=REQUESTER, role=MemberRole.MEMBER,
                                     added_at=START))
    both = open_new_form(bot)
    assert offered(both, BlockId.FROM_DEPARTMENT) == ["Finance", "Sales"]
    assert offered(both, BlockId.DEPARTMENT) == ["Audit", "Finance", "Sales"]


def test_every_department_can_be_chosen_when_there_are_more_than_a_select_holds(bot: Bot) -> None:
    with bot.runtime.db.transaction() as session:
        session.add_all(Department(name=f"Team {n:03}", intake_channel="C0TEAMS", updated_at=START) for n in range(250))
    view = open_new_form(bot)
    element = next(b for b in view["blocks"] if b["block_id"] == BlockId.DEPARTMENT)["element"]
    groups = element["option_groups"]  # Slack takes at most 100 options in a list; the stand-in checks the limits
    offered = [o["text"]["text"] for group in groups for o in group["options"]]
    assert len(offered) == 252 and "Finance" in offered and "Team 249" in offered
    assert len(groups) == 3 and groups[0]["label"]["text"] == "Finance – Team 081"
    last = next(o["value"] for group in groups for o in group["options"] if o["text"]["text"] == "Team 249")
    assert submit_new(bot, view, department=last, title="Reach the last team").status == 200
    with bot.runtime.db.transaction() as session:
        assert session.scalars(select(Handoff)).one().to_department.name == "Team 249"
