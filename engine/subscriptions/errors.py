"""What goes wrong with a subscription request, said so that a member can fix it.

``str()`` of each is a sentence fit to show as it is, saying what to do instead. Bad filters
are not here: they raise :class:`engine.filters.FilterError` (with the column or path).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "InvalidBatch",
    "InvalidOption",
    "LimitReached",
    "NotYours",
    "SubscriptionError",
    "SubscriptionNotFound",
    "UnknownName",
]


class SubscriptionError(Exception):
    """A request about subscriptions that cannot be done."""


class SubscriptionNotFound(SubscriptionError):
    pass


class NotYours(SubscriptionError):
    """The subscription belongs to another server, or to another member's DMs."""


class LimitReached(SubscriptionError):
    """The member's DM limit, or the channel's, is used up."""


class InvalidOption(SubscriptionError):
    """A style, mention, cooldown, max age, minimum value or preset argument is out of range."""


class UnknownName(SubscriptionError):
    """A preset argument names nothing known (a system, region, group or entity)."""


class InvalidBatch(SubscriptionError):
    """Some subscriptions of a batch (an import) cannot be made, so none was: ``problems`` are
    (position in the batch, the error saying why), in batch order."""

    def __init__(self, problems: Sequence[tuple[int, Exception]]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "; ".join(f"#{index + 1}: {error}" for index, error in self.problems)
        )
