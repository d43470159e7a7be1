"""Plain values the repositories return; nothing here knows about SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["StoredKill"]


@dataclass(frozen=True, slots=True)
class StoredKill:
    """A killmail as the store remembers it: identity, when, where and its ISK value.

    ``killmail_time`` is timezone-aware; the store hands it back in UTC.
    """

    killmail_id: int
    hash: str
    killmail_time: datetime
    solar_system_id: int
    value: float | None
    too_old: bool = False  # stored, but past the notify age when it arrived
    labels: tuple[str, ...] = ()
    points: int | None = None
    source: str | None = None  # the feed that delivered it first
    sequence_id: int | None = None  # its R2Z2 sequence, when it came from R2Z2
