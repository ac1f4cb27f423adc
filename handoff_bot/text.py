"""Cleaning of user text before it is stored: no control characters, no direction overrides."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls except tab and newline, and the bidi embedding/override/isolate characters
# that can make text display in another order than it was written.
_UNSAFE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f"  # controls
    "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"  # direction marks and overrides
    "\u200b\u2060\ufeff]"  # invisible spaces (the zero-width joiner stays: emoji need it)
)


def clean(text: str | None, *, multiline: bool = False) -> str:
    """Normalise user text: NFC, no unsafe characters, trimmed; single-line unless `multiline`."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _UNSAFE.sub("", text)
    if not multiline:
        text = " ".join(text.split())
    return text.strip()
