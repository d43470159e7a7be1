"""`/healthz`: is the feed fresh, and does the store answer? In bot mode: is Discord's gateway
connected? In a scale-out bot process: does its stream consumer keep reading?

A live feed is fresh while it keeps showing it is alive: it answered a request (an empty poll
counts: R2Z2 goes quiet at night in some timezones) or handed on a kill within the limit. A
feed that has not answered yet gets the same limit from the engine's start. Feeds that play
history back on purpose (a replay) are not judged. The stream consumer is judged the same way
by its reads from Redis, which come every second or so even when no kill does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from engine.ops.probes import DiscordLink, OpsChecks, StorePing, StreamCounts
from engine.sources.status import SourceStatus
from engine.status import EngineStatus

__all__ = [
    "NOT_LIVE",
    "DiscordHealth",
    "FeedHealth",
    "HealthReport",
    "StoreHealth",
    "StreamHealth",
    "check",
    "discord_health",
    "feed_health",
    "ping_store",
    "stream_health",
]

log = logging.getLogger(__name__)

NOT_LIVE: Final = frozenset({"replay"})  # source kinds that play history back on purpose


@dataclass(frozen=True, slots=True)
class FeedHealth:
    name: str
    kind: str
    fresh: bool
    connected: bool
    silent_seconds: float  # since it last answered or handed on a kill (or since start)
    last_error: str | None

    def reason(self, limit: timedelta) -> str:
        state = "connected" if self.connected else "disconnected"
        text = (
            f"feed {self.name}: no answer and no kill for {_duration(self.silent_seconds)} "
            f"(limit {_duration(limit.total_seconds())}, {state})"
        )
        return text + (f"; last error: {self.last_error}" if self.last_error else "")


@dataclass(frozen=True, slots=True)
class StoreHealth:
    ok: bool
    seconds: float  # how long the ping took (or was given, when it timed out)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StreamHealth:
    stream: str
    running: bool
    fresh: bool
    silent_seconds: float  # since the last read that worked (or since start)
    last_error: str | None

    def reason(self, limit: timedelta) -> str | None:
        if not self.running:
            return f"stream {self.stream}: the consumer is not running"
        if self.fresh:
            return None
        text = (f"stream {self.stream}: no read for {_duration(self.silent_seconds)} "
                f"(limit {_duration(limit.total_seconds())})")
        return text + (f"; last error: {self.last_error}" if self.last_error else "")


@dataclass(frozen=True, slots=True)
class DiscordHealth:
    connected: bool
    ok: bool  # connected, or disconnected for no longer than the grace
    down_seconds: float | None  # None: connected, or down since a time not known

    def reason(self, grace: timedelta) -> str | None:
        if self.ok:
            return None
        down = "" if self.down_seconds is None else f" for {_duration(self.down_seconds)}"
        return f"discord: gateway disconnected{down} (grace {_duration(grace.total_seconds())})"


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    reasons: tuple[str, ...]
    running: bool
    feeds: tuple[FeedHealth, ...]
    store: StoreHealth
    stream: StreamHealth | None = None
    discord: DiscordHealth | None = None

    def to_json(self) -> dict[str, Any]:
        found = {
            "status": "ok" if self.ok else "unavailable",
            "reasons": list(self.reasons),
            "running": self.running,
            "feeds": [
                {
                    "name": feed.name,
                    "kind": feed.kind,
                    "fresh": feed.fresh,
                    "connected": feed.connected,
                    "silent_seconds": round(feed.silent_seconds, 3),
                    "last_error": feed.last_error,
                }
                for feed in self.feeds
            ],
            "store": {
                "ok": self.store.ok,
                "seconds": round(self.store.seconds, 4),
                "error": self.store.error,
            },
        }
        if self.stream is not None:
            found["stream"] = {
                "name": self.stream.stream,
                "running": self.stream.running,
                "fresh": self.stream.fresh,
                "silent_seconds": round(self.stream.silent_seconds, 3),
                "last_error": self.stream.last_error,
            }
        if self.discord is not None:
            found["discord"] = {
                "connected": self.discord.connected,
                "ok": self.discord.ok,
                "down_seconds": (None if self.discord.down_seconds is None
                                 else round(self.discord.down_seconds, 3)),
            }
        return found


def feed_health(status: EngineStatus, now: datetime, limit: timedelta) -> list[FeedHealth]:
    """The live feeds of `status`, each judged fresh or stale at `now`."""
    return [_judge(source, status.started_at, now, limit)
            for source in status.sources if source.kind not in NOT_LIVE]


def _judge(
    source: SourceStatus, started_at: datetime, now: datetime, limit: timedelta
) -> FeedHealth:
    heard = source.last_ok_at or started_at
    silent = now - heard
    return FeedHealth(
        name=source.name,
        kind=source.kind,
        fresh=silent <= limit,
        connected=source.connected,
        silent_seconds=max(0.0, silent.total_seconds()),
        last_error=source.last_error,
    )


def stream_health(status: StreamCounts, now: datetime, limit: timedelta) -> StreamHealth:
    silent = now - (status.last_read_at or status.started_at)
    return StreamHealth(
        stream=status.stream,
        running=status.running,
        fresh=silent <= limit,
        silent_seconds=max(0.0, silent.total_seconds()),
        last_error=status.last_error,
    )


def discord_health(link: DiscordLink, now: datetime, grace: timedelta) -> DiscordHealth:
    if link.connected:
        return DiscordHealth(True, True, None)
    if link.since is None:
        return DiscordHealth(False, False, None)  # down since a time not known: no grace
    down = now - link.since
    return DiscordHealth(False, down <= grace, max(0.0, down.total_seconds()))


async def ping_store(ping: StorePing, within: float) -> StoreHealth:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            await ping()
    except TimeoutError:
        return StoreHealth(False, within, f"no answer within {within:g} s")
    except Exception as exc:
        # Only the type: a driver's message may carry a host or a statement, and /healthz
        # may be reachable by more people than the logs are.
        log.warning("store health check failed", exc_info=True)
        return StoreHealth(False, time.perf_counter() - started, type(exc).__name__)
    return StoreHealth(True, time.perf_counter() - started)


async def check(checks: OpsChecks) -> HealthReport:
    store = await ping_store(checks.store, checks.store_timeout)
    now = checks.clock()
    reasons: list[str] = []
    running = True
    feeds: list[FeedHealth] = []
    if checks.engine is not None:
        status = checks.engine()
        running = status.running
        feeds = feed_health(status, now, checks.feed_stale)
        if not status.running:
            reasons.append("engine is not running")
        reasons.extend(feed.reason(checks.feed_stale) for feed in feeds if not feed.fresh)
    stream: StreamHealth | None = None
    if checks.stream is not None:
        stream = stream_health(checks.stream(), now, checks.stream_stale)
        running = running and stream.running
        reasons.extend(filter(None, [stream.reason(checks.stream_stale)]))
    discord: DiscordHealth | None = None
    if checks.discord is not None:
        discord = discord_health(checks.discord(), now, checks.discord_grace)
        reasons.extend(filter(None, [discord.reason(checks.discord_grace)]))
    if not store.ok:
        reasons.append(f"store: {store.error}")
    return HealthReport(
        not reasons, tuple(reasons), running, tuple(feeds), store, stream, discord
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
