"""How much of the work one bot process does: all of it (`killwatch run`), or, in the scale-out
layout, the Discord shards it was given (`killwatch bot`, see `bot.shard_layout`).

`bot.serve` asks the layout at each point where the two differ: whether to read the feeds,
which subscriptions to match, which Discord client to run, which owed posts to take up at
start, what runs beside the client (the engine, or a stream consumer), and whether the weekly
digest is this process's job.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from bot.discord_bot import BotServices, KillwatchBot
from bot.runtime import Parts, Stoppable, make_engine
from engine.delivery import Dispatcher
from engine.filters import Matcher
from engine.pipeline import Engine, PipelineObserver
from engine.store.database import Database

if TYPE_CHECKING:  # only `killwatch bot` loads Redis
    from engine.scale.consumer import StreamConsumer

__all__ = ["ALONE", "Alone", "Core", "Layout"]


class Core(Stoppable, Protocol):
    """What runs beside the Discord client until stopped: open it with ``async with``."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class Layout(Protocol):
    @property
    def reads_feeds(self) -> bool: ...

    @property
    def posts_digests(self) -> bool: ...

    def holds(self, guild_id: int | None) -> bool:
        """Whether this process matches the subscriptions of this guild (None: DMs)."""
        ...

    def client(self, services: BotServices, *, test_guild_id: int | None) -> KillwatchBot: ...

    async def owner(self, database: Database) -> Callable[[str], bool] | None:
        """Which owed posts found at start are this process's (None: all)."""
        ...

    def core(
        self,
        parts: Parts,
        matcher: Matcher,
        dispatcher: Dispatcher,
        observer: PipelineObserver | None = None,
    ) -> Engine | StreamConsumer:
        """What runs beside the client; `observer` is told match times (for `/metrics`)."""
        ...


class Alone:
    """One process does everything: the feeds, every subscription, every post."""

    reads_feeds = True
    posts_digests = True

    def holds(self, guild_id: int | None) -> bool:
        return True

    def client(self, services: BotServices, *, test_guild_id: int | None) -> KillwatchBot:
        return KillwatchBot(services, test_guild_id=test_guild_id)

    async def owner(self, database: Database) -> Callable[[str], bool] | None:
        return None

    def core(
        self,
        parts: Parts,
        matcher: Matcher,
        dispatcher: Dispatcher,
        observer: PipelineObserver | None = None,
    ) -> Engine:
        return make_engine(parts, [], matcher=matcher, dispatcher=dispatcher, observer=observer)


ALONE = Alone()
