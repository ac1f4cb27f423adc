"""Translations: the template is up to date with the code, zh_Hans is complete and keeps every placeholder,
mention and bit of mrkdwn, and what a Chinese-speaking user is shown fits Slack's limits.

Uses the real catalogs in handoff_bot/locales (no mocks). When a test here fails after a code change,
run `make messages` (scripts/messages) and translate the new entries in
handoff_bot/locales/zh_Hans/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import re
import string
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from handoff_bot.departments.models import Department
from handoff_bot.departments.service import Choice
from handoff_bot.followups.service import APPLIES, Item
from handoff_bot.handoffs import queries
from handoff_bot.handoffs.models import (
    Handoff,
    HandoffState,
    KeyPoint,
    Outcome,
    Priority,
    Proposal,
    ProposalKind,
    Question,
    QuestionKind,
    Relationship,
    UnderstandingRound,
    Verdict,
)
from handoff_bot.i18n import LOCALES, Translator, translator
from handoff_bot.slack.blocks import home, labels, messages, modals, reminders, replies
from handoff_bot.slack.blocks.labels import stars
from tests.blockkit import BUTTON_TEXT_MAX, MODAL_TEXT_MAX, check_blocks, check_message_text, check_view

ROOT = Path(__file__).resolve().parents[1]
POT = LOCALES / "messages.pot"
ZH_PO = LOCALES / "zh_Hans" / "LC_MESSAGES" / "messages.po"

# The same extraction options as scripts/messages (keep the two in step).
EXTRACT_OPTIONS = [
    "-F", "babel.cfg", "-k", "_", "-k", "N_", "-k", "gettext", "-k", "ngettext:1,2",
    "--add-comments=TRANSLATORS:", "--no-location", "--sort-output",
]

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Slack tokens a translation must carry over unchanged: <@user>, <#channel>, <!here>, <url|label>.
TOKEN = re.compile(r"<[^<>\s][^<>]*>")
EMOJI = re.compile(r":[a-z0-9_+-]+:")
CODE = re.compile(r"`[^`]+`")


def load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def entries(catalog: Catalog) -> list[Message]:
    """The messages of a catalog, without its header entry."""
    return [m for m in catalog if m.id]


def forms(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """A msgid or msgstr as a tuple of its forms (singular and plural, or the single one)."""
    if isinstance(value, tuple | list):
        return tuple(value)
    return (value or "",)


def show(msgid: Any) -> str:
    return repr(msgid[0] if isinstance(msgid, tuple) else msgid)


def placeholders(text: str) -> Counter[tuple[str, str | None, str | None]]:
    """`{name!conv:spec}` fields of a str.format template (ValueError for a broken template)."""
    return Counter(
        (field, conversion, spec)
        for _, field, spec, conversion in string.Formatter().parse(text)
        if field is not None
    )


@pytest.fixture(scope="module")
def pot() -> Catalog:
    return load(POT)


@pytest.fixture(scope="module")
def zh() -> Catalog:
    return load(ZH_PO, "zh_Hans")


# --------------------------------------------------------------------------- the template and the catalog


def test_the_template_has_every_string_in_the_code(pot: Catalog, tmp_path: Path) -> None:
    fresh_path = tmp_path / "messages.pot"
    done = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract", *EXTRACT_OPTIONS,
         "-o", str(fresh_path), "."],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, f"pybabel extract failed:\n{done.stdout}\n{done.stderr}"
    in_code = {m.id for m in entries(load(fresh_path))}
    in_template = {m.id for m in entries(pot)}
    missing = sorted(show(i) for i in in_code - in_template)
    stale = sorted(show(i) for i in in_template - in_code)
    assert not missing and not stale, (
        "handoff_bot/locales/messages.pot is out of date: run `make messages` and translate the new entries.\n"
        + "".join(f"  not in the template: {m}\n" for m in missing)
        + "".join(f"  no longer in the code: {s}\n" for s in stale)
    )


def test_the_chinese_catalog_follows_the_template(pot: Catalog, zh: Catalog) -> None:
    template = {m.id for m in entries(pot)}
    catalog = {m.id for m in entries(zh)}
    assert template == catalog, (
        "zh_Hans/messages.po is not merged with the template: run `make messages`.\n"
        f"  missing: {sorted(show(i) for i in template - catalog)}\n"
        f"  extra: {sorted(show(i) for i in catalog - template)}"
    )


def test_chinese_has_one_plural_form(zh: Catalog) -> None:
    assert zh.num_plurals == 1
    assert zh.plural_expr == "0"
    for message in entries(zh):
        if message.pluralizable:
            assert len(forms(message.string)) == 1, show(message.id)


def test_every_string_is_translated_and_none_is_fuzzy(zh: Catalog) -> None:
    assert not zh.fuzzy, "the header of zh_Hans/messages.po is marked fuzzy"
    untranslated = [show(m.id) for m in entries(zh) if not all(s.strip() for s in forms(m.string))]
    fuzzy = [show(m.id) for m in entries(zh) if m.fuzzy]
    assert not untranslated, "not translated into Chinese:\n" + "\n".join(untranslated)
    assert not fuzzy, "fuzzy (check them, then remove the fuzzy flag):\n" + "\n".join(fuzzy)


def test_a_string_with_words_is_translated_into_chinese(zh: Catalog) -> None:
    """A msgstr copied from the msgid would pass the emptiness check; Chinese text would not be missing."""
    copied = []
    for message in entries(zh):
        words = TOKEN.sub("", "".join(forms(message.id)))
        words = re.sub(r"\{[^}]*\}", "", words)
        if re.search(r"[A-Za-z]{2,}", words) and not all(CJK.search(s) for s in forms(message.string)):
            copied.append(show(message.id))
    assert not copied, "no Chinese in the translation of:\n" + "\n".join(copied)


def test_translations_keep_placeholders_mentions_and_mrkdwn(zh: Catalog) -> None:
    problems: list[str] = []
    for message in entries(zh):
        source = forms(message.id)[0]
        for translated in forms(message.string):
            where = f"{show(message.id)} → {translated!r}"
            try:
                wanted, got = placeholders(source), placeholders(translated)
            except ValueError as error:
                problems.append(f"{where}: not a valid format string ({error})")
                continue
            if wanted != got:
                problems.append(f"{where}: placeholders {sorted(got)} instead of {sorted(wanted)}")
            if Counter(TOKEN.findall(source)) != Counter(TOKEN.findall(translated)):
                problems.append(f"{where}: Slack tokens {TOKEN.findall(translated)} instead of "
                                f"{TOKEN.findall(source)}")
            if Counter(EMOJI.findall(source)) != Counter(EMOJI.findall(translated)):
                problems.append(f"{where}: emoji codes differ")
            if source.count("*") != translated.count("*"):
                problems.append(f"{where}: {translated.count('*')} `*` (bold) instead of {source.count('*')}")
            if source.count("~") != translated.count("~"):
                problems.append(f"{where}: {translated.count('~')} `~` (strikethrough) instead of {source.count('~')}")
            if source.count("`") != translated.count("`"):
                problems.append(f"{where}: {translated.count('`')} backticks instead of {source.count('`')}")
            commands = [c for c in CODE.findall(source) if c in ("`/handoff`", "`/handoff list`", "`/handoff help`")]
            problems += [f"{where}: {c} missing" for c in commands if c not in translated]
            if source.count("\n") != translated.count("\n"):
                problems.append(f"{where}: {translated.count(chr(10))} line breaks instead of {source.count(chr(10))}")
    assert not problems, "\n".join(problems)


def test_bold_is_not_glued_to_chinese_characters(zh: Catalog) -> None:
    """Slack renders `*bold*` only at a word boundary: 请点击*完成* shows the asterisks, 请点击 *完成* does not."""
    glued = []
    for message in entries(zh):
        for translated in forms(message.string):
            stars = [i for i, c in enumerate(translated) if c == "*"]
            for opening, closing in zip(stars[::2], stars[1::2], strict=False):
                before = translated[opening - 1] if opening else " "
                after = translated[closing + 1] if closing + 1 < len(translated) else " "
                if CJK.match(before) or CJK.match(after):
                    glued.append(f"{show(message.id)} → {translated!r}")
    assert not glued, "put a space between *bold* and Chinese characters:\n" + "\n".join(glued)


# --------------------------------------------------------------------------- choosing the language


@pytest.mark.parametrize("locale", ["zh-CN", "zh-TW", "zh-HK", "zh_CN"])
def test_chinese_slack_locales_get_simplified_chinese(locale: str) -> None:
    tr = translator(locale)
    assert tr.language == "zh_Hans"
    assert tr.gettext("Send") == "发送"
    assert tr.gettext("Handoff #{id}", id=7) == "交接 #7"
    assert tr.ngettext("and {n} more", "and {n} more", 1) == "还有 1 项"
    assert tr.ngettext("and {n} more", "and {n} more", 3) == "还有 3 项"


@pytest.mark.parametrize("locale", ["en-US", "en-GB", "fr-FR", "ja-JP", "", None])
def test_other_locales_get_the_english_strings(locale: str | None, pot: Catalog) -> None:
    tr = translator(locale)
    assert tr.language == "en"
    for message in entries(pot):
        if isinstance(message.id, tuple):
            values = {name: f"<{name}>" for (name, _, _) in placeholders(message.id[1]) if name != "n"}
            assert tr.ngettext(*message.id, 1, **values) == message.id[0].format(n=1, **values)
            assert tr.ngettext(*message.id, 2, **values) == message.id[1].format(n=2, **values)
        else:
            assert tr.gettext(message.id) == message.id


def test_every_chinese_translation_formats(zh: Catalog) -> None:
    """Through the Translator, as the bot calls it, with a value for every placeholder."""
    tr = translator("zh-CN")
    for message in entries(zh):
        if isinstance(message.id, tuple):
            values = {name: f"<{name}>" for (name, _, _) in placeholders(message.id[1]) if name != "n"}
            assert tr.ngettext(*message.id, 2, **values) == message.string[0].format(n=2, **values)
            continue
        values = {name: f"<{name}>" for (name, _, _) in placeholders(message.id)}
        expected = message.string.format(**values) if values else message.string
        assert tr.gettext(message.id, **values) == expected


# --------------------------------------------------------------------------- what a Chinese-speaking user sees

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
STANDARD = {"confirm_within_s": 4 * 3600, "remind_every_s": 4 * 3600, "escalate_after": 2,
            "complete_within_s": 3 * 86400, "working_hours": "Mon-Fri 09:00-18:00"}


def a_handoff(state: HandoffState = HandoffState.SENT, **changes: Any) -> Handoff:
    """A handoff as the renderers see it (not stored: the renderers only read attributes)."""
    values: dict[str, Any] = {
        "id": 7, "created_at": NOW, "updated_at": NOW, "requester_id": "U0REQ", "recipient_id": "U0REC",
        "title": "Prepare the Q3 invoice", "details": "For the Kunming client.", "due_date": date(2026, 3, 6),
        "relation": Relationship.PROCESS, "priority": Priority.URGENT, "state": state, "rounds": 1,
        "standard": STANDARD, "rating": None, "rating_comment": None,
        "to_department": Department(id=2, name="Finance", intake_channel="C0FIN"),
        "from_department": Department(id=1, name="Sales"),
        "key_points": [KeyPoint(position=1, text="Amounts in CNY"), KeyPoint(position=2, text="Send by Friday")],
    }
    values.update(changes)
    return Handoff(**values)


def plain_texts(payload: Any, key: str = "") -> list[tuple[str, str]]:
    """(where, text) for every plain_text object in a payload, `where` being the key that holds it."""
    found: list[tuple[str, str]] = []
    if isinstance(payload, dict):
        if payload.get("type") == "plain_text":
            found.append((key, payload["text"]))
        for name, value in payload.items():
            found += plain_texts(value, f"{payload.get('type', '')}.{name}")
    elif isinstance(payload, list):
        for item in payload:
            found += plain_texts(item, key)
    return found


# Text in the views that is not ours to translate: department names, key points, the rating stars.
USER_DATA = {"Sales", "Finance", "1. Amounts in CNY", "2. Send by Friday", *(f"{stars(n)} {n}" for n in range(1, 6))}


def chinese_views(tr: Translator) -> dict[str, dict[str, Any]]:
    question = Question(id=3, handoff_id=7, asked_by="U0REC", asked_at=NOW, kind=QuestionKind.REFLECTIVE,
                        text="So the invoice goes to Kunming?")
    departments = [Choice(1, "Sales"), Choice(2, "Finance")]
    return {
        "new_handoff": modals.new_handoff(tr, departments, own_departments=departments, title="Q3 invoice",
                                          recipient_id="U0REC", channel_id="C0GEN"),
        "restate": modals.restate(tr, a_handoff(HandoffState.CLARIFYING), "Only the March invoices."),
        "clarify": modals.clarify(tr, a_handoff(HandoffState.RESTATED), 1),
        "ask": modals.ask(tr, a_handoff()),
        "answer": modals.answer(tr, a_handoff(), question),
        "rate": modals.rate(tr, a_handoff(HandoffState.DONE)),
        "reassign": modals.reassign(tr, a_handoff(HandoffState.SENT, recipient_id=None)),
        "propose": modals.propose(tr, a_handoff(HandoffState.NEGOTIATING), a_proposal("U0REQ")),
        "counter": modals.counter(tr, a_handoff(HandoffState.NEGOTIATING), a_proposal("U0REC")),
        "home": home.home_view(tr, a_home()),
        "home_paged": home.home_view(tr, a_home(copies=30), page=1),
    }


def a_proposal(by: str) -> Proposal:
    return Proposal(number=1, kind=ProposalKind.CHANGE, proposed_by=by, proposed_at=NOW, due_date=date(2026, 3, 13),
                    scope="Only Kunming.", reason="Month-end close.")


def a_home(copies: int = 1) -> queries.Home:
    """A Home tab with every kind of waiting item, every kind of clock and a managed department."""
    question = Question(id=3, handoff_id=9, asked_by="U0REC", asked_at=NOW, kind=QuestionKind.OPEN,
                        text="Which client?")
    restated = UnderstandingRound(handoff_id=10, number=1, restated_by="U0REC", restated_at=NOW,
                                  restatements=["In CNY", "By Friday"])
    waiting = [
        queries.WaitingItem(queries.Waiting.CONFIRM, a_handoff()),
        queries.WaitingItem(queries.Waiting.CONFIRM, a_handoff(HandoffState.CLARIFYING, id=11)),
        queries.WaitingItem(queries.Waiting.DO, a_handoff(HandoffState.CONFIRMED, id=12, due_date=None)),
        queries.WaitingItem(queries.Waiting.ANSWER, a_handoff(id=9), question=question),
        queries.WaitingItem(queries.Waiting.REVIEW, a_handoff(HandoffState.RESTATED, id=10), round=restated),
        queries.WaitingItem(queries.Waiting.RATE, a_handoff(HandoffState.DONE, id=13)),
        queries.WaitingItem(queries.Waiting.NEGOTIATE, a_handoff(HandoffState.NEGOTIATING, id=15),
                            proposal=a_proposal("U0REC")),
    ] * copies
    hour = timedelta(hours=1)
    timings = {
        7: queries.Timing(confirm_by=NOW + 2 * hour, deadline=NOW + 90 * hour, due_date=date(2026, 3, 6)),
        11: queries.Timing(confirm_late=True, escalated=True, deadline=NOW - hour, due_date=date(2026, 3, 1),
                           late=True),
        12: queries.Timing(deadline=NOW + 30 * hour),
        8: queries.Timing(deadline=NOW - 5 * hour, late=True),
    }
    requests = [a_handoff(HandoffState.CONFIRMED, id=8, due_date=None, requester_id="U0REC"),
                a_handoff(id=14, recipient_id=None, requester_id="U0REC")]
    finance = queries.DepartmentSummary(Department(id=2, name="Finance"), 3, 1, 1, [a_handoff(id=11), a_handoff()])
    return queries.Home("U0REC", NOW, waiting, len(waiting) + 1, requests, 3, [finance], timings)


def test_the_restate_modal_in_chinese() -> None:
    view = modals.restate(translator("zh-CN"), a_handoff(HandoffState.CLARIFYING), "Only the March invoices.")
    assert check_view(view) == []
    assert view["title"]["text"] == "确认理解"
    assert view["submit"]["text"] == "发送"
    assert view["close"]["text"] == "取消"
    intro = view["blocks"][0]["text"]["text"]
    assert intro.startswith("来自 <@U0REQ> 的 *Prepare the Q3 invoice*。请用自己的话复述每条要点")
    assert view["blocks"][1]["text"]["text"].startswith("*<@U0REQ> 补充说明：*\n&gt; Only the March invoices.")
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == ["1. Amounts in CNY", "2. Send by Friday"]
    assert inputs[0]["element"]["placeholder"]["text"] == "请用自己的话复述"


@pytest.mark.parametrize("name", ["new_handoff", "restate", "clarify", "ask", "answer", "rate", "reassign", "home",
                                  "home_paged"])
def test_chinese_views_fit_slack_and_speak_chinese(name: str) -> None:
    view = chinese_views(translator("zh-CN"))[name]
    assert check_view(view) == []
    for key in ("title", "submit", "close"):
        if key in view:
            text = view[key]["text"]
            assert len(text) <= MODAL_TEXT_MAX and CJK.search(text), (key, text)
            assert "…" not in text, f"{key} was cut: {text!r}"
    for where, text in plain_texts(view["blocks"]):
        if text not in USER_DATA:
            assert CJK.search(text), f"{name}: {where} {text!r} is not in Chinese"


def test_the_new_handoff_form_offers_the_three_relationships_and_question_kinds() -> None:
    tr = translator("zh-CN")
    views = chinese_views(tr)
    texts = [t for _, t in plain_texts(views["new_handoff"]["blocks"])]
    assert {"流程", "职能", "层级"} <= {t.split("：")[0] for t in texts}
    kinds = [t for _, t in plain_texts(views["ask"]["blocks"])]
    assert {"开放式问题", "封闭式问题", "复述式问题"} <= set(kinds)


def facts_for(kind: messages.NoticeKind) -> messages.Facts:
    """Facts in which every renderer has something to show (params for all of them at once)."""
    state = {
        "recipient_card": HandoffState.SENT, "intake_post": HandoffState.SENT, "review": HandoffState.RESTATED,
        "clarification": HandoffState.CLARIFYING, "confirmed": HandoffState.CONFIRMED,
        "rating_request": HandoffState.DONE, "rated": HandoffState.RATED, "cancelled": HandoffState.CANCELLED,
        "proposal": HandoffState.NEGOTIATING, "stalled": HandoffState.NEGOTIATING,
    }.get(kind.value, HandoffState.CONFIRMED)
    changes: dict[str, Any] = {"rating": 4, "rating_comment": "Quick."} if state is HandoffState.RATED else {}
    if kind.value == "intake_post":
        changes["recipient_id"] = None
    handoff = a_handoff(state, **changes)
    rounds = [UnderstandingRound(number=1, restated_by="U0REC", restated_at=NOW,
                                 restatements=["Amounts in yuan", "By Friday"],
                                 verdict=Verdict.CLARIFY if state is HandoffState.CLARIFYING else None,
                                 clarification="Only March.")]
    questions = [Question(id=3, handoff_id=7, asked_by="U0REC", asked_at=NOW, kind=QuestionKind.OPEN,
                          text="Which client?", answer="Kunming." if kind.value == "answer" else None)]
    if state is HandoffState.NEGOTIATING:
        handoff.negotiation_turn, handoff.negotiation_since = "U0REQ", NOW
    proposals = [Proposal(number=1, kind=ProposalKind.CHANGE, proposed_by="U0REC", proposed_at=NOW,
                          due_date=date(2026, 3, 13), scope="Only Kunming.", reason="Month-end close.",
                          outcome=None if state is HandoffState.NEGOTIATING else Outcome.ACCEPTED)]
    params = {"round": 1, "question": 3, "target": "C0FIN", "error": "not_in_channel", "to": "U0NEW", "proposal": 1,
              "since": NOW.isoformat()}
    return messages.Facts(handoff, rounds=rounds, questions=questions, proposals=proposals, params=params,
                          target="U0REQ" if kind.value == "proposal" else "")  # the proposal waits on them


@pytest.mark.parametrize("kind", list(messages.RENDERERS), ids=str)
def test_chinese_messages_fit_slack_and_speak_chinese(kind: messages.NoticeKind) -> None:
    rendered = messages.render(kind, translator("zh-CN"), facts_for(kind))
    assert check_message_text(rendered.text) == []
    assert check_blocks(rendered.blocks) == []
    assert CJK.search(rendered.text), rendered.text
    assert CJK.search(rendered.blocks[0]["text"]["text"]), rendered.blocks[0]
    for where, text in plain_texts(rendered.blocks):
        if where.startswith("button"):
            assert len(text) <= BUTTON_TEXT_MAX and CJK.search(text), (where, text)


def test_the_recipient_card_in_chinese() -> None:
    rendered = messages.render(messages.NoticeKind.RECIPIENT_CARD, translator("zh-CN"), facts_for(
        messages.NoticeKind.RECIPIENT_CARD))
    assert rendered.text == "来自 <@U0REQ> 的新交接：Prepare the Q3 invoice"
    assert rendered.blocks[0]["text"]["text"] == ":rotating_light: 紧急：<@U0REQ> 交给你一项工作。"
    fields = [f["text"] for f in rendered.blocks[2]["fields"]]
    assert fields == ["*发起方*\n<@U0REQ>（Sales）", "*接收方*\n<@U0REC>（Finance）", "*截止日期*\n2026-03-06",
                      "*优先级*\n紧急"]
    buttons = [e["text"]["text"] for e in rendered.blocks[-1]["elements"]]
    assert buttons == ["确认我的理解", "提出问题", "提议变更 / 拒绝"]
    context = " ".join(e["text"] for b in rendered.blocks if b["type"] == "context" for e in b["elements"])
    assert "流程：" in context and "交接 #7" in context
    assert "服务标准：4 小时内确认，3 天内完成；服务时间 周一至周五 09:00–18:00" in context


def test_chinese_replies() -> None:
    tr = translator("zh-CN")
    assert check_blocks(replies.help_blocks(tr)) == []
    help_text = replies.help_blocks(tr)[1]["text"]["text"]
    assert "`/handoff list`" in help_text and "`/handoff help`" in help_text
    listed = replies.list_blocks(tr, [a_handoff(id=n) for n in range(1, 11)], [], 2)
    first = "*交给你的*\n• #1 *Prepare the Q3 invoice*，截止 2026-03-06：等待 <@U0REC> 确认理解"
    assert listed[0]["text"]["text"].startswith(first)
    assert listed[-1]["elements"][0]["text"] == "还有 2 项"
    assert replies.list_blocks(tr, [], [])[0]["text"]["text"] == "你没有进行中的交接。输入 `/handoff` 即可发起。"


@pytest.mark.parametrize("item", list(Item), ids=str)
def test_chinese_reminders_fit_slack_and_speak_chinese(item: Item) -> None:
    state = sorted(APPLIES[item], key=list(HandoffState).index)[0]
    handoff = a_handoff(state, due_date=None, confirm_reminders=2)
    rendered = reminders.reminders(translator("zh-CN"), [{"k": item.value, "h": 7, "by": "U0MGR"}], {7: handoff},
                                   handoff.recipient_id)
    assert check_message_text(rendered.text) == []
    assert check_blocks(rendered.blocks) == []
    assert CJK.search(rendered.text), rendered.text
    for where, text in plain_texts(rendered.blocks):
        if where.startswith("button"):
            assert len(text) <= BUTTON_TEXT_MAX and CJK.search(text), (where, text)


def test_a_chinese_reminder_for_several_handoffs() -> None:
    items = [{"k": Item.OVERDUE_MANAGER.value, "h": 7}, {"k": Item.CONFIRM_REMINDER.value, "h": 8}]
    handoffs = {7: a_handoff(HandoffState.CONFIRMED, recipient_id=None),
                8: a_handoff(HandoffState.CONFIRMED, id=8)}
    rendered = reminders.reminders(translator("zh-CN"), items, handoffs, "U0MGR")
    assert rendered.text == "有 2 项交接需要你处理"
    assert rendered.blocks[1]["text"]["text"] == (
        ":warning: 来自 <@U0REQ> 的 *Prepare the Q3 invoice* 在 Finance 已逾期（负责人：暂无）。")
    assert rendered.blocks[2]["elements"][0]["text"].startswith("发起于 <!date^")
    assert [e["text"]["text"] for e in rendered.blocks[3]["elements"]] == ["催办", "重新指派"]
    moved_on = ":white_check_mark: ~Prepare the Q3 invoice~ 当前状态：理解已确认"
    assert rendered.blocks[4]["text"]["text"].startswith(moved_on)


def test_working_hours_written_in_lower_case_read_as_in_title_case() -> None:
    assert labels.working_hours(translator("zh-CN"), "mon-fri 09:00-18:00") == "周一至周五 09:00–18:00"
    assert labels.working_hours(translator("en"), "SAT 10:00-14:30") == "Sat 10:00–14:30"


# --------------------------------------------------------------------------- one word for one thing


def test_a_chinese_title_is_quoted_or_set_off_never_run_into_the_sentence(zh: Catalog) -> None:
    """“准备发票”, *准备发票* or after a colon; not 为 准备发票 提出了其他条件, where the title blends in."""
    run_in = []
    for message in entries(zh):
        for translated in forms(message.string):
            for found in re.finditer(r"\{title\}", translated):
                before, after = translated[:found.start()].rstrip(" ")[-1:], translated[found.end():].lstrip(" ")[:1]
                if CJK.match(before or " ") or CJK.match(after or " "):
                    run_in.append(f"{show(message.id)} → {translated!r}")
    assert not run_in, "quote the title “{title}”:\n" + "\n".join(run_in)


@pytest.mark.parametrize(("kind", "text"), [
    (messages.NoticeKind.PROPOSAL, "<@U0REC> 为“Prepare the Q3 invoice”提出了其他条件"),
    (messages.NoticeKind.AGREED, "<@U0REQ> 接受了你对“Prepare the Q3 invoice”的提议"),
    (messages.NoticeKind.STALLED, "“Prepare the Q3 invoice”的协商陷入僵局"),
    (messages.NoticeKind.UNDELIVERED, "“Prepare the Q3 invoice”未能送达"),
], ids=["proposal", "agreed", "stalled", "undelivered"])
def test_chinese_notifications_quote_the_title(kind: messages.NoticeKind, text: str) -> None:
    assert messages.render(kind, translator("zh-CN"), facts_for(kind)).text == text


def test_chinese_says_digest_and_counter_one_way_each(zh: Catalog) -> None:
    """周报 for the digest (not 周摘要, 本周摘要), 反提议 for a counter-proposal (not 还价, which is haggling)."""
    mixed = []
    for message in entries(zh):
        source, translated = forms(message.id)[0].lower(), " ".join(forms(message.string))
        if "digest" in source and ("摘要" in translated or "周报" not in translated):
            mixed.append(f"{show(message.id)} → {translated!r}")
        if "counter" in source and ("还价" in translated or "反提议" not in translated):
            mixed.append(f"{show(message.id)} → {translated!r}")
    assert not mixed, "\n".join(mixed)
    assert [e["text"]["text"] for e in messages.negotiation_buttons(
        translator("zh-CN"), a_handoff(HandoffState.NEGOTIATING), a_proposal("U0REC"))] == ["接受", "反提议"]


def test_the_digest_tells_a_chinese_speaker_who_manages_nothing_that_it_is_for_managers() -> None:
    told = translator("zh-CN").gettext(
        "The digest is for department managers, and you manage no department. `/handoff list` shows your own "
        "handoffs.")
    assert told == "周报仅供部门主管查看，而你不是任何部门的主管。`/handoff list` 可查看你自己的交接。"
