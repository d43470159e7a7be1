"""Wiring: settings in, a running engine out. Shared by `killwatch run` and `replay`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

from sqlalchemy import URL

from bot.config import ReplaySourceSettings, Settings, SourceSettings
from engine.dispatch.sink import Sink
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.pipeline import Engine
from engine.sources import ReplaySource, Source, bundled_sample
from engine.stats import PipelineStats
from engine.store.database import Database, make_url

__all__ = ["build_source", "database_url", "run_engine"]

log = logging.getLogger(__name__)


def database_url(settings: Settings) -> URL:
    return make_url(settings.database.url, settings.database_password())


def build_source(config: SourceSettings) -> Source:
    if isinstance(config, ReplaySourceSettings):
        path = config.path if config.path is not None else bundled_sample()
        return ReplaySource(
            path, speed=config.speed, max_gap=config.max_gap_seconds, name=config.name
        )
    raise AssertionError(f"unhandled source kind {config!r}")


async def run_engine(
    settings: Settings,
    url: str | URL,
    sources: Sequence[Source],
    sinks: Sequence[Sink],
) -> PipelineStats:
    """Run until every source is exhausted, or SIGINT/SIGTERM asks us to stop."""
    universe = await asyncio.to_thread(Universe.load)
    tuning = settings.engine
    async with Database(url) as database:
        engine = Engine(
            sources=sources,
            enricher=Enricher(universe),
            database=database,
            sinks=sinks,
            queue_size=tuning.queue_size,
            batch_size=tuning.batch_size,
            drain_timeout=tuning.drain_timeout_seconds,
            recent_ids=tuning.recent_ids,
        )
        async with engine:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, _stopper(engine, signum))
            try:
                await engine.wait()
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
    return engine.stats


def _stopper(engine: Engine, signum: int) -> Callable[[], None]:
    def stop() -> None:
        log.info("%s received: finishing the kills in flight, then stopping",
                 signal.Signals(signum).name)
        engine.stop()

    return stop
