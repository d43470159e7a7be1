"""Discord's size limits for embeds, enforced here: discord.py checks only the embed count.

Sizes are counted in UTF-16 code units. For the text we send that equals the number of
characters, except that an emoji outside the Basic Multilingual Plane (our security squares)
counts twice: never less than Discord's count, so what fits here fits there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

import discord

__all__ = [
    "AUTHOR",
    "DESCRIPTION",
    "ELLIPSIS",
    "EMBEDS_PER_MESSAGE",
    "FIELDS",
    "FIELD_NAME",
    "FIELD_VALUE",
    "FOOTER",
    "TITLE",
    "TOTAL",
    "embed_size",
    "fit_embed",
    "fit_lines",
    "pack",
    "size",
    "truncate",
    "within_limits",
]

TITLE: Final = 256
DESCRIPTION: Final = 4096
FIELDS: Final = 25
FIELD_NAME: Final = 256
FIELD_VALUE: Final = 1024
FOOTER: Final = 2048
AUTHOR: Final = 256
TOTAL: Final = 6000  # per message, summed over all its embeds
EMBEDS_PER_MESSAGE: Final = 10
ELLIPSIS: Final = "…"
# Discord refuses a field with an empty name or value.
_BLANK: Final = "\u200b"
_SHORTEST_CUT: Final = 40


def size(text: str) -> int:
    """Length as Discord may count it (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit``, else its longest prefix that fits with "…" after it."""
    if size(text) <= limit:
        return text
    if limit <= 0:
        return ""
    budget = limit - size(ELLIPSIS)
    if text.isascii():
        return text[:budget].rstrip() + ELLIPSIS
    used = 0
    end = 0
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > budget:
            break
        used += width
        end += 1
    return text[:end].rstrip() + ELLIPSIS


def fit_lines(lines: Sequence[str], limit: int, more: Callable[[int], str] | None = None) -> str:
    """As many whole lines as fit in ``limit``, then a line saying how many were left out."""
    tell = more or (lambda n: f"{ELLIPSIS} and {n} more")
    if sum(map(size, lines)) + max(len(lines) - 1, 0) <= limit:
        return "\n".join(lines)
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        cost = size(line) + (1 if kept else 0)
        # Keeping this line still leaves room to say how many of the rest are left out.
        rest = len(lines) - i - 1
        tail = size(tell(rest)) + 1 if rest else 0
        if used + cost + tail > limit:
            break
        kept.append(line)
        used += cost
    if not kept:
        return truncate(lines[0], limit)
    return "\n".join([*kept, tell(len(lines) - len(kept))])


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts toward the 6,000 of a message."""
    return _dict_size(embed.to_dict())


def within_limits(embed: discord.Embed) -> bool:
    data: Any = embed.to_dict()
    fields = data.get("fields", [])
    return (
        size(data.get("title", "")) <= TITLE
        and size(data.get("description", "")) <= DESCRIPTION
        and len(fields) <= FIELDS
        and all(
            0 < size(f["name"]) <= FIELD_NAME and 0 < size(f["value"]) <= FIELD_VALUE
            for f in fields
        )
        and size(data.get("footer", {}).get("text", "")) <= FOOTER
        and size(data.get("author", {}).get("name", "")) <= AUTHOR
        and _dict_size(data) <= TOTAL
    )


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """A copy of ``embed`` within every limit, long texts cut with an ellipsis.

    Each part is cut to its own limit; if the whole is still over 6,000, the description gives
    way first, then the last field's value, or the whole last field when the cut would leave
    less than a line of it, and so on up.
    """
    # to_dict shares the field dicts with the embed: a deep copy leaves the caller's alone.
    data: Any = copy.deepcopy(embed.to_dict())
    if "title" in data:
        data["title"] = truncate(data["title"], TITLE)
    if "description" in data:
        data["description"] = truncate(data["description"], DESCRIPTION)
    if "author" in data and "name" in data["author"]:
        data["author"]["name"] = truncate(data["author"]["name"], AUTHOR)
    if "footer" in data and "text" in data["footer"]:
        data["footer"]["text"] = truncate(data["footer"]["text"], FOOTER)
    fields = data.get("fields", [])[:FIELDS]
    for f in fields:
        f["name"] = truncate(f["name"], FIELD_NAME) or _BLANK
        f["value"] = truncate(f["value"], FIELD_VALUE) or _BLANK
    if "fields" in data:
        data["fields"] = fields
    excess = _dict_size(data) - TOTAL
    if excess > 0 and data.get("description"):
        kept = max(size(data["description"]) - excess, 0)
        data["description"] = truncate(data["description"], kept)
        if not data["description"]:
            del data["description"]
        excess = _dict_size(data) - TOTAL
    while excess > 0 and fields:
        last = fields[-1]
        kept = size(last["value"]) - excess
        if kept >= _SHORTEST_CUT:
            last["value"] = truncate(last["value"], kept)
        else:  # a field cut to a stub says nothing: drop it, and cut the one before if needed
            fields.pop()
        excess = _dict_size(data) - TOTAL
    return discord.Embed.from_dict(data)


def pack(embeds: Iterable[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds, in order, into messages of at most 10 embeds and 6,000 characters.

    Each embed is fitted first (:func:`fit_embed`), so any single one fits a message.
    """
    messages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    total = 0
    for embed in embeds:
        fitted = fit_embed(embed)
        n = embed_size(fitted)
        if current and (len(current) == EMBEDS_PER_MESSAGE or total + n > TOTAL):
            messages.append(current)
            current, total = [], 0
        current.append(fitted)
        total += n
    if current:
        messages.append(current)
    return messages


def _dict_size(data: Any) -> int:
    total = size(data.get("title", "")) + size(data.get("description", ""))
    total += sum(size(f["name"]) + size(f["value"]) for f in data.get("fields", []))
    total += size(data.get("footer", {}).get("text", ""))
    total += size(data.get("author", {}).get("name", ""))
    return total
