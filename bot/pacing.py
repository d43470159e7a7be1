"""Pacing what the bot sends: one request budget for the whole bot, and cooldowns for pings.

discord.py waits out each route's bucket (per channel) from the `X-RateLimit-*` headers it
reads, but nothing stops a fan-out to 200 channels from going past Discord's global 50
requests per second: :class:`RequestBudget` spaces every request the sender makes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "Cooldowns", "RequestBudget", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RequestBudget:
    """A token bucket: `rate` requests per second, at most `burst` back to back.

    Kept as the time the next request may go (GCRA), so waiters are served in the order
    they asked and a slow waker does not let the ones behind it bunch up: over any second,
    at most `burst - 1 + rate` requests start.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self._interval = 1.0 / rate
        self._slack = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._next = clock() - self._slack  # the "theoretical arrival time" of GCRA
        self.taken = 0
        self.waited = 0.0  # seconds spent waiting, summed over every request

    async def take(self) -> None:
        """Wait until one more request fits the budget."""
        now = self._clock()
        start = max(now, self._next - self._slack)
        self._next = max(self._next, start) + self._interval
        self.taken += 1
        wait = start - now
        if wait > 0:
            self.waited += wait
            await self._sleep(wait)


class Cooldowns:
    """When each (destination, mention) last pinged, so a ping repeats at most once per
    cooldown however many kills a busy subscription matches."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}

    def ready(self, destination: str, mention: str, cooldown: float) -> bool:
        last = self._last.get((destination, mention))
        return last is None or self._clock() - last >= cooldown

    def mark(self, destination: str, mention: str) -> None:
        self._last[(destination, mention)] = self._clock()
