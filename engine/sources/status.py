"""What a feed reports about itself: position, lag inputs, throughput, errors, backoff.

Sources update a mutable `SourceCounters` as they go; anyone asking gets a frozen
`SourceStatus` snapshot, so a status call never sees a half-updated record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = ["SourceCounters", "SourceStatus", "now_utc"]


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    kind: str  # "r2z2", "redisq", "wanderer", ...
    last_position: str | None  # a sequence number or event id, as the feed spells it
    last_kill_time: datetime | None  # killmail_time of the last kill handed on
    last_uploaded_at: datetime | None  # when the feed says it published that kill
    kills: int
    kills_per_minute: float
    errors: dict[str, int] = field(default_factory=dict)  # by kind: timeout, http_429, ...
    backoff_seconds: float = 0.0  # the wait in progress, 0 when healthy
    connected: bool = False
    last_error: str | None = None
    updated_at: datetime | None = None  # wall time of the last change
    # Wall time the feed last answered normally or handed on a kill: how health tells a
    # quiet feed (still answering) from a dead one.
    last_ok_at: datetime | None = None


class SourceCounters:
    """The running tally a source keeps; `snapshot()` freezes it into a `SourceStatus`."""

    def __init__(
        self,
        name: str,
        kind: str,
        clock_wall: Callable[[], datetime] = now_utc,
        *,
        window: timedelta = timedelta(minutes=5),
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self.name = name
        self.kind = kind
        self._wall = clock_wall
        self._window = window
        self._started = clock_wall()
        # (whole second, kills in it): bounded by the window even during a catch-up burst.
        self._buckets: deque[tuple[int, int]] = deque()
        self.last_position: str | None = None
        self.last_kill_time: datetime | None = None
        self.last_uploaded_at: datetime | None = None
        self.kills = 0
        self.errors: dict[str, int] = {}
        self.backoff_seconds = 0.0
        self.connected = False
        self.last_error: str | None = None
        self.updated_at: datetime | None = None
        self.last_ok_at: datetime | None = None

    def kill(
        self,
        position: str | None,
        killmail_time: datetime | None = None,
        uploaded_at: datetime | None = None,
    ) -> None:
        now = self._touch()
        self.last_ok_at = now
        self.kills += 1
        if position is not None:
            self.last_position = position
        if killmail_time is not None:
            self.last_kill_time = killmail_time
        if uploaded_at is not None:
            self.last_uploaded_at = uploaded_at
        second = int(now.timestamp())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + 1)
        else:
            self._buckets.append((second, 1))
        self._prune(now)

    def error(self, kind: str, message: str) -> None:
        self._touch()
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.last_error = f"{kind}: {message}"

    def ok(self) -> None:
        """The feed answered normally: connected, and any backoff is over."""
        self.last_ok_at = self._touch()
        self.connected = True
        self.backoff_seconds = 0.0

    def backing_off(self, seconds: float) -> None:
        self._touch()
        self.connected = False
        self.backoff_seconds = max(0.0, seconds)

    def disconnected(self) -> None:
        self._touch()
        self.connected = False

    def kills_per_minute(self) -> float:
        now = self._wall()
        self._prune(now)
        # Until a whole window has passed, divide by the time actually observed (at least a
        # minute, so the first kill after start does not read as a burst).
        observed = min(self._window, max(timedelta(minutes=1), now - self._started))
        return sum(count for _, count in self._buckets) / (observed / timedelta(minutes=1))

    def snapshot(self) -> SourceStatus:
        return SourceStatus(
            name=self.name,
            kind=self.kind,
            last_position=self.last_position,
            last_kill_time=self.last_kill_time,
            last_uploaded_at=self.last_uploaded_at,
            kills=self.kills,
            kills_per_minute=self.kills_per_minute(),
            errors=dict(self.errors),
            backoff_seconds=self.backoff_seconds,
            connected=self.connected,
            last_error=self.last_error,
            updated_at=self.updated_at,
            last_ok_at=self.last_ok_at,
        )

    def _touch(self) -> datetime:
        now = self._wall()
        self.updated_at = now
        return now

    def _prune(self, now: datetime) -> None:
        horizon = int((now - self._window).timestamp())
        while self._buckets and self._buckets[0][0] <= horizon:
            self._buckets.popleft()
