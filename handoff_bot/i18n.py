"""One translation function for every user-facing string, backed by gettext catalogs.

Messages are written in English with named placeholders (`{title}`), so translators can
reorder them. Catalogs live in `handoff_bot/locales/<lang>/LC_MESSAGES/messages.po` and are
compiled in memory on first use. Extract new strings with `make messages`.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


def language_of(slack_locale: str | None) -> str:
    """The catalog for a Slack locale: `zh-CN`/`zh-TW`… → `zh_Hans`, anything else English."""
    if slack_locale and slack_locale.lower().startswith("zh"):
        return "zh_Hans"
    return "en"


@functools.cache
def _catalog(language: str) -> _gettext.NullTranslations:
    po = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


class Translator:
    """Translates and fills in messages for one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._catalog = _catalog(language)

    def gettext(self, message: str, **values: Any) -> str:
        """The message in this language, with `{name}` placeholders filled from `values`."""
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The singular or plural form for `n`; `{n}` is available as a placeholder."""
        return self._catalog.ngettext(singular, plural, n).format(n=n, **values)


@functools.cache
def translator(slack_locale: str | None) -> Translator:
    """The translator for a Slack locale such as `en-US` or `zh-CN`."""
    return Translator(language_of(slack_locale))


def N_(message: str) -> str:
    """Mark a string for extraction where it is defined; translate it where it is shown."""
    return message
