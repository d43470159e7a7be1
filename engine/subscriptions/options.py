"""Per-subscription options: how matches are posted, and the conditions added to the filter.

``min_value`` and ``max_age`` are not stored in the filter (the member edits them apart from
it) but the matcher must honour them, so :func:`with_options` folds them into the tree it
runs: ``value >= X`` and ``age_minutes <= N``, all required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from engine.filters import AllOf, Leaf, Node, validate
from engine.subscriptions.errors import InvalidOption

__all__ = [
    "MAX_AGE_MINUTES",
    "MAX_COOLDOWN_SECONDS",
    "MAX_MIN_VALUE",
    "STYLES",
    "SubscriptionOptions",
    "check_options",
    "is_dm",
    "with_options",
]

STYLES: Final = ("full", "compact", "link")
MAX_COOLDOWN_SECONDS: Final = 86_400
MAX_AGE_MINUTES: Final = 7 * 24 * 60
MAX_MIN_VALUE: Final = 1e16  # the bound of the `value` field itself

_DESTINATION: Final = re.compile(r"(channel|user):([1-9][0-9]{0,19})")
_ROLE: Final = re.compile(r"role:([1-9][0-9]{0,19})|<@&([1-9][0-9]{0,19})>|([1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class SubscriptionOptions:
    """How matches are posted (``style``, ``mention`` with its ``cooldown`` in seconds) and
    the conditions added on top of the filter (``max_age`` minutes, ``min_value`` ISK)."""

    style: str = "full"
    mention: str | None = None  # "here", "everyone" or "role:<id>"
    cooldown: int = 900
    max_age: int | None = None
    min_value: float | None = None


def is_dm(destination: str) -> bool:
    """True for ``user:<id>``, False for ``channel:<id>``; ``ValueError`` for anything else
    (a destination comes from code, not from a member)."""
    match = _DESTINATION.fullmatch(destination)
    if match is None:
        raise ValueError(f"destination must be 'channel:<id>' or 'user:<id>', not {destination!r}")
    return match.group(1) == "user"


def check_options(
    dm: bool,
    style: str,
    mention: str | None,
    cooldown: int,
    max_age: int | None,
    min_value: float | None,
) -> SubscriptionOptions:
    """Checked and normalised options; :class:`InvalidOption` says what is allowed.

    ``mention`` takes ``none``, ``here``/``@here``, ``everyone``/``@everyone``, ``role:<id>``,
    ``<@&id>`` or a bare role id; it is stored as ``here``, ``everyone`` or ``role:<id>``.
    """
    if style not in STYLES:
        raise InvalidOption(f"Unknown style “{style}”: use {', '.join(STYLES)}.")
    ping = _mention(mention)
    if ping is not None and dm:
        raise InvalidOption("Mentions only work in channels; leave mention empty for DMs.")
    if isinstance(cooldown, bool) or not 0 <= cooldown <= MAX_COOLDOWN_SECONDS:
        raise InvalidOption(f"The mention cooldown is 0 to {MAX_COOLDOWN_SECONDS} seconds.")
    if max_age is not None and (isinstance(max_age, bool) or not 1 <= max_age <= MAX_AGE_MINUTES):
        raise InvalidOption(f"Max age is 1 to {MAX_AGE_MINUTES} minutes (a week).")
    if min_value is not None and not 0 <= min_value <= MAX_MIN_VALUE:
        raise InvalidOption("The minimum value is 0 to 10,000t ISK.")
    return SubscriptionOptions(style, ping, int(cooldown), max_age, min_value)


def _mention(mention: str | None) -> str | None:
    if mention is None:
        return None
    word = mention.strip().lower()
    if word in ("", "none"):
        return None
    if word.removeprefix("@") in ("here", "everyone"):
        return word.removeprefix("@")
    role = _ROLE.fullmatch(word)
    if role is None:
        raise InvalidOption(f"Unknown mention “{mention}”: use none, @here, @everyone or a role.")
    return "role:" + next(group for group in role.groups() if group)


def with_options(node: Node, options: SubscriptionOptions) -> Node:
    """The tree the matcher runs: the filter and the option conditions, all required.

    Raises :class:`engine.filters.FilterInvalid` when the two extra conditions push a filter
    over the size limits.
    """
    extra: list[Node] = []
    if options.min_value is not None:
        extra.append(Leaf("value", "gte", options.min_value))
    if options.max_age is not None:
        extra.append(Leaf("age_minutes", "lte", options.max_age))
    if not extra:
        return node
    base = node.children if isinstance(node, AllOf) else (node,)
    # Validated again for the canonical form (1e9 -> 1000000000) and the size limits.
    return validate(AllOf((*base, *extra)))
