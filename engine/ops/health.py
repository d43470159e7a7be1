"""`/healthz`: is the feed fresh, and does the store answer?

A live feed is fresh while it keeps showing it is alive: it answered a request (an empty poll
counts: R2Z2 goes quiet at night in some timezones) or handed on a kill within the limit. A
feed that has not answered yet gets the same limit from the engine's start. Feeds that play
history back on purpose (a replay) are not judged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from engine.ops.probes import OpsChecks, StorePing
from engine.sources.status import SourceStatus
from engine.status import EngineStatus

__all__ = [
    "NOT_LIVE",
    "FeedHealth",
    "HealthReport",
    "StoreHealth",
    "check",
    "feed_health",
    "ping_store",
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
class HealthReport:
    ok: bool
    reasons: tuple[str, ...]
    running: bool
    feeds: tuple[FeedHealth, ...]
    store: StoreHealth

    def to_json(self) -> dict[str, Any]:
        return {
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
    status = checks.engine()
    feeds = feed_health(status, checks.clock(), checks.feed_stale)
    reasons: list[str] = []
    if not status.running:
        reasons.append("engine is not running")
    reasons.extend(feed.reason(checks.feed_stale) for feed in feeds if not feed.fresh)
    if not store.ok:
        reasons.append(f"store: {store.error}")
    return HealthReport(not reasons, tuple(reasons), status.running, tuple(feeds), store)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
