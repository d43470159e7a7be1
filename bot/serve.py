"""`killwatch run` with a Discord token: the engine and the Discord client in one process.
(`killwatch bot` runs the same with a `bot.layout.Layout` of its shards: a stream consumer in
place of the engine.)

Order matters. The client logs in and is ready before the engine starts, because the
engine's first act is to resume the posts a previous run still owed. On SIGTERM the engine
stops reading feeds, finishes what it read and what it owes (within the drain timeout), and
only then the client closes; what could not be posted stays owed in the store.

The ops endpoint (`[ops] port`) serves as long as the engine (or stream consumer) runs, its drain
included: `/healthz` also fails while the Discord gateway stays down past a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import cast

import discord
from sqlalchemy import URL

from bot.battle_ledger import StoredBattleLedger
from bot.config import Settings
from bot.digest import DIGEST_KILLS, DigestPoster
from bot.discord_bot import BotServices, KillwatchBot, point_at
from bot.gateway_watch import GatewayWatch
from bot.jobs_wiring import digest_slot, scheduled_digest
from bot.layout import ALONE, Core, Layout
from bot.notices import notify_gone
from bot.ops_wiring import ops_server
from bot.posts import PostOptions
from bot.render import Perspective
from bot.render.embeds import Style
from bot.runtime import (
    Parts,
    max_age,
    open_parts,
    ops_address,
    ops_checks_for,
    run_until_stopped,
)
from bot.sender import DiscordSender
from engine.delivery import Dispatcher
from engine.digests import DigestChannels
from engine.enrich.distances import Distances
from engine.filters import Matcher
from engine.guilds import GuildSettings
from engine.history import History
from engine.ops import PipelineMetrics
from engine.pipeline import Engine
from engine.queries import Queries
from engine.stats import PipelineStats
from engine.subscriptions import Subscriptions

__all__ = ["DiscordLoginError", "run_bot", "serve_discord"]

log = logging.getLogger(__name__)


class DiscordLoginError(Exception):
    """Discord refused the token or could not be reached; the message says which, never the
    token itself."""


async def run_bot(settings: Settings, url: str | URL, token: str) -> PipelineStats:
    engine = await serve_discord(settings, url, token, ALONE)
    assert isinstance(engine, Engine)
    return engine.stats


async def serve_discord(settings: Settings, url: str | URL, token: str, layout: Layout) -> Core:
    """The Discord client and beside it what `layout` runs, until stopped; returns the latter."""
    point_at(settings.discord.api_base_url, settings.discord.gateway_url)
    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, url, None if layout.reads_feeds else [],
                                 maintenance=layout.reads_feeds)
        distances = Distances(parts.universe)
        matcher = Matcher(distances)
        subscriptions = Subscriptions(
            parts.database,
            matcher,
            parts.universe,
            ranges=distances,
            entities=parts.ids,
            names=parts.names.known if parts.names is not None else None,
            dm_limit=settings.discord.dm_limit,
        )
        await subscriptions.load(layout.holds)
        guilds = GuildSettings(parts.database, subscriptions)
        services = BotServices(
            subscriptions,
            parts.universe,
            History(parts.database, parts.enricher),
            manager_role=settings.discord.manager_role,
            pings=settings.discord.pings,
            guilds=guilds,
            queries=Queries(
                parts.database,
                parts.enricher,
                parts.names.known if parts.names is not None else None,
                entities=parts.ids,
            ),
            digests=DigestChannels(parts.database),
            digest_slot=digest_slot(settings),
        )
        bot = layout.client(services, test_guild_id=settings.discord.test_guild_id)
        await stack.enter_async_context(bot)
        try:
            await bot.login(token)
        except discord.LoginFailure:
            raise DiscordLoginError(
                "Discord refused the token: check DISCORD_TOKEN (or discord.token_file)"
            ) from None
        except (discord.HTTPException, OSError) as exc:
            raise DiscordLoginError(f"cannot reach Discord: {type(exc).__name__}") from None
        connection = asyncio.create_task(bot.connect(reconnect=True), name="discord")
        try:
            await _until_ready(bot, connection)
            engine = await _serve(settings, parts, bot, subscriptions, matcher, connection,
                                  layout)
        finally:
            await bot.close()
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connection
    return engine


async def _serve(
    settings: Settings,
    parts: Parts,
    bot: KillwatchBot,
    subscriptions: Subscriptions,
    matcher: Matcher,
    connection: asyncio.Task[None],
    layout: Layout,
) -> Core:
    def options_for(subscription_id: int) -> PostOptions | None:
        posting = subscriptions.posting(subscription_id)
        if posting is None:
            return None
        return PostOptions(
            style=cast(Style, posting.style),
            mention=posting.mention if settings.discord.pings else None,
            cooldown_seconds=posting.cooldown,
            perspective=_perspective(posting.watched),
        )

    async def gone(destination: str, reason: str) -> None:
        paused = await subscriptions.pause_destination(destination, reason)
        log.warning("paused subscriptions %s of %s: %s", paused, destination, reason)
        await notify_gone(bot, destination, reason)

    # The sender closes (ending its live battle summaries' tasks) while the client is up.
    discord_settings = settings.discord
    async with DiscordSender(
        bot,
        options_for,
        global_rate=discord_settings.requests_per_second,
        battle_threshold=discord_settings.battle_threshold,
        battle_window=discord_settings.battle_window_seconds,
        battle_edit_interval=discord_settings.battle_edit_seconds,
        battle_quiet=discord_settings.battle_quiet_seconds,
        ledger=StoredBattleLedger(parts.database),
    ) as sender:
        bot.services.running.sender = sender
        dispatcher = Dispatcher(
            parts.database,
            parts.enricher,
            sender,
            # A channel's 5-per-5-s window can hold a worker for seconds: many workers keep
            # the other channels moving.
            workers=32,
            max_age=max_age(settings),
            on_gone=gone,
            owns=await layout.owner(parts.database),
        )
        subscriptions.on_resume(dispatcher.reopen)
        if bot.services.guilds is not None:
            subscriptions.on_resume(bot.services.guilds.forget_notices)
        pipeline = PipelineMetrics()
        engine = layout.core(parts, matcher, dispatcher, observer=pipeline)
        if isinstance(engine, Engine):
            bot.services.running.engine = engine
        digest = (_digest(parts, bot.services, sender) if layout.posts_digests
                  else contextlib.nullcontext())
        checks = ops_checks_for(parts, engine, pipeline, dispatcher, sender, GatewayWatch(bot))
        # The server outlives the engine's drain: it answers 503 "not running" meanwhile.
        async with ops_server(*ops_address(settings), checks), digest, engine:
            # Should the Discord connection end for good, stop reading feeds: kills read
            # meanwhile would only pile up as owed posts.
            connection.add_done_callback(lambda _: engine.stop())
            await run_until_stopped(engine)
    return engine


def _digest(
    parts: Parts, services: BotServices, sender: DiscordSender
) -> contextlib.AbstractAsyncContextManager[None]:
    """The weekly digest job, posting through `sender` while the block runs."""
    digests, queries = services.digests, services.queries
    if digests is None or queries is None:
        return contextlib.nullcontext()
    guilds = services.guilds

    async def paused(guild_id: int) -> bool:
        return guilds is not None and (await guilds.get(guild_id)).paused

    poster = DigestPoster(
        digests,
        lambda: queries.top("week", limit=DIGEST_KILLS),
        sender,
        services.digest_slot,
        paused=paused,
    )
    return scheduled_digest(parts.jobs, poster.run, services.digest_slot, datetime.now(UTC))


async def _until_ready(bot: KillwatchBot, connection: asyncio.Task[None]) -> None:
    """Wait for READY; if the connection ends first (refused intents, a bad token) say why."""
    ready = asyncio.ensure_future(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, connection}, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        error = connection.exception()
        raise DiscordLoginError(
            f"the Discord connection closed before it was ready: {type(error).__name__}"
        )


def _perspective(watched: Mapping[str, Sequence[int] | frozenset[int]]) -> Perspective | None:
    if not any(watched.values()):
        return None
    return Perspective(
        characters=frozenset(watched.get("character", ())),
        corporations=frozenset(watched.get("corporation", ())),
        alliances=frozenset(watched.get("alliance", ())),
        factions=frozenset(watched.get("faction", ())),
    )
