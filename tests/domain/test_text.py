"""User text is cleaned before it is stored: nothing invisible or reordering survives, every script does."""

from __future__ import annotations

import pytest

from handoff_bot.text import clean


def test_empty_and_none() -> None:
    assert clean(None) == "" and clean("") == "" and clean(" \t\n ") == ""


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_removed(char: str) -> None:
    assert clean(f"pay{char}roll") == "payroll"
    assert clean(f"pay{char}roll", multiline=True) == "payroll"


@pytest.mark.parametrize("char", [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # embeddings and overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # isolates
    "\u200e", "\u200f", "\u061c",  # direction marks
])
def test_direction_overrides_are_removed(char: str) -> None:
    assert clean(f"invoice{char}fdp.exe") == "invoicefdp.exe"


def test_a_right_to_left_override_cannot_disguise_a_file_name() -> None:
    assert clean("report\u202egpj.exe") == "reportgpj.exe"


@pytest.mark.parametrize("text", [
    "修复三月发票", "請確認交接內容", "請求：　第二版", "Überweisung für März", "عربى", "🧾 invoice 👍🏽",
    "👩\u200d💻 dev", "🇨🇳",
])
def test_every_script_and_emoji_is_kept(text: str) -> None:
    assert clean(text, multiline=True) == text


def test_single_line_collapses_whitespace_and_trims() -> None:
    assert clean("  fix \t the\n\ninvoice  ") == "fix the invoice"


def test_multiline_keeps_lines_and_tabs_and_normalises_line_ends() -> None:
    assert clean("  one\r\ntwo\rthree\n\tfour  ", multiline=True) == "one\ntwo\nthree\n\tfour"


def test_text_is_nfc_normalised() -> None:
    assert clean("Cafe\u0301") == "Caf\u00e9"
