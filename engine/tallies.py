"""Counting stored killmails for the query commands: pure, no I/O, run off the event loop.

What counts as what (the commands' help and the tests rely on these definitions):

- An entity (character, corporation or alliance) *killed* a killmail when at least one
  attacker is its pilot; it *lost* one when the victim is. Both can hold (an awox).
- ISK destroyed and lost sum the stored value of those kills (no value counts as 0).
- Ships flown: one per attacker of the entity with a ship (ten pilots in Ravens are ten);
  ships lost: the victim's ship.
- Systems, hours of the day and days of the week: once per killmail, in UTC.
- A system's active groups: per alliance (or corporation), the kills it had at least one
  pilot on as an attacker; NPCs are nobody's. Ship classes flown there count every player
  attacker's ship.
- A fight: kills no more than ``gap`` apart, one after another in time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeAlias, TypeVar

from engine.model import Attacker, Killmail, Victim

__all__ = [
    "Classify",
    "EntityCounts",
    "EntityKind",
    "SystemCounts",
    "clusters",
    "involvement",
]

EntityKind: TypeAlias = Literal["character", "corporation", "alliance"]
# A ship type id to its one-word class ("Frigate", "Titan", ...).
Classify: TypeAlias = Callable[[int], str]

_T = TypeVar("_T")


def _is(party: Victim | Attacker, kind: EntityKind, entity_id: int) -> bool:
    if kind == "character":
        return party.character_id == entity_id
    if kind == "corporation":
        return party.corporation_id == entity_id
    return party.alliance_id == entity_id


def involvement(killmail: Killmail, kind: EntityKind, entity_id: int) -> tuple[bool, bool]:
    """(killed, lost): whether the entity was among the attackers, and whether it was the
    victim."""
    killed = any(_is(a, kind, entity_id) for a in killmail.attackers)
    return killed, _is(killmail.victim, kind, entity_id)


@dataclass(slots=True)
class EntityCounts:
    """An entity's kills and losses, one killmail at a time (see the module's definitions)."""

    kind: EntityKind
    entity_id: int
    kills: int = 0
    losses: int = 0
    isk_destroyed: float = 0.0
    isk_lost: float = 0.0
    ships_flown: Counter[int] = field(default_factory=Counter)
    ships_lost: Counter[int] = field(default_factory=Counter)
    classes_flown: Counter[str] = field(default_factory=Counter)
    classes_lost: Counter[str] = field(default_factory=Counter)
    systems: Counter[int] = field(default_factory=Counter)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    by_weekday: list[int] = field(default_factory=lambda: [0] * 7)
    last_seen: datetime | None = None

    def add(self, killmail: Killmail, value: float | None, classify: Classify) -> bool:
        """Count the killmail; False (nothing counted) when the entity is not on it."""
        kind, entity_id = self.kind, self.entity_id
        pilots = [a for a in killmail.attackers if _is(a, kind, entity_id)]
        killed = bool(pilots)
        lost = _is(killmail.victim, kind, entity_id)
        if not (killed or lost):
            return False
        isk = value or 0.0
        if killed:
            self.kills += 1
            self.isk_destroyed += isk
            for ship in (a.ship_type_id for a in pilots if a.ship_type_id is not None):
                self.ships_flown[ship] += 1
                self.classes_flown[classify(ship)] += 1
        if lost:
            ship = killmail.victim.ship_type_id
            self.losses += 1
            self.isk_lost += isk
            self.ships_lost[ship] += 1
            self.classes_lost[classify(ship)] += 1
        when = killmail.time
        self.systems[killmail.solar_system_id] += 1
        self.by_hour[when.hour] += 1
        self.by_weekday[when.weekday()] += 1
        if self.last_seen is None or when > self.last_seen:
            self.last_seen = when
        return True


@dataclass(slots=True)
class SystemCounts:
    """What happened in one place: kills, ISK, who was shooting, which ship classes."""

    kills: int = 0
    isk_destroyed: float = 0.0
    alliances: Counter[int] = field(default_factory=Counter)
    corporations: Counter[int] = field(default_factory=Counter)
    classes_flown: Counter[str] = field(default_factory=Counter)
    classes_lost: Counter[str] = field(default_factory=Counter)
    by_hour: list[int] = field(default_factory=lambda: [0] * 24)

    def add(self, killmail: Killmail, value: float | None, classify: Classify) -> None:
        self.kills += 1
        self.isk_destroyed += value or 0.0
        self.classes_lost[classify(killmail.victim.ship_type_id)] += 1
        self.by_hour[killmail.time.hour] += 1
        alliances: set[int] = set()
        corporations: set[int] = set()
        for attacker in killmail.attackers:
            if attacker.character_id is None:
                continue  # an NPC
            if attacker.alliance_id is not None:
                alliances.add(attacker.alliance_id)
            if attacker.corporation_id is not None:
                corporations.add(attacker.corporation_id)
            if attacker.ship_type_id is not None:
                self.classes_flown[classify(attacker.ship_type_id)] += 1
        self.alliances.update(alliances)
        self.corporations.update(corporations)


def clusters(
    items: Sequence[_T], when: Callable[[_T], datetime], gap: timedelta
) -> list[list[_T]]:
    """``items`` (in time order) split wherever two neighbours are more than ``gap`` apart."""
    found: list[list[_T]] = []
    previous: datetime | None = None
    for item in items:
        moment = when(item)
        if previous is not None and moment < previous:
            raise ValueError("items must be in time order")
        if previous is None or moment - previous > gap:
            found.append([])
        found[-1].append(item)
        previous = moment
    return found
