"""`killwatch bot --shards 0-3 --shard-count 16`: one bot process of several.

It runs Discord's shards first..last of count (so the gateway gives it only their guilds),
matches only its guilds' subscriptions (and DMs on the process with shard 0, where Discord
delivers them), reads every kill from the stream through a consumer group of its own, owes its
posts in the shared outbox and posts them. It reads no feed: `killwatch ingest` does.
"""

from __future__ import annotations

from collections.abc import Callable

from discord.ext import commands
from sqlalchemy import URL

from bot.config import Settings
from bot.discord_bot import BotServices, KillwatchBot
from bot.runtime import Parts, max_age
from bot.scale_stream import stream_for
from bot.serve import serve_discord
from engine.delivery import Dispatcher
from engine.filters import Matcher
from engine.pipeline import PipelineObserver
from engine.scale.consumer import ConsumerStats, StreamConsumer
from engine.scale.shards import ShardRange, outbox_owner
from engine.scale.stream import KillStream
from engine.store.database import Database

__all__ = ["ShardLayout", "ShardedKillwatchBot", "run_shard_bot"]


class ShardedKillwatchBot(KillwatchBot, commands.AutoShardedBot):
    """Killwatch's bot on a range of shards (`shard_ids`, `shard_count`)."""


class ShardLayout:
    reads_feeds = False

    def __init__(self, settings: Settings, shards: ShardRange, stream: KillStream) -> None:
        self._settings = settings
        self._shards = shards
        self._stream = stream

    @property
    def group(self) -> str:
        return f"bot:{self._shards.label}"

    @property
    def posts_digests(self) -> bool:
        # One process of the layout posts the weekly digest to every opted-in channel.
        return self._shards.has_dms

    def holds(self, guild_id: int | None) -> bool:
        return self._shards.holds(guild_id)

    def client(self, services: BotServices, *, test_guild_id: int | None) -> KillwatchBot:
        return ShardedKillwatchBot(
            services,
            test_guild_id=test_guild_id,
            shard_ids=self._shards.ids,
            shard_count=self._shards.count,
        )

    async def owner(self, database: Database) -> Callable[[str], bool] | None:
        return await outbox_owner(database, self._shards)

    def core(
        self,
        parts: Parts,
        matcher: Matcher,
        dispatcher: Dispatcher,
        observer: PipelineObserver | None = None,
    ) -> StreamConsumer:
        engine = self._settings.engine
        return StreamConsumer(
            self._stream,
            group=self.group,
            database=parts.database,
            matcher=matcher,
            dispatcher=dispatcher,
            max_age=max_age(self._settings),
            batch=engine.batch_size,
            drain_timeout=engine.drain_timeout_seconds,
            observer=observer,
        )


async def run_shard_bot(
    settings: Settings, url: str | URL, token: str, shards: ShardRange
) -> ConsumerStats:
    async with stream_for(settings) as stream:
        consumer = await serve_discord(settings, url, token, ShardLayout(settings, shards, stream))
    assert isinstance(consumer, StreamConsumer)
    return consumer.stats
