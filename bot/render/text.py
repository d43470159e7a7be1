"""Text from killmail data made safe to show in Discord: no markdown, no mentions.

Names come from players (characters, corporations, alliances): someone can call a corporation
``**Free ISK**`` or ``@everyone``. Two layers keep such text harmless:

1. here, every piece of data is escaped before it goes into an embed: markdown is escaped with
   ``discord.utils.escape_markdown`` (plus square brackets, so a name cannot close the text of
   the masked link it sits in), and a zero-width space follows every ``@`` and ``<`` so no
   user, role, ``@everyone``/``@here``, channel or timestamp markup can form;
2. the sender passes ``allowed_mentions`` permitting only the ping a subscription configured.

Either layer alone would stop a ping (and Discord never pings from embed text at all); both
exist because the first also keeps the text from *rendering* as a mention or as formatting,
and the second guards whatever a future change forgets to escape.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from discord.utils import escape_markdown

__all__ = ["ZWSP", "duration", "inert", "link", "md"]

ZWSP: Final = "\u200b"
_MENTION_STARTS: Final = re.compile(r"([@<])")
# A bracket preceded by an even number of backslashes (none included) is not escaped yet.
_BARE_BRACKET: Final = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")
_LINE_BREAKS: Final = re.compile(r"[\r\n\t\x0b\x0c\x85\u2028\u2029]+")


def inert(text: str) -> str:
    """``text`` on one line with no mention able to form: for places Discord shows verbatim.

    Author names and footers render neither markdown nor mentions, so escaping markdown there
    would only show backslashes; the mention guard stays as a belt-and-braces measure.
    """
    return _MENTION_STARTS.sub(rf"\1{ZWSP}", _LINE_BREAKS.sub(" ", text))


def md(text: str) -> str:
    """``text`` for places that render markdown (titles, descriptions, field names and values)."""
    escaped = escape_markdown(_LINE_BREAKS.sub(" ", text), ignore_links=False)
    return inert(_BARE_BRACKET.sub(r"\1\\\2", escaped))


def link(text: str, url: str) -> str:
    """A masked link whose visible text is ``text`` escaped; ``url`` is ours, never data."""
    return f"[{md(text)}]({url})"


def duration(delta: timedelta) -> str:
    """A span as players say it: "12m", "2h 05m", "3d 4h" (negative spans count as 0)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"
