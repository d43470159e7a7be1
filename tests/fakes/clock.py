"""A clock whose sleeps return at once and move time forward: backoff tests without waiting."""

from __future__ import annotations

import asyncio

from engine.sources.http import Clock


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)
        # Let other tasks (the fake server's handlers) run, as a real sleep would.
        await asyncio.sleep(0)

    @property
    def clock(self) -> Clock:
        return Clock(self.now, self.sleep)
