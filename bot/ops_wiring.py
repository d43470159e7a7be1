"""The ops endpoint wired to a running Killwatch: which part answers which question.

`ops_checks` gathers what `/healthz` and `/metrics` read from the parts `open_parts` built,
the engine (or, in a scale-out bot process, the stream consumer) and, in bot mode, the
dispatcher, the Discord sender and the gateway's state (`bot.gateway_watch`). `ops_server`
starts the endpoint, or nothing when the configured port is 0 (off).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.ops import (
    DEFAULT_DISCORD_GRACE,
    DEFAULT_FEED_STALE,
    DEFAULT_STREAM_STALE,
    CacheCounts,
    DiscordLink,
    OpsChecks,
    OpsServer,
    PipelineMetrics,
)
from engine.ops.probes import StorePing
from engine.pipeline import Engine
from engine.sources.status import now_utc
from engine.status import STATUS_KEY
from engine.store.database import Database
from engine.store.repositories import StateRepository

if TYPE_CHECKING:  # runtime imports this module to start the server
    from bot.runtime import Parts
    from bot.sender import DiscordSender
    from engine.delivery import Dispatcher
    from engine.esi.client import EsiClient
    from engine.scale.consumer import StreamConsumer  # only `killwatch bot` loads Redis

__all__ = ["ops_checks", "ops_server", "store_ping"]


def ops_checks(
    parts: Parts,
    engine: Engine | StreamConsumer,
    dispatcher: Dispatcher | None = None,
    sender: DiscordSender | None = None,
    esi: EsiClient | None = None,
    *,
    pipeline: PipelineMetrics | None = None,
    discord: Callable[[], DiscordLink] | None = None,
    feed_stale: timedelta = DEFAULT_FEED_STALE,
    stream_stale: timedelta = DEFAULT_STREAM_STALE,
    discord_grace: timedelta = DEFAULT_DISCORD_GRACE,
    store_timeout: float = 2.0,
    clock: Callable[[], datetime] = now_utc,
) -> OpsChecks:
    """`engine`: what reads the kills, the engine or a bot process's stream consumer.
    `esi` None: the parts' shared client when ESI is in use (online), else no ESI metrics.
    `pipeline`: the object the engine reports match times and rejections to. `discord`: the
    gateway's state, in bot mode."""
    if esi is None and parts.names is not None:
        esi = parts.context.esi
    caches: dict[str, Callable[[], CacheCounts]] = {}
    if parts.names is not None:
        caches["names"] = parts.names.stats
    if parts.ids is not None:
        caches["ids"] = parts.ids.stats
    return OpsChecks(
        engine=engine.status if isinstance(engine, Engine) else None,
        stream=None if isinstance(engine, Engine) else engine.status,
        discord=discord,
        store=store_ping(parts.database),
        feed_stale=feed_stale,
        stream_stale=stream_stale,
        discord_grace=discord_grace,
        store_timeout=store_timeout,
        outbox=dispatcher,
        sender=sender.status if sender is not None else None,
        esi=esi.status if esi is not None else None,
        caches=caches,
        pipeline=pipeline,
        clock=clock,
        jobs=parts.jobs.status,
    )


def store_ping(database: Database) -> StorePing:
    """One key read from the state table: the connection works and the schema is there."""

    async def ping() -> None:
        async with database.session() as session:
            await StateRepository(session).get(STATUS_KEY)

    return ping


def ops_server(
    host: str, port: int, checks: OpsChecks
) -> AbstractAsyncContextManager[OpsServer | None]:
    """The endpoint on `host`:`port` for the block; port 0 means off (unlike `OpsServer`,
    where 0 picks a free port)."""
    if port == 0:
        return contextlib.nullcontext()
    return OpsServer(host, port, checks)
