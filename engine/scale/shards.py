"""Which guilds, DMs and outbox rows one bot process of several is responsible for.

Discord assigns a guild to shard ``(guild_id >> 22) % shard_count`` and delivers DMs (and DM
interactions) to shard 0, so a process running shards ``first..last`` of ``count`` matches the
subscriptions of its guilds, and DM subscriptions only if it runs shard 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.store.database import Database
from engine.store.subscriptions import SubscriptionRepository

__all__ = ["ShardRange", "ShardRangeError", "outbox_owner"]

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
MAX_SHARDS = 65_536


class ShardRangeError(ValueError):
    """The shard range given cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class ShardRange:
    first: int
    last: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ShardRangeError(f"the shard count must be 1 to {MAX_SHARDS}, not {self.count}")
        if not 0 <= self.first <= self.last < self.count:
            raise ShardRangeError(
                f"shards {self.first}-{self.last} are not within 0-{self.count - 1} "
                f"(a shard count of {self.count})"
            )

    @classmethod
    def parse(cls, text: str, count: int) -> ShardRange:
        """``"0-3"`` or ``"5"`` (one shard) of `count` shards."""
        found = _RANGE.match(text)
        if found is None:
            raise ShardRangeError(f"shards must look like 0-3 or 5, not {text!r}")
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) is not None else first
        return cls(first, last, count)

    @property
    def ids(self) -> list[int]:
        return list(range(self.first, self.last + 1))

    @property
    def label(self) -> str:
        """``0-3of16``: names this process's consumer group, so each range sees every kill."""
        return f"{self.first}-{self.last}of{self.count}"

    @property
    def has_dms(self) -> bool:
        return self.first == 0

    def shard_of(self, guild_id: int) -> int:
        return (guild_id >> 22) % self.count

    def holds(self, guild_id: int | None) -> bool:
        """Whether this range serves a guild's subscriptions (None: a member's DMs)."""
        if guild_id is None:
            return self.has_dms
        return self.first <= self.shard_of(guild_id) <= self.last

    def owns(self, destination: str, guilds: Mapping[str, int | None]) -> bool:
        """Whether outbox rows for `destination` are this process's to post. `guilds` maps each
        subscribed destination to its guild; a channel no subscription names belongs to none."""
        if destination.startswith("user:"):
            return self.has_dms
        if destination not in guilds:
            return False
        return self.holds(guilds[destination])


async def outbox_owner(database: Database, shards: ShardRange) -> Callable[[str], bool]:
    """Which owed posts found in the shared outbox at start are this process's: those to the
    channels of its guilds (as the subscriptions say now) and, on shard 0, to DMs."""
    async with database.session() as session:
        guilds = await SubscriptionRepository(session).destinations()
    return lambda destination: shards.owns(destination, guilds)
