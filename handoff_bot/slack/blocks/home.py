"""The App Home tab."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handoff_bot.handoffs.models import Handoff
from handoff_bot.i18n import Translator
from handoff_bot.slack.blocks.common import divider, plain
from handoff_bot.slack.blocks.replies import help_blocks, list_blocks


def home_view(tr: Translator, incoming: Sequence[Handoff], outgoing: Sequence[Handoff]) -> dict[str, Any]:
    """What waits on the user and what they asked for, then how to use the bot."""
    blocks = [
        {"type": "header", "text": plain(tr.gettext("Your handoffs"), 150)},
        *list_blocks(tr, incoming, outgoing),
        divider(),
        *help_blocks(tr),
    ]
    return {"type": "home", "blocks": blocks[:100]}
