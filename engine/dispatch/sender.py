"""What the outbox hands a destination's sender, and what the sender answers.

The engine decides who gets which kill, once and in order; a `Sender` (the Discord client in
the bot, the console in engine-only mode) decides how to post them: one message or several,
embeds packed together, a battle summary. It answers every delivery with one outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.model import EnrichedKill

__all__ = ["Delivery", "Failed", "Gone", "Outcome", "Retry", "Sender", "Sent"]


@dataclass(frozen=True, slots=True)
class Delivery:
    entry_id: int  # the outbox row
    kill: EnrichedKill
    subscription_ids: tuple[int, ...]  # every subscription of the destination that matched


@dataclass(frozen=True, slots=True)
class Sent:
    entry_ids: tuple[int, ...]
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Not now (rate limited, a server hiccup): try these again after `after` seconds.

    `counts` False: the posts are not to blame (Discord's rate limit), so the try does not
    use up one of their attempts; they wait as often and as long as they are told to."""

    entry_ids: tuple[int, ...]
    after: float
    error: str
    counts: bool = True


@dataclass(frozen=True, slots=True)
class Gone:
    """The destination cannot be posted to any more (channel deleted, access lost, DMs shut):
    drop everything owed to it and pause its subscriptions."""

    entry_ids: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Failed:
    """These posts can never be made (the rest of the destination is fine)."""

    entry_ids: tuple[int, ...]
    reason: str


Outcome = Sent | Retry | Gone | Failed


class Sender(Protocol):
    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> Sequence[Outcome]:
        """Post `deliveries` (in order, oldest first) to `destination`; one outcome covers each
        delivery's entry id exactly once."""
        ...
