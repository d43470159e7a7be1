"""`killwatch ingest`: the feeds, parsed, enriched and stored once, and published to the stream.

The same engine as `killwatch run` (feeds, enrichment with names, dedupe and feed positions in
PostgreSQL), with the stream as its one subscriber: each new kill is owed to it in the kill's
own transaction and the outbox dispatcher publishes it, so a crash between the store and the
publish delays a kill, never loses it (see `engine.scale.publisher`). No Discord here: the
`killwatch bot` processes read the stream.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from sqlalchemy import URL

from bot.config import Settings
from bot.ops_wiring import ops_server
from bot.runtime import (
    make_engine,
    max_age,
    open_parts,
    ops_address,
    ops_checks_for,
    run_until_stopped,
)
from bot.scale_stream import stream_for
from engine.delivery import Dispatcher
from engine.ops import PipelineMetrics
from engine.scale.publisher import StreamRoute, StreamSender, stream_destination
from engine.stats import PipelineStats

__all__ = ["run_ingest"]

# Redis being away is never a reason to give a kill up: the dispatcher retries for ever.
_UNLIMITED = 1 << 62


async def run_ingest(settings: Settings, url: str | URL) -> PipelineStats:
    async with AsyncExitStack() as stack:
        stream = await stack.enter_async_context(stream_for(settings))
        parts = await open_parts(stack, settings, url)
        destination = stream_destination(stream.name)
        dispatcher = Dispatcher(
            parts.database,
            parts.enricher,
            StreamSender(stream),
            # One destination, in store order: one worker, big batches (one round trip each).
            workers=1,
            batch=settings.engine.batch_size,
            max_age=max_age(settings),
            max_attempts=_UNLIMITED,
            owns=destination.__eq__,
        )
        pipeline = PipelineMetrics()
        engine = make_engine(
            parts, [], matcher=StreamRoute(destination), dispatcher=dispatcher, observer=pipeline
        )
        checks = ops_checks_for(parts, engine, pipeline, dispatcher)
        async with ops_server(*ops_address(settings), checks), engine:
            await run_until_stopped(engine)
    return engine.stats
