"""Wiring: settings in, a running engine out. Shared by `killwatch run` and `replay`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import aiohttp
from sqlalchemy import URL

from bot.config import (
    R2Z2SourceSettings,
    RedisQSourceSettings,
    ReplaySourceSettings,
    Settings,
    SourceSettings,
    WandererSourceSettings,
)
from bot.jobs_wiring import schedule_maintenance
from bot.ops_wiring import ops_checks, ops_server
from engine.delivery import Dispatcher
from engine.dispatch.sink import Sink
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.esi.client import EsiClient
from engine.esi.names import IdResolver, NameResolver
from engine.esi.prices import PriceBook
from engine.jobs import Jobs
from engine.ops import DiscordLink, OpsChecks, PipelineMetrics
from engine.pipeline import Engine, KillRouter, PipelineObserver
from engine.sources import ReplaySource, Source, bundled_sample
from engine.sources.http import HttpTimeouts, user_agent
from engine.sources.r2z2 import R2Z2Source, cursor_key
from engine.sources.redisq import RedisQSource
from engine.sources.wanderer import WandererSource
from engine.sources.wanderer import cursor_key as wanderer_cursor_key
from engine.stats import PipelineStats
from engine.store.database import Database, make_url
from engine.store.lookups import DatabaseIdStore, DatabaseNameStore, DatabasePriceStore
from engine.store.repositories import StateRepository

if TYPE_CHECKING:  # bot mode's parts: console mode loads neither Discord nor Redis
    from bot.sender import DiscordSender
    from engine.scale.consumer import StreamConsumer

__all__ = [
    "FeedContext",
    "Parts",
    "Stoppable",
    "build_source",
    "database_url",
    "make_engine",
    "max_age",
    "open_parts",
    "run_engine",
    "run_until_stopped",
]

log = logging.getLogger(__name__)


def database_url(settings: Settings) -> URL:
    return make_url(settings.database.url, settings.database_password())


class FeedContext:
    """What live feeds share: one HTTP session, the timeouts and User-Agent, the ESI client
    (and with it ESI's error budget), saved positions."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, database: Database):
        feeds, esi = settings.feeds, settings.esi
        self.settings = settings
        self.session = session
        self.database = database
        self.timeouts = HttpTimeouts(feeds.connect_timeout_seconds, feeds.read_timeout_seconds)
        self.user_agent = user_agent(feeds.contact)
        self.esi = EsiClient(
            session,
            base_url=esi.url,
            user_agent=self.user_agent,
            timeouts=self.timeouts,
            error_floor=esi.error_limit_floor,
            breaker_threshold=esi.breaker_threshold,
            breaker_cool_down=esi.breaker_cool_down_seconds,
        )

    async def saved(self, key: str) -> str | None:
        async with self.database.session() as session:
            return await StateRepository(session).get(key)


async def build_source(config: SourceSettings, context: FeedContext) -> Source:
    if isinstance(config, ReplaySourceSettings):
        path = config.path if config.path is not None else bundled_sample()
        return ReplaySource(
            path, speed=config.speed, max_gap=config.max_gap_seconds, name=config.name
        )
    if isinstance(config, R2Z2SourceSettings):
        saved = await context.saved(cursor_key(config.name))
        return R2Z2Source(
            context.session,
            base_url=config.url,
            name=config.name,
            start_after=int(saved) if saved is not None else None,
            user_agent=context.user_agent,
            timeouts=context.timeouts,
            requests_per_second=config.requests_per_second,
            poll_wait=config.poll_wait_seconds,
            max_404s=config.max_404s,
            max_404_seconds=config.max_404_seconds,
            concurrency=config.concurrency,
            max_backlog=config.max_backlog,
        )
    if isinstance(config, RedisQSourceSettings):
        return RedisQSource(
            context.session,
            base_url=config.url,
            queue_id=config.queue_id,
            ttw=config.ttw,
            name=config.name,
            fetch_killmail=context.esi.killmail,
            timeouts=context.timeouts,
            user_agent=context.user_agent,
        )
    if isinstance(config, WandererSourceSettings):
        return WandererSource(
            context.session,
            base_url=config.url,
            systems=config.systems,
            characters=config.characters,
            name=config.name,
            start=await context.saved(wanderer_cursor_key(config.name)),
            timeouts=HttpTimeouts(context.timeouts.connect, config.read_timeout_seconds),
            user_agent=context.user_agent,
        )
    raise AssertionError(f"unhandled source kind {config!r}")


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything an engine is built from, opened on one exit stack."""

    settings: Settings
    universe: Universe
    database: Database
    context: FeedContext
    sources: Sequence[Source]
    enricher: Enricher
    names: NameResolver | None  # None offline
    ids: IdResolver | None
    jobs: Jobs  # the scheduled jobs, open as long as the parts (bot mode adds the digest)


async def open_parts(
    stack: AsyncExitStack,
    settings: Settings,
    url: str | URL,
    sources: Sequence[Source] | None = None,
    *,
    online: bool = True,
    maintenance: bool = True,
) -> Parts:
    """`sources` None builds the feeds the settings name, each resuming where it stopped.
    `online` False keeps ESI out of it (a replay): names only from the static data, values
    only from zKillboard, and no maintenance jobs. `maintenance` False leaves the daily
    retention, names and SDE jobs to another process (a scale-out bot beside the ingester)."""
    universe = await asyncio.to_thread(Universe.load, data_dir=settings.engine.data_dir)
    database = await stack.enter_async_context(Database(url))
    session = await stack.enter_async_context(
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
    )
    context = FeedContext(settings, session, database)
    # After the database and the session: leaving the stack stops the jobs before them.
    jobs = await stack.enter_async_context(Jobs())
    if sources is None:
        sources = [await build_source(config, context) for config in settings.sources]
    names: NameResolver | None = None
    ids: IdResolver | None = None
    prices: PriceBook | None = None
    if online and settings.esi.enabled:
        names = await stack.enter_async_context(
            NameResolver(context.esi, DatabaseNameStore(database))
        )
        ids = await stack.enter_async_context(IdResolver(context.esi, DatabaseIdStore(database)))
        prices = await _price_book(context, jobs)
    enricher = Enricher(universe, prices=prices)
    parts = Parts(settings, universe, database, context, sources, enricher, names, ids, jobs)
    if online and maintenance:
        await schedule_maintenance(parts, jobs)
    return parts


def make_engine(
    parts: Parts,
    sinks: Sequence[Sink],
    *,
    matcher: KillRouter | None = None,
    dispatcher: Dispatcher | None = None,
    observer: PipelineObserver | None = None,
) -> Engine:
    tuning = parts.settings.engine
    return Engine(
        sources=parts.sources,
        enricher=parts.enricher,
        database=parts.database,
        sinks=sinks,
        queue_size=tuning.queue_size,
        batch_size=tuning.batch_size,
        drain_timeout=tuning.drain_timeout_seconds,
        recent_ids=tuning.recent_ids,
        max_age=max_age(parts.settings),
        status_interval=tuning.status_interval_seconds,
        names=parts.names,
        names_timeout=parts.settings.esi.names_timeout_seconds,
        matcher=matcher,
        dispatcher=dispatcher,
        observer=observer,
    )


def ops_address(settings: Settings) -> tuple[str, int]:
    return settings.ops.host, settings.ops.port


def ops_checks_for(
    parts: Parts,
    engine: Engine | StreamConsumer,
    pipeline: PipelineMetrics,
    dispatcher: Dispatcher | None = None,
    sender: DiscordSender | None = None,
    discord: Callable[[], DiscordLink] | None = None,
) -> OpsChecks:
    """`bot.ops_wiring.ops_checks` with the limits the `[ops]` settings give."""
    ops = parts.settings.ops
    return ops_checks(
        parts,
        engine,
        dispatcher,
        sender,
        pipeline=pipeline,
        discord=discord,
        feed_stale=timedelta(minutes=ops.feed_stale_minutes),
        stream_stale=timedelta(seconds=ops.stream_stale_seconds),
        discord_grace=timedelta(seconds=ops.discord_grace_seconds),
        store_timeout=ops.store_timeout_seconds,
    )


def max_age(settings: Settings) -> timedelta | None:
    minutes = settings.engine.max_age_minutes
    return timedelta(minutes=minutes) if minutes else None


class Stoppable(Protocol):
    """What runs until stopped: the engine, or a bot process's stream consumer."""

    def stop(self) -> None: ...

    async def wait(self) -> None: ...


async def run_until_stopped(
    engine: Stoppable, *, on_stop: Callable[[], None] | None = None
) -> None:
    """Until the engine's sources are exhausted, or SIGINT/SIGTERM asks it to stop."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stopper(engine, signum, on_stop))
    try:
        await engine.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def run_engine(
    settings: Settings,
    url: str | URL,
    sinks: Sequence[Sink],
    sources: Sequence[Source] | None = None,
    *,
    online: bool = True,
) -> PipelineStats:
    """Console mode: every new kill to `sinks`, until the feeds end or a signal stops it."""
    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, url, sources, online=online)
        pipeline = PipelineMetrics()
        engine = make_engine(parts, sinks, observer=pipeline)
        # The server outlives the engine's drain: it answers 503 "not running" meanwhile.
        checks = ops_checks_for(parts, engine, pipeline)
        async with ops_server(*ops_address(settings), checks), engine:
            await run_until_stopped(engine)
    return engine.stats


async def _price_book(context: FeedContext, jobs: Jobs) -> PriceBook:
    """Prices saved by an earlier run at once; ESI's list refreshed now if stale, then daily."""
    book = PriceBook(context.esi, DatabasePriceStore(context.database))
    await book.load()
    every = timedelta(hours=context.settings.esi.prices_refresh_hours)
    stale = book.updated_at is None or datetime.now(UTC) - book.updated_at > every
    jobs.add("prices", book.refresh, every=every, first_run_now=stale)
    return book


def _stopper(
    engine: Stoppable, signum: int, on_stop: Callable[[], None] | None
) -> Callable[[], None]:
    def stop() -> None:
        log.info("%s received: finishing the kills in flight, then stopping",
                 signal.Signals(signum).name)
        engine.stop()
        if on_stop is not None:
            on_stop()

    return stop
