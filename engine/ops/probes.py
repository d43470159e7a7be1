"""What the ops server reads, as protocols and callables.

The ops package imports no store, ESI, delivery or Discord code: whoever starts the server
hands it the engine's `status` (or a bot process's stream consumer's), a store ping and whichever
parts are running, each read only when `/healthz` or `/metrics` is asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from engine.ops.pipeline_metrics import PipelineMetrics
from engine.sources.status import now_utc
from engine.status import EngineStatus

__all__ = [
    "DEFAULT_DISCORD_GRACE",
    "DEFAULT_FEED_STALE",
    "DEFAULT_STREAM_STALE",
    "CacheCounts",
    "DiscordLink",
    "EsiCounts",
    "JobCounts",
    "OpsChecks",
    "Outbox",
    "PostCounts",
    "SenderCounts",
    "StorePing",
    "StreamCounts",
]

DEFAULT_FEED_STALE: Final = timedelta(minutes=10)
# discord.py reconnects (and RESUMEs) within seconds; longer means Discord or the network is
# down, or the client gave up.
DEFAULT_DISCORD_GRACE: Final = timedelta(seconds=60)
# A stream read waits at most about a second for new entries, so an idle consumer still reads
# every second or so: this long without a read means Redis is unreachable or the loop is stuck.
DEFAULT_STREAM_STALE: Final = timedelta(seconds=30)

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


class JobCounts(Protocol):
    """One scheduled job (`engine.jobs.JobStatus`)."""

    @property
    def name(self) -> str: ...

    @property
    def succeeded(self) -> int: ...

    @property
    def failed(self) -> int: ...

    @property
    def last_success(self) -> datetime | None: ...


class StreamCounts(Protocol):
    """A scale-out bot process's stream consumer (`engine.scale.consumer.ConsumerStatus`)."""

    @property
    def stream(self) -> str: ...

    @property
    def running(self) -> bool: ...

    @property
    def started_at(self) -> datetime: ...

    @property
    def last_read_at(self) -> datetime | None:
        """The last read from Redis that worked, an empty one included."""
        ...

    @property
    def last_error(self) -> str | None: ...

    @property
    def read(self) -> int: ...

    @property
    def acked(self) -> int: ...

    @property
    def dropped(self) -> Mapping[str, int]:
        """Entries read but not matched, by reason (malformed, trimmed, too_old, repeat)."""
        ...

    @property
    def owed(self) -> int: ...

    @property
    def retries(self) -> int: ...

    @property
    def pending(self) -> int | None:
        """Entries the group was given and has not acknowledged (None: not known yet)."""
        ...

    @property
    def lag(self) -> int | None:
        """Entries in the stream not yet given to the group (None: Redis cannot tell)."""
        ...


@dataclass(frozen=True, slots=True)
class DiscordLink:
    """The bot's gateway connection: up or not, and since when (None: not known)."""

    connected: bool
    since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpsChecks:
    """Everything `/healthz` and `/metrics` read. `store` and one of `engine` (feeds read in
    this process) or `stream` (a scale-out bot process) are required; a part left out (no
    dispatcher in console mode, no ESI offline, no Discord) has no metrics and no check.

    `feed_stale`: a live feed that neither answered nor handed on a kill for this long fails
    the health check; `stream_stale` the same for reads from the stream. `store_timeout`:
    seconds the store ping may take. `discord_grace`: how long the gateway may be down before
    the check fails. `caches`: name -> stats, e.g. {"names": resolver.stats}. `jobs`: the
    scheduled jobs.
    """

    store: StorePing
    engine: Callable[[], EngineStatus] | None = None
    stream: Callable[[], StreamCounts] | None = None
    discord: Callable[[], DiscordLink] | None = None
    feed_stale: timedelta = DEFAULT_FEED_STALE
    store_timeout: float = 2.0
    outbox: Outbox | None = None
    sender: Callable[[], SenderCounts] | None = None
    esi: Callable[[], EsiCounts] | None = None
    caches: Mapping[str, Callable[[], CacheCounts]] = field(default_factory=dict)
    pipeline: PipelineMetrics | None = None
    clock: Callable[[], datetime] = now_utc
    jobs: Callable[[], Sequence[JobCounts]] | None = None
    stream_stale: timedelta = DEFAULT_STREAM_STALE
    discord_grace: timedelta = DEFAULT_DISCORD_GRACE

    def __post_init__(self) -> None:
        if self.engine is None and self.stream is None:
            raise ValueError("an engine or a stream consumer to report on is required")
        if min(self.feed_stale, self.stream_stale, self.discord_grace) <= timedelta(0):
            raise ValueError("feed_stale, stream_stale and discord_grace must be positive")
        if self.store_timeout <= 0:
            raise ValueError("store_timeout must be positive")
