"""What the query facade (:mod:`engine.queries`) answers: plain frozen values, and its errors.

Import them from :mod:`engine.queries`, which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.model import EnrichedKill, Place
from engine.tallies import EntityKind

__all__ = [
    "BattleReport",
    "Entity",
    "EntityIntel",
    "Fight",
    "InvalidQuery",
    "QueryError",
    "SystemIntel",
    "Tally",
    "UnknownName",
    "Window",
]


class QueryError(Exception):
    """A query that cannot be answered as asked; ``str()`` says why, fit to show a member."""


class UnknownName(QueryError):
    """A system, region or entity name (or id) that resolves to nothing."""


class InvalidQuery(QueryError):
    """An argument out of range, or arguments that do not go together."""


@dataclass(frozen=True, slots=True)
class Tally:
    """One row of a "most ..." list: a ship, a system, an alliance, a ship class."""

    name: str
    count: int
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Entity:
    kind: EntityKind
    id: int
    name: str  # ``#id`` when no name is known


@dataclass(frozen=True, slots=True)
class Window:
    """The time a result covers: asked ``since``..``until``; kills were read from
    ``scanned_from`` on (later than ``since`` when the scan bound cut the period short)."""

    since: datetime
    until: datetime
    scanned_from: datetime
    stored: int  # kills stored in the scanned part of the window

    @property
    def complete(self) -> bool:
        return self.scanned_from <= self.since


@dataclass(frozen=True, slots=True)
class EntityIntel:
    """An entity's activity in a window (definitions in :mod:`engine.tallies`)."""

    entity: Entity
    window: Window
    kills: int
    losses: int
    isk_destroyed: float
    isk_lost: float
    ships_flown: tuple[Tally, ...]  # by type, most first, at most five
    ships_lost: tuple[Tally, ...]
    classes_flown: tuple[Tally, ...]  # every class, most first
    classes_lost: tuple[Tally, ...]
    systems: tuple[Tally, ...]  # most active first, at most five
    by_hour: tuple[int, ...]  # 24 counts, UTC
    by_weekday: tuple[int, ...]  # 7 counts, Monday first
    last_seen: datetime | None

    @property
    def found(self) -> bool:
        return self.kills + self.losses > 0


@dataclass(frozen=True, slots=True)
class SystemIntel:
    place: Place
    window: Window
    kills: int
    isk_destroyed: float
    recent: tuple[EnrichedKill, ...]  # newest first, at most five
    alliances: tuple[Tally, ...]  # attacking groups by kills they were on, at most five
    corporations: tuple[Tally, ...]
    classes_flown: tuple[Tally, ...]
    classes_lost: tuple[Tally, ...]
    by_hour: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Fight:
    """Kills no more than the gap apart, oldest first: what ``BattleSummary`` takes."""

    kills: tuple[EnrichedKill, ...]
    first: datetime
    last: datetime
    isk_destroyed: float


@dataclass(frozen=True, slots=True)
class BattleReport:
    centre: Place
    systems: tuple[Place, ...]  # the centre, then its neighbours one stargate jump away
    since: datetime
    until: datetime
    fights: tuple[Fight, ...]  # most kills first (then most ISK, then latest)
    complete: bool  # False when more than BATTLE_SCAN kills were in the window
