"""What every kill feed hands the pipeline, and the protocol a feed implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from engine.sources.status import SourceCounters, SourceStatus

__all__ = ["Cursor", "LiveFeed", "RawKill", "Source"]


@dataclass(frozen=True, slots=True)
class Cursor:
    """A feed position to persist (state key -> value) once its kill is safely stored."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RawKill:
    """One unparsed payload, as the feed delivered it."""

    source: str  # the feed's name, for counting and logs
    payload: bytes | str | dict[str, Any]
    where: str  # where it came from (line 12, sequence 900002...), for log lines
    cursor: Cursor | None = None
    # False for history played back on purpose (a replay): the max-age rule, which keeps a
    # feed's backlog from flooding channels after an outage, does not apply to it.
    live: bool = True


class Source(Protocol):
    """A kill feed. Opened with ``async with`` (it owns its connections), then iterated.

    `kills()` ends when the feed is exhausted (a replay file) or never (a live feed); the
    engine cancels it to stop, so a feed must keep no kill half-handed-over at an ``await``.
    """

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def kills(self) -> AsyncIterator[RawKill]: ...

    def status(self) -> SourceStatus:
        """Where the feed is and how it is doing, for `killwatch status` and health checks."""
        ...


class LiveFeed:
    """What every network feed shares: it is opened with ``async with`` and reports status.

    The HTTP session belongs to whoever passed it in, so opening holds nothing; subclasses
    set ``self._counters`` and check ``self._open`` before iterating.
    """

    _counters: SourceCounters
    _open: bool = False

    async def __aenter__(self) -> Self:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        self._counters.disconnected()

    def status(self) -> SourceStatus:
        return self._counters.snapshot()
