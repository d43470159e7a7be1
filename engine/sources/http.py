"""HTTP etiquette every live feed shares: timeouts, User-Agent, backoff, Retry-After, pacing.

Time goes through a `Clock` so tests drive backoff and rate limits with a fake clock instead
of real sleeps. Nothing here opens a connection: each feed is handed its `aiohttp` session.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata

import aiohttp

__all__ = [
    "Backoff",
    "Clock",
    "HttpTimeouts",
    "RateLimiter",
    "Retryable",
    "describe_error",
    "rate_limited",
    "real_clock",
    "retry_after",
    "user_agent",
]


@dataclass(frozen=True, slots=True)
class Clock:
    """Monotonic seconds and a sleep; `real_clock()` in production, a fake one in tests."""

    now: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]


def real_clock() -> Clock:
    return Clock(time.monotonic, asyncio.sleep)


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    """Every request gets these: one hung request must never stall a feed (a peer lost 48 h)."""

    connect: float = 5.0
    read: float = 15.0

    def request(self) -> aiohttp.ClientTimeout:
        # `total` caps a server that trickles bytes slowly enough to dodge the read timeout.
        return aiohttp.ClientTimeout(
            total=self.connect + self.read, connect=self.connect, sock_read=self.read
        )

    def stream(self) -> aiohttp.ClientTimeout:
        """For a stream that stays open: no total, but silence longer than `read` is a hang."""
        return aiohttp.ClientTimeout(total=None, connect=self.connect, sock_read=self.read)


class Retryable(Exception):
    """A failed request worth trying again: `kind` names it for the error counters (timeout,
    http_429, connection...), `wait` is how long the server asked us to wait, if it did."""

    def __init__(self, kind: str, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.wait = wait


def rate_limited(headers: Mapping[str, str], rand: Callable[[], float]) -> Retryable:
    """A 429: wait as long as Retry-After says, else 10-20 s (zKillboard's advice), jittered
    so that bots limited together do not come back together."""
    return Retryable("http_429", "rate limited", retry_after(headers, 10.0 + 10.0 * rand()))


def user_agent(contact: str | None) -> str:
    """zKillboard refuses blank agents and asks for a way to reach the operator."""
    try:
        version = metadata.version("killwatch")
    except metadata.PackageNotFoundError:
        version = "dev"
    agent = f"Killwatch/{version} (EVE Online killmail bot"
    if contact:
        agent += f"; {contact}"
    return agent + ")"


def retry_after(headers: Mapping[str, str], default: float) -> float:
    """Seconds a server asked us to wait (delta-seconds or an HTTP date), else `default`."""
    raw = headers.get("Retry-After")
    if raw is None:
        return default
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(slots=True)
class Backoff:
    """Exponential delays `first`, 2×, 4× … capped at `cap`, each with ±`jitter` spread.

    Jitter keeps many bots that lost the same server from returning in lockstep.
    """

    first: float = 1.0
    cap: float = 60.0
    factor: float = 2.0
    jitter: float = 0.1
    rand: Callable[[], float] = field(default=random.random, repr=False)
    failures: int = 0
    current: float = 0.0  # the last delay handed out, for status; 0 when healthy

    def next(self) -> float:
        # The exponent stops growing once the cap is reached, so no float ever overflows.
        base = min(self.cap, self.first * self.factor ** min(self.failures, 64))
        self.failures += 1
        spread = base * self.jitter * (2 * self.rand() - 1)
        self.current = max(0.0, min(self.cap, base + spread))
        return self.current

    def reset(self) -> None:
        self.failures = 0
        self.current = 0.0


class RateLimiter:
    """Spaces calls at least 1/`per_second` apart; `None` lifts the cap (benchmarks)."""

    def __init__(self, per_second: float | None, clock: Clock) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive, or None for no limit")
        self._interval = 0.0 if per_second is None else 1.0 / per_second
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self._interval == 0.0:
            return
        async with self._lock:
            now = self._clock.now()
            if self._next > now:
                await self._clock.sleep(self._next - now)
                now = self._clock.now()
            self._next = max(now, self._next) + self._interval


def describe_error(exc: aiohttp.ClientError) -> str:
    """One line without a traceback: what an operator reads to see a feed is unreachable."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "response cut short"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "too many redirects"
    return f"{type(exc).__name__}: {exc}"
