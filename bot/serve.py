"""`killwatch run` with a Discord token: the engine and the Discord client in one process.

Order matters. The client logs in and is ready before the engine starts, because the
engine's first act is to resume the posts a previous run still owed. On SIGTERM the engine
stops reading feeds, finishes what it read and what it owes (within the drain timeout), and
only then the client closes; what could not be posted stays owed in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from typing import cast

import discord
from sqlalchemy import URL

from bot.config import Settings
from bot.discord_bot import BotServices, KillwatchBot, point_at
from bot.notices import notify_gone
from bot.posts import PostOptions
from bot.render import Perspective
from bot.render.embeds import Style
from bot.runtime import Parts, make_engine, max_age, open_parts, run_until_stopped
from bot.sender import DiscordSender
from engine.delivery import Dispatcher
from engine.enrich.distances import Distances
from engine.filters import Matcher
from engine.guilds import GuildSettings
from engine.history import History
from engine.pipeline import Engine
from engine.queries import Queries
from engine.stats import PipelineStats
from engine.subscriptions import Subscriptions

__all__ = ["DiscordLoginError", "run_bot"]

log = logging.getLogger(__name__)


class DiscordLoginError(Exception):
    """Discord refused the token or could not be reached; the message says which, never the
    token itself."""


async def run_bot(settings: Settings, url: str | URL, token: str) -> PipelineStats:
    point_at(settings.discord.api_base_url, settings.discord.gateway_url)
    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, url)
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
        await subscriptions.load()
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
        )
        bot = KillwatchBot(services, test_guild_id=settings.discord.test_guild_id)
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
            engine = await _serve(settings, parts, bot, subscriptions, matcher, connection)
        finally:
            await bot.close()
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connection
    return engine.stats


async def _serve(
    settings: Settings,
    parts: Parts,
    bot: KillwatchBot,
    subscriptions: Subscriptions,
    matcher: Matcher,
    connection: asyncio.Task[None],
) -> Engine:
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
        )
        subscriptions.on_resume(dispatcher.reopen)
        if bot.services.guilds is not None:
            subscriptions.on_resume(bot.services.guilds.forget_notices)
        engine = make_engine(parts, [], matcher=matcher, dispatcher=dispatcher)
        bot.services.running.engine = engine
        async with engine:
            # Should the Discord connection end for good, stop reading feeds: kills read
            # meanwhile would only pile up as owed posts.
            connection.add_done_callback(lambda _: engine.stop())
            await run_until_stopped(engine)
    return engine


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
