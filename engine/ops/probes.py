"""What the ops server reads, as protocols and callables.

The ops package imports no store, ESI, delivery or Discord code: whoever starts the server
hands it the engine's `status`, a store ping and whichever parts are running, each read only
when `/healthz` or `/metrics` is asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from engine.ops.pipeline_metrics import PipelineMetrics
from engine.sources.status import now_utc
from engine.status import EngineStatus

__all__ = [
    "DEFAULT_FEED_STALE",
    "CacheCounts",
    "EsiCounts",
    "OpsChecks",
    "Outbox",
    "PostCounts",
    "SenderCounts",
    "StorePing",
]

DEFAULT_FEED_STALE: Final = timedelta(minutes=10)

# A trivial query against the store; raises (or hangs) when the store is unusable.
StorePing = Callable[[], Awaitable[object]]


class PostCounts(Protocol):
    """Posts by outcome since start (`engine.delivery.DeliveryStats`)."""

    @property
    def sent(self) -> int: ...

    @property
    def messages(self) -> int: ...

    @property
    def retries(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def skipped(self) -> int: ...


class Outbox(Protocol):
    """The dispatcher: what it has posted, and what it still owes in memory."""

    @property
    def stats(self) -> PostCounts: ...

    def backlog(self) -> int: ...


class SenderCounts(Protocol):
    """The Discord sender's tally (`bot.sender.SenderStatus`)."""

    @property
    def rate_limited(self) -> int: ...

    @property
    def paced_seconds(self) -> float: ...


class EsiCounts(Protocol):
    """How ESI has been treating us (`engine.esi.client.EsiStatus`)."""

    @property
    def calls(self) -> int: ...

    @property
    def errors(self) -> Mapping[str, int]: ...

    @property
    def breaker(self) -> str: ...

    @property
    def error_limit_remain(self) -> int | None: ...


class CacheCounts(Protocol):
    """A lookup cache (`engine.esi.batching.LookupStats`)."""

    @property
    def cached(self) -> int: ...

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OpsChecks:
    """Everything `/healthz` and `/metrics` read. Only `engine` and `store` are required; a
    part left out (no dispatcher in console mode, no ESI offline) has no metrics.

    `feed_stale`: a live feed that neither answered nor handed on a kill for this long fails
    the health check. `store_timeout`: seconds the store ping may take.
    `caches`: name -> stats, e.g. {"names": resolver.stats}.
    """

    engine: Callable[[], EngineStatus]
    store: StorePing
    feed_stale: timedelta = DEFAULT_FEED_STALE
    store_timeout: float = 2.0
    outbox: Outbox | None = None
    sender: Callable[[], SenderCounts] | None = None
    esi: Callable[[], EsiCounts] | None = None
    caches: Mapping[str, Callable[[], CacheCounts]] = field(default_factory=dict)
    pipeline: PipelineMetrics | None = None
    clock: Callable[[], datetime] = now_utc

    def __post_init__(self) -> None:
        if self.feed_stale <= timedelta(0):
            raise ValueError("feed_stale must be positive")
        if self.store_timeout <= 0:
            raise ValueError("store_timeout must be positive")
