"""ESI etiquette, one small class per rule, each testable on its own.

* `ErrorLimitGate`: ESI allows about 100 error responses a minute per IP, then answers 420 to
  everything. Stop at a floor and wait for the window to reset; a 420 waits for it too.
* `RateLimitBuckets`: newer routes meter requests in token buckets (``X-Ratelimit-Limit:
  150/15m``) and answer 429 with ``Retry-After`` when one is empty.
* `RetryPolicy`: how often one call is tried and how far apart.
* `CircuitBreaker`: after repeated failed calls every call fails at once, at no network cost,
  until a cool-down has passed and a single trial call succeeds.

None of these does I/O. The client asks each how long to wait (or whether to call at all)
before a request and tells each what the response said afterwards. Time comes from a `Clock`,
so tests move it with a fake clock instead of waiting.
"""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.sources.http import Backoff, Clock, retry_after

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "ErrorLimitGate",
    "RateLimitBuckets",
    "RetryPolicy",
    "parse_rate_limit",
]

# ESI's error window is one minute; a 420 without a reset header waits a whole window.
_ERROR_WINDOW = 60.0

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(float(raw.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


class ErrorLimitGate:
    """Tracks ``X-ESI-Error-Limit-Remain`` / ``-Reset`` and holds calls near the limit.

    Once the remainder falls to ``floor`` no call goes out until the window resets: the floor
    leaves room for errors that calls already in flight may still cost, so a burst of bad IDs
    never gets the whole bot locked out. A 420 means we are locked out already and wait too.
    Waits are capped at ``max_wait`` so a bogus header cannot park the client for an hour.
    """

    def __init__(self, clock: Clock, *, floor: int = 10, max_wait: float = 120.0) -> None:
        if floor < 0:
            raise ValueError("floor must not be negative")
        self._clock = clock
        self.floor = floor
        self._max_wait = max_wait
        self.remain: int | None = None
        self._reset_at: float | None = None
        self._blocked_until = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the headers of any response, success or error."""
        remain = _int_header(headers, "X-ESI-Error-Limit-Remain")
        reset = _int_header(headers, "X-ESI-Error-Limit-Reset")
        if reset is not None:
            self._reset_at = self._clock.now() + min(reset, self._max_wait)
        if remain is not None:
            self.remain = remain

    def locked_out(self, headers: Mapping[str, str]) -> None:
        """A 420: nothing goes out until the window resets."""
        self.observe(headers)
        self.remain = 0
        reset = _int_header(headers, "X-ESI-Error-Limit-Reset")
        wait = min(float(reset) if reset is not None else _ERROR_WINDOW, self._max_wait)
        self._blocked_until = max(self._blocked_until, self._clock.now() + wait)
        if self._reset_at is None or self._reset_at < self._blocked_until:
            self._reset_at = self._blocked_until

    def delay(self) -> float:
        """Seconds to wait before the next call; 0 when calling is fine."""
        now = self._clock.now()
        if self._reset_at is not None and now >= self._reset_at:
            # A new window: what we knew about the old one no longer holds.
            self.remain = None
            self._reset_at = None
        wait = max(0.0, self._blocked_until - now)
        if self.remain is not None and self.remain <= self.floor and self._reset_at is not None:
            wait = max(wait, self._reset_at - now)
        return wait

    @property
    def reset_in(self) -> float | None:
        """Seconds until the current window resets, if a response said."""
        if self._reset_at is None:
            return None
        return max(0.0, self._reset_at - self._clock.now())

    async def wait(self) -> float:
        """Sleep until calling is allowed; returns how long that was."""
        waited = 0.0
        # A loop: while this call slept, another response may have moved the reset.
        while (delay := self.delay()) > 0:
            await self._clock.sleep(delay)
            waited += delay
        return waited


def parse_rate_limit(value: str | None) -> tuple[int, float] | None:
    """``"150/15m"`` → ``(150, 900.0)``: tokens per window of seconds; None if unreadable."""
    if value is None:
        return None
    match = _LIMIT.match(value)
    if match is None:
        return None
    tokens = int(match.group(1))
    window = int(match.group(2) or 1) * _UNITS[match.group(3)]
    if tokens <= 0 or window <= 0:
        return None
    return tokens, window


@dataclass(slots=True)
class _Bucket:
    tokens: int | None = None  # the bucket's size
    window: float | None = None  # seconds to refill it completely
    remaining: int | None = None
    observed_at: float = 0.0
    blocked_until: float = 0.0


class RateLimitBuckets:
    """ESI's token buckets (``X-Ratelimit-Group`` / ``-Limit`` / ``-Remaining``, 429).

    Routes share a bucket once ESI names the same group for them; until then a route is its
    own. With a bucket empty (remaining at ``reserve``) the next call waits one token's refill
    time (window / size: 6 s for ``150/15m``) instead of spending a request on a sure 429; a
    429 blocks the bucket for its ``Retry-After`` (capped at ``max_wait``).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        reserve: int = 0,
        default_retry_after: float = 5.0,
        max_wait: float = 900.0,
    ) -> None:
        self._clock = clock
        self._reserve = reserve
        self._default_retry_after = default_retry_after
        self._max_wait = max_wait
        self._group_of: dict[str, str] = {}
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, route: str) -> _Bucket:
        return self._buckets.setdefault(self._group_of.get(route, route), _Bucket())

    def observe(self, route: str, headers: Mapping[str, str]) -> None:
        group = headers.get("X-Ratelimit-Group")
        if group and group.strip():
            self._group_of[route] = group.strip()
        bucket = self._bucket(route)
        limit = parse_rate_limit(headers.get("X-Ratelimit-Limit"))
        if limit is not None:
            bucket.tokens, bucket.window = limit
        remaining = _int_header(headers, "X-Ratelimit-Remaining")
        if remaining is not None:
            bucket.remaining = remaining
            bucket.observed_at = self._clock.now()

    def too_many(self, route: str, headers: Mapping[str, str]) -> float:
        """A 429: block the route's bucket for ``Retry-After`` seconds; returns the wait."""
        self.observe(route, headers)
        wait = min(retry_after(headers, self._default_retry_after), self._max_wait)
        bucket = self._bucket(route)
        bucket.blocked_until = max(bucket.blocked_until, self._clock.now() + wait)
        return wait

    def remaining(self, route: str) -> int | None:
        return self._bucket(route).remaining

    def delay(self, route: str) -> float:
        bucket = self._bucket(route)
        now = self._clock.now()
        wait = max(0.0, bucket.blocked_until - now)
        if (
            bucket.remaining is not None
            and bucket.remaining <= self._reserve
            and bucket.tokens is not None
            and bucket.window is not None
        ):
            refill = min(bucket.window / bucket.tokens, self._max_wait)
            wait = max(wait, bucket.observed_at + refill - now)
        return wait

    async def wait(self, route: str) -> float:
        """Sleep until the route's bucket allows a call; returns how long that was."""
        waited = 0.0
        while (delay := self.delay(route)) > 0:
            await self._clock.sleep(delay)
            waited += delay
            bucket = self._bucket(route)
            if bucket.remaining is not None and bucket.remaining <= self._reserve:
                # A token has refilled while we slept; the next response tells the truth.
                bucket.remaining = self._reserve + 1
        return waited


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often one call is tried (5xx, timeouts, broken bodies, 420/429) and how far apart."""

    attempts: int = 3
    first_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.1
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def backoff(self) -> Backoff:
        """A fresh schedule for one call: concurrent calls must not share their delays."""
        return Backoff(
            first=self.first_delay, cap=self.max_delay, jitter=self.jitter, rand=self.rand
        )


class BreakerState(enum.Enum):
    CLOSED = "closed"  # calls go out
    OPEN = "open"  # calls fail at once
    HALF_OPEN = "half_open"  # the cool-down has passed: one trial call may go out


class CircuitBreaker:
    """Stops calling a service that keeps failing, so a down ESI costs nothing per kill.

    Closed: calls go through; ``threshold`` failed calls in a row open it. Open: every call is
    refused at once. After ``cool_down`` seconds it lets a single trial call through
    (half-open) and still refuses the rest; the trial's success closes it, its failure opens
    it for another cool-down.
    """

    def __init__(self, clock: Clock, *, threshold: int = 5, cool_down: float = 30.0) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self._clock = clock
        self.threshold = threshold
        self.cool_down = cool_down
        self.consecutive_failures = 0
        self.opened = 0  # how many times it opened, for status
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._trial_in_flight or self._clock.now() - self._opened_at >= self.cool_down:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_in(self) -> float:
        """Seconds until a trial call will be let through (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cool_down - self._clock.now())

    def admit(self) -> bool | None:
        """May a call go out? None: refused; False: yes, a normal call; True: yes, the trial."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return None

    def success(self) -> None:
        """The service answered (even a 404 proves it is up)."""
        self.consecutive_failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def failure(self) -> None:
        self.consecutive_failures += 1
        if self._trial_in_flight or (
            self._opened_at is None and self.consecutive_failures >= self.threshold
        ):
            self.opened += 1
            self._opened_at = self._clock.now()
        self._trial_in_flight = False

    def abandon_trial(self) -> None:
        """The trial ended without a verdict (cancelled, throttled): the next call may try."""
        self._trial_in_flight = False
