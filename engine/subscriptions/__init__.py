"""Subscriptions: which kills a channel or a member's DMs want, as slash commands manage them.

- :mod:`.facade` :class:`Subscriptions`, the one object commands call (store + matcher);
- :mod:`.options` the per-subscription options and how they join the filter;
- :mod:`.watch` the ``/watch`` presets by name, arguments to filter trees;
- :mod:`.errors` what a member can be told when a request cannot be done.

The rows themselves live in :mod:`engine.store.subscriptions`.
"""

from engine.subscriptions.errors import (
    InvalidBatch,
    InvalidOption,
    LimitReached,
    NotYours,
    SubscriptionError,
    SubscriptionNotFound,
    UnknownName,
)
from engine.subscriptions.facade import (
    UNSET,
    LoadResult,
    NewSubscription,
    Posting,
    Preview,
    Subscriptions,
    SubscriptionView,
    Unset,
)
from engine.subscriptions.options import STYLES, SubscriptionOptions
from engine.subscriptions.watch import PRESETS, WatchArgs

__all__ = [
    "PRESETS",
    "STYLES",
    "UNSET",
    "InvalidBatch",
    "InvalidOption",
    "LimitReached",
    "LoadResult",
    "NewSubscription",
    "NotYours",
    "Posting",
    "Preview",
    "SubscriptionError",
    "SubscriptionNotFound",
    "SubscriptionOptions",
    "SubscriptionView",
    "Subscriptions",
    "UnknownName",
    "Unset",
    "WatchArgs",
]
