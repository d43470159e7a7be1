"""Replay a JSONL file of killmails (the shared fixture format or R2Z2 envelopes).

As fast as possible, or paced by the killmails' own times multiplied by a speed factor, with
long quiet stretches capped so a file spanning years still plays back in a demo.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import orjson

from engine.sources.base import RawKill
from engine.sources.status import SourceCounters, SourceStatus

__all__ = ["ReplaySource", "bundled_sample"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def bundled_sample() -> Path:
    """A small sample of real killmails shipped with the package, for demos with no internet."""
    return Path(str(resources.files("engine.sources") / "data" / "sample.jsonl"))


class ReplaySource:
    def __init__(
        self,
        path: Path,
        *,
        speed: float | None = None,
        max_gap: float = 2.0,
        name: str = "replay",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`speed` None replays as fast as possible; otherwise one second of killmail time
        takes 1/speed seconds, and no wait is longer than `max_gap` seconds."""
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None for as fast as possible)")
        self.name = name
        self._path = path
        self._speed = speed
        self._max_gap = max_gap
        self._sleep = sleep
        self._file: IO[bytes] | None = None
        self._counters = SourceCounters(name, "replay")

    def status(self) -> SourceStatus:
        return self._counters.snapshot()

    async def __aenter__(self) -> Self:
        self._file = self._path.open("rb")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    async def kills(self) -> AsyncIterator[RawKill]:
        if self._file is None:
            raise RuntimeError("ReplaySource.kills() needs `async with` first")
        previous: datetime | None = None
        when: datetime | None = None
        for number, line in enumerate(self._file, start=1):
            line = line.strip()
            if not line:
                continue
            if self._speed is not None:
                when = _killmail_time(line)
                if when is not None and previous is not None:
                    gap = (when - previous).total_seconds() / self._speed
                    await self._sleep(min(max(gap, 0.0), self._max_gap))
                previous = when or previous
            else:
                # Let other tasks run: a big file must not starve the event loop.
                await asyncio.sleep(0)
            self._counters.kill(str(number), when if self._speed is not None else None)
            yield RawKill(self.name, line, f"{self._path.name}:{number}", live=False)


def _killmail_time(line: bytes) -> datetime | None:
    """Only for pacing; a line this cannot read is still handed on for the parser to judge."""
    try:
        data = orjson.loads(line)
        esi = data.get("esi") or data.get("killmail") or data
        return datetime.fromisoformat(esi["killmail_time"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
