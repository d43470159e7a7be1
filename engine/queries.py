"""The facade the query commands call: recent and top kills, intel on an entity or a system,
battle reports — all read from the local store, nothing asked of zKillboard.

Arguments may be names or ids: systems and regions resolve through the universe, characters,
corporations and alliances through the names the store holds (names ESI gave for the parties
of stored kills), then the entity lookup (ESI ``/universe/ids/``) when one is given; a number
is taken as an id. A name that resolves to nothing raises :class:`UnknownName`, an argument out
of range :class:`InvalidQuery`; both carry a message fit to show (unescaped).

Bounds, so that a query costs the same on a store of a million kills:

- by place, time or value the store's indexes answer (``killmail_time``,
  ``(solar_system_id, killmail_time)``, ``value``);
- a participant's kills come from the participants index (``kill_participants``, see
  :mod:`engine.store.queries`), never older than :data:`ENTITY_WINDOW` for ``recent``; for
  ``intel`` the asked period (at most :data:`MAX_INTEL_PERIOD`), cut to the participant's
  newest :data:`ENTITY_SCAN` kills, so that decoding and counting stay bounded;
  :class:`Window` says whether the period was covered in full;
- a system's intel counts at most :data:`SYSTEM_SCAN` kills, a battle :data:`BATTLE_SCAN`.

Decoding, enriching and counting run in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Final, Literal, Protocol, TypeAlias

import msgspec

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Region, SolarSystem, Universe
from engine.model import EnrichedKill, Killmail
from engine.query_results import (
    BattleReport,
    Entity,
    EntityIntel,
    Fight,
    InvalidQuery,
    QueryError,
    SystemIntel,
    Tally,
    UnknownName,
    Window,
)
from engine.store.database import Database
from engine.store.lookups import NamesRepository
from engine.store.queries import KillBody, KillQueryRepository, NameMatch
from engine.store.repositories import Clock, utc_now
from engine.tallies import EntityCounts, EntityKind, SystemCounts, clusters

__all__ = [
    "BATTLE_SCAN",
    "ENTITY_SCAN",
    "ENTITY_WINDOW",
    "FIGHT_GAP",
    "MAX_BATTLE_HOURS",
    "MAX_INTEL_PERIOD",
    "MAX_LIMIT",
    "MAX_SYSTEM_HOURS",
    "PERIODS",
    "SYSTEM_SCAN",
    "BattleReport",
    "Entity",
    "EntityIntel",
    "EntityKind",
    "EntityLookup",
    "Fight",
    "InvalidQuery",
    "Period",
    "Queries",
    "QueryError",
    "SystemIntel",
    "Tally",
    "UnknownName",
    "Window",
]

log = logging.getLogger(__name__)

Period: TypeAlias = Literal["day", "week", "month"]
PERIODS: Final[Mapping[str, timedelta]] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
}
MAX_LIMIT: Final = 25
ENTITY_WINDOW: Final = timedelta(days=30)
ENTITY_SCAN: Final = 50_000
MAX_INTEL_PERIOD: Final = timedelta(days=90)
SYSTEM_SCAN: Final = 5_000
MAX_SYSTEM_HOURS: Final = 24 * 7
BATTLE_SCAN: Final = 5_000
MAX_BATTLE_HOURS: Final = 24
FIGHT_GAP: Final = timedelta(minutes=20)
TOP: Final = 5  # rows of each "most ..." list
RECENT_IN_SYSTEM: Final = 5
_KINDS: Final[tuple[EntityKind, ...]] = ("character", "corporation", "alliance")

_decode = msgspec.json.Decoder(Killmail)


class EntityLookup(Protocol):
    """Names of characters, corporations and alliances to ids (``engine.esi.names.IdResolver``):
    for each name it knows, keyed by the lower-cased name, ``(category, id)`` candidates."""

    async def lookup(self, names: Sequence[str], /) -> Mapping[str, Sequence[tuple[str, int]]]: ...


class Queries:
    """Read-only questions about stored kills.

    ``names`` gives names the process knows for ids (``NameResolver.known``) beyond those
    stored; ``entities`` resolves names the store has not seen (``IdResolver``); ``clock``
    says what "now" is (tests pin it).
    """

    def __init__(
        self,
        database: Database,
        enricher: Enricher,
        names: Callable[[int], str | None] | None = None,
        *,
        entities: EntityLookup | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._database = database
        self._enricher = enricher
        self._universe: Universe = enricher.types.universe
        self._names = names
        self._entities = entities
        self._clock = clock
        self._regions: dict[int, tuple[int, ...]] | None = None

    # -- the questions ---------------------------------------------------------------------

    async def recent(
        self,
        *,
        system: int | str | None = None,
        region: int | str | None = None,
        entity: int | str | None = None,
        limit: int = 10,
    ) -> list[EnrichedKill]:
        """The newest stored kills, newest first: anywhere, in a system or a region, and/or
        with a character, corporation or alliance on them (within the last
        :data:`ENTITY_WINDOW`)."""
        _check_limit(limit)
        systems = self._place_filter(system, region)
        if entity is None:
            async with self._database.session() as session:
                rows = await KillQueryRepository(session).newest(limit, systems=systems)
            kills = await asyncio.to_thread(self._revive, rows)
        else:
            ids = frozenset(e.id for e in await self._entities_for(entity, None))
            kills = await self._with_participant(ids, systems, limit)
        return await self._named(kills)

    async def top(
        self, period: Period = "week", region: int | str | None = None, limit: int = 10
    ) -> list[EnrichedKill]:
        """The most valuable kills of the last day, week or month, optionally in one region."""
        span = PERIODS.get(period)
        if span is None:
            raise InvalidQuery(f"Unknown period “{period}”: use day, week or month.")
        _check_limit(limit)
        systems = None if region is None else self._region_systems(self._region(region))
        since = self._clock() - span
        async with self._database.session() as session:
            rows = await KillQueryRepository(session).most_valuable(since, limit, systems=systems)
        return await self._named(await asyncio.to_thread(self._revive, rows))

    async def intel(
        self, kind: EntityKind, entity: int | str, period: timedelta = ENTITY_WINDOW
    ) -> EntityIntel:
        """Kills, losses, ISK, favourite ships, systems and hours of a character, corporation
        or alliance over ``period`` (the newest :data:`ENTITY_SCAN` kills of it at most)."""
        if kind not in _KINDS:
            raise InvalidQuery(f"Unknown kind “{kind}”: use character, corporation or alliance.")
        if not timedelta(hours=1) <= period <= MAX_INTEL_PERIOD:
            raise InvalidQuery(f"The period must be between an hour and "
                               f"{MAX_INTEL_PERIOD.days} days.")
        found = await self._entities_for(entity, kind)
        who = found[0]
        until = self._clock()
        since = until - period
        async with self._database.session() as session:
            repo = KillQueryRepository(session)
            # The bound counts the participant's own kills (the index finds them wherever
            # they are), so a quiet pilot's month is covered in full however busy the feed.
            rows = await repo.newest(ENTITY_SCAN, since=since, mentioning=[who.id])
            start = since if len(rows) < ENTITY_SCAN else rows[-1].killmail_time
            stored = await repo.count(start)
        counts = await asyncio.to_thread(self._count_entity, who, rows)
        window = Window(since, until, start, stored)
        return EntityIntel(
            entity=who,
            window=window,
            kills=counts.kills,
            losses=counts.losses,
            isk_destroyed=counts.isk_destroyed,
            isk_lost=counts.isk_lost,
            ships_flown=self._ships(counts.ships_flown),
            ships_lost=self._ships(counts.ships_lost),
            classes_flown=_ranked(counts.classes_flown),
            classes_lost=_ranked(counts.classes_lost),
            systems=tuple(
                Tally(self._enricher.place(system_id).system_name, n, system_id)
                for system_id, n in _top(counts.systems)
            ),
            by_hour=tuple(counts.by_hour),
            by_weekday=tuple(counts.by_weekday),
            last_seen=counts.last_seen,
        )

    async def system_intel(self, system: int | str, hours: int = 24) -> SystemIntel:
        """A system's last ``hours``: kills, ISK, the latest kills, who is shooting there
        (alliances and corporations by kills they were on) and which ship classes."""
        if not 1 <= hours <= MAX_SYSTEM_HOURS:
            raise InvalidQuery(f"Hours must be between 1 and {MAX_SYSTEM_HOURS}.")
        solar = self._system(system)
        until = self._clock()
        since = until - timedelta(hours=hours)
        async with self._database.session() as session:
            repo = KillQueryRepository(session)
            rows = await repo.newest(SYSTEM_SCAN, since=since, systems=[solar.id])
            stored = await repo.count(since, systems=[solar.id])
        start = since if len(rows) < SYSTEM_SCAN else rows[-1].killmail_time
        counts, recent = await asyncio.to_thread(self._count_system, rows)
        named = await self._named(recent)
        groups = set(counts.alliances) | set(counts.corporations)
        names = await self._name_map(groups)
        return SystemIntel(
            place=self._enricher.place(solar.id),
            window=Window(since, until, start, stored),
            kills=counts.kills,
            isk_destroyed=counts.isk_destroyed,
            recent=tuple(named),
            alliances=_named_tallies(counts.alliances, names),
            corporations=_named_tallies(counts.corporations, names),
            classes_flown=_ranked(counts.classes_flown),
            classes_lost=_ranked(counts.classes_lost),
            by_hour=tuple(counts.by_hour),
        )

    async def battle(
        self, system: int | str, hours: int = 2, *, gap: timedelta = FIGHT_GAP
    ) -> BattleReport:
        """Kills of the last ``hours`` in a system and its neighbours, clustered into fights
        (kills no more than ``gap`` apart), the biggest fight first."""
        if not 1 <= hours <= MAX_BATTLE_HOURS:
            raise InvalidQuery(f"Hours must be between 1 and {MAX_BATTLE_HOURS}.")
        centre = self._system(system)
        around = (centre.id, *self._universe.neighbours(centre.id))
        until = self._clock()
        since = until - timedelta(hours=hours)
        async with self._database.session() as session:
            rows = await KillQueryRepository(session).newest(
                BATTLE_SCAN, since=since, systems=around
            )
        kills = await self._named(await asyncio.to_thread(self._revive, list(reversed(rows))))
        fights = [
            Fight(
                tuple(group),
                group[0].killmail.time,
                group[-1].killmail.time,
                sum(k.value or 0.0 for k in group),
            )
            for group in clusters(kills, lambda k: k.killmail.time, gap)
        ]
        fights.sort(key=lambda f: (-len(f.kills), -f.isk_destroyed, -f.last.timestamp()))
        return BattleReport(
            centre=self._enricher.place(centre.id),
            systems=tuple(self._enricher.place(s) for s in around),
            since=since,
            until=until,
            fights=tuple(fights),
            complete=len(rows) < BATTLE_SCAN,
        )

    async def complete_entity(
        self, prefix: str, kind: EntityKind | None = None, limit: int = 25
    ) -> list[str]:
        """Names the store has seen that begin with ``prefix``, for autocomplete."""
        if not prefix.strip():
            return []
        categories = None if kind is None else [kind]
        async with self._database.session() as session:
            found = await KillQueryRepository(session).names_starting(
                prefix, limit, categories=categories
            )
        return list(dict.fromkeys(match.name for match in found))

    # -- names -----------------------------------------------------------------------------

    def _system(self, value: int | str) -> SolarSystem:
        number = _as_id(value)
        if number is not None:
            found = self._universe.system(number)
            if found is None:
                raise UnknownName(f"There is no solar system with id {number}.")
            return found
        name = str(value).strip()
        system = self._universe.find_system(name)
        if system is None:
            close = _close(name, [s.name for s in self._universe.complete_systems(name[:3], 200)])
            raise UnknownName(f"There is no solar system named “{name}”.{close}")
        return system

    def _region(self, value: int | str) -> Region:
        number = _as_id(value)
        if number is not None:
            found = self._universe.region(number)
            if found is None:
                raise UnknownName(f"There is no region with id {number}.")
            return found
        name = str(value).strip()
        region = self._universe.find_region(name)
        if region is None:
            close = _close(name, [r.name for r in self._universe.complete_regions(name[:2], 200)])
            raise UnknownName(f"There is no region named “{name}”.{close}")
        return region

    def _region_systems(self, region: Region) -> tuple[int, ...]:
        if self._regions is None:
            grouped: dict[int, list[int]] = {}
            for system in self._universe.systems():
                grouped.setdefault(system.region_id, []).append(system.id)
            self._regions = {r: tuple(ids) for r, ids in grouped.items()}
        return self._regions.get(region.id, ())

    def _place_filter(
        self, system: int | str | None, region: int | str | None
    ) -> tuple[int, ...] | None:
        if system is not None and region is not None:
            raise InvalidQuery("Give a system or a region, not both.")
        if system is not None:
            return (self._system(system).id,)
        if region is not None:
            return self._region_systems(self._region(region))
        return None

    async def _entities_for(self, value: int | str, kind: EntityKind | None) -> list[Entity]:
        """Who ``value`` names: one entity of ``kind``, or with no kind every entity of that
        name (a number is an id of any kind). Raises :class:`UnknownName`."""
        number = _as_id(value)
        if number is not None:
            names = await self._name_map([number])
            return [Entity(kind or "character", number, names.get(number, f"#{number}"))]
        name = str(value).strip()
        wanted = _KINDS if kind is None else (kind,)
        async with self._database.session() as session:
            stored = await KillQueryRepository(session).names(name)
        found = _stored_entities(stored, wanted)
        if not found and self._entities is not None:
            answer = await self._entities.lookup([name])
            for category, entity_id in answer.get(name.lower(), ()):
                found_kind = category.removesuffix("s")
                for k in wanted:
                    if k == found_kind:
                        found.append(Entity(k, entity_id, name))
        if not found and "corporation" in wanted:
            npc = self._universe.find_npc_corporation(name)
            if npc is not None:
                found.append(Entity("corporation", npc.id, npc.name))
        if not found:
            what = kind or "character, corporation or alliance"
            hint = "" if self._entities is not None else (
                " (only names seen on stored kills are known here: an id works too)"
            )
            raise UnknownName(f"No {what} named “{name}” is known{hint}.")
        return found

    async def _name_map(self, ids: Collection[int]) -> dict[int, str]:
        """Names for ids: stored ones, then those the process knows, then the static data."""
        wanted = set(ids)
        if not wanted:
            return {}
        async with self._database.session() as session:
            found = await NamesRepository(session).get(wanted)
        for entity_id in wanted - found.keys():
            name = self._names(entity_id) if self._names is not None else None
            if name is None:
                npc = self._universe.npc_corporation(entity_id)
                faction = self._universe.faction(entity_id)
                name = npc.name if npc else faction.name if faction else None
            if name is not None:
                found[entity_id] = name
        return found

    async def _named(self, kills: Sequence[EnrichedKill]) -> list[EnrichedKill]:
        """The kills with every party's name that is known (they come back with NPC names
        only: player names are not in the stored body)."""
        ids: set[int] = set()
        for kill in kills:
            for party in (kill.victim_ids, kill.attacker_ids):
                ids.update(party.characters, party.corporations, party.alliances)
        names = await self._name_map(ids)
        return [
            msgspec.structs.replace(kill, names={**names, **kill.names}) if names else kill
            for kill in kills
        ]

    def _ships(self, ships: Counter[int]) -> tuple[Tally, ...]:
        types = self._enricher.types
        return tuple(Tally(types.info(t).name, n, t) for t, n in _top(ships))

    # -- scanning (decoding and counting run in a worker thread) ---------------------------

    async def _with_participant(
        self, ids: frozenset[int], systems: Sequence[int] | None, limit: int
    ) -> list[EnrichedKill]:
        since = self._clock() - ENTITY_WINDOW
        async with self._database.session() as session:
            rows = await KillQueryRepository(session).newest(
                limit, since=since, systems=systems, mentioning=ids
            )
        return await asyncio.to_thread(self._revive, rows)

    def _revive(self, rows: Iterable[KillBody]) -> list[EnrichedKill]:
        """Rows enriched again, in their order."""
        kills: list[EnrichedKill] = []
        for row in rows:
            killmail = _read(row)
            if killmail is None:
                continue
            kill = self._enricher.enrich(killmail)
            if row.value is not None and kill.value != row.value:
                # The stored value is the one kept current (a zKillboard republish).
                kill = msgspec.structs.replace(kill, value=row.value)
            kills.append(kill)
        return kills

    def _classify(self, type_id: int) -> str:
        return self._enricher.types.classify(type_id)[1]

    def _count_entity(self, who: Entity, rows: Iterable[KillBody]) -> EntityCounts:
        counts = EntityCounts(who.kind, who.id)
        for row in rows:
            killmail = _read(row)
            if killmail is not None:
                counts.add(killmail, row.value, self._classify)
        return counts

    def _count_system(self, rows: Sequence[KillBody]) -> tuple[SystemCounts, list[EnrichedKill]]:
        counts = SystemCounts()
        for row in rows:
            killmail = _read(row)
            if killmail is not None:
                counts.add(killmail, row.value, self._classify)
        return counts, self._revive(rows[:RECENT_IN_SYSTEM])


def _read(row: KillBody) -> Killmail | None:
    try:
        return _decode.decode(row.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        log.warning("stored killmail %s could not be read back", row.killmail_id)
        return None


def _stored_entities(stored: Sequence[NameMatch], kinds: Sequence[EntityKind]) -> list[Entity]:
    found: list[Entity] = []
    # A name stored with its category first; one stored without is taken for the kind asked.
    for match in sorted(stored, key=lambda m: (m.category is None, m.entity_id)):
        for kind in kinds:
            if match.category in (kind, None):
                found.append(Entity(kind, match.entity_id, match.name))
                break
    return found


def _as_id(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip()
    # ASCII digits only (int("²") raises), and no more than a 64-bit id column holds: a
    # longer number is taken as a name, which then names nothing.
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    number = int(text)
    return number if number < 2**63 else None


def _close(name: str, candidates: Sequence[str]) -> str:
    by_fold = {c.casefold(): c for c in candidates}
    close = difflib.get_close_matches(name.casefold(), list(by_fold), n=1, cutoff=0.6)
    return f" Did you mean “{by_fold[close[0]]}”?" if close else ""


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"The number of kills must be between 1 and {MAX_LIMIT}.")


def _top(counter: Counter[int]) -> list[tuple[int, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def _ranked(counter: Counter[str]) -> tuple[Tally, ...]:
    return tuple(
        Tally(name, n) for name, n in sorted(counter.items(), key=lambda i: (-i[1], i[0]))
    )


def _named_tallies(counter: Counter[int], names: Mapping[int, str]) -> tuple[Tally, ...]:
    return tuple(Tally(names.get(i, f"#{i}"), n, i) for i, n in _top(counter))
