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
