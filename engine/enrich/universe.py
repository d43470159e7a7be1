"""The static universe shipped with the package: systems, the stargate graph and item types.

Built from CCP's SDE by ``tools.build_universe`` into ``data/universe.msgpack.gz``; nothing
here reads the CSVs. ``killwatch sde update`` writes a newer one into the data directory,
which :meth:`Universe.load` prefers when given that directory. Load once at start-up
(~130 ms, ~35 MB) and share the instance: it is immutable, so any number of tasks may read it
without locking.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol, TypeVar

from engine.enrich._format import UniverseFile, decode_universe
from engine.enrich.names import NameIndex

__all__ = [
    "BUNDLED_FILE",
    "DATA_DIR_FILE",
    "Category",
    "Constellation",
    "Faction",
    "Group",
    "ItemType",
    "NpcCorporation",
    "Region",
    "SolarSystem",
    "Universe",
]

logger = logging.getLogger(__name__)

BUNDLED_FILE = "data/universe.msgpack.gz"  # relative to the engine.enrich package
DATA_DIR_FILE = "universe.msgpack.gz"  # an updated universe, in the bot's data directory


@dataclass(frozen=True, slots=True)
class SolarSystem:
    """A solar system. ``security`` is the raw SDE value; see ``space.display_security``.

    ``wormhole_class`` is the SDE's wormholeClassID after inheritance (own row, else the
    constellation's, else the region's). It is set for k-space too (7 high, 8 low, 9 null,
    25 Pochven), so use ``space.space_band`` to ask "is this wormhole space?".
    """

    id: int
    name: str
    constellation_id: int
    region_id: int
    security: float
    x: float
    y: float
    z: float
    wormhole_class: int | None


@dataclass(frozen=True, slots=True)
class Constellation:
    id: int
    name: str
    region_id: int


@dataclass(frozen=True, slots=True)
class Region:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ItemType:
    """An inventory type (ship, module, structure, charge...).

    ``faction_id`` is the SDE's factionID as is: on a few NPC entity types it holds an NPC
    corporation id rather than a faction id.
    """

    id: int
    name: str
    group_id: int
    category_id: int
    meta_group_id: int | None
    faction_id: int | None
    published: bool


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    name: str
    category_id: int
    published: bool


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Faction:
    id: int
    name: str
    corporation_id: int | None
    militia_corporation_id: int | None


@dataclass(frozen=True, slots=True)
class NpcCorporation:
    id: int
    name: str
    faction_id: int | None


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Publishable(Protocol):
    @property
    def published(self) -> bool: ...


_P = TypeVar("_P", bound=_Publishable)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC while loading.

    Loading allocates ~150k objects, none in reference cycles; each 700 allocations would
    otherwise start a collection that walks the growing heap for nothing (about a quarter of
    the load time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _name(entry: _Named) -> str:
    return entry.name


def _published(entry: _Publishable) -> bool:
    return entry.published


def _published_first(entries: Iterable[_P]) -> list[_P]:
    entries = list(entries)
    return [e for e in entries if e.published] + [e for e in entries if not e.published]


class Universe:
    """Read-only lookups over the bundled static data. Every lookup misses with None."""

    __slots__ = (
        "_categories",
        "_category_names",
        "_constellation_names",
        "_constellations",
        "_faction_names",
        "_factions",
        "_group_names",
        "_groups",
        "_meta_groups",
        "_neighbours",
        "_npc_corporation_names",
        "_npc_corporations",
        "_region_names",
        "_regions",
        "_system_names",
        "_systems",
        "_type_names",
        "_types",
        "format_version",
        "source",
    )

    def __init__(self, data: UniverseFile) -> None:
        """Build the lookups from a decoded file; :meth:`load` is the usual way in."""
        self.format_version: int = data.format_version
        self.source: str = data.source  # SDE provenance, e.g. for an "about" command

        s = data.systems
        # map() over the columns calls the constructors without building row tuples first;
        # the column lengths were checked when the file was decoded.
        self._systems: dict[int, SolarSystem] = {
            o.id: o
            for o in map(
                SolarSystem,
                s.id,
                s.name,
                s.constellation_id,
                s.region_id,
                s.security,
                s.x,
                s.y,
                s.z,
                s.wormhole_class,
            )
        }
        c = data.constellations
        self._constellations: dict[int, Constellation] = {
            o.id: o for o in map(Constellation, c.id, c.name, c.region_id)
        }
        r = data.regions
        self._regions: dict[int, Region] = {o.id: o for o in map(Region, r.id, r.name)}
        t = data.types
        self._types: dict[int, ItemType] = {
            o.id: o
            for o in map(
                ItemType,
                t.id,
                t.name,
                t.group_id,
                t.category_id,
                t.meta_group_id,
                t.faction_id,
                t.published,
            )
        }
        g = data.groups
        self._groups: dict[int, Group] = {
            o.id: o for o in map(Group, g.id, g.name, g.category_id, g.published)
        }
        k = data.categories
        self._categories: dict[int, Category] = {o.id: o for o in map(Category, k.id, k.name)}
        self._meta_groups: dict[int, str] = dict(
            zip(data.meta_groups.id, data.meta_groups.name, strict=True)
        )
        f = data.factions
        self._factions: dict[int, Faction] = {
            o.id: o for o in map(Faction, f.id, f.name, f.corporation_id, f.militia_corporation_id)
        }
        n = data.npc_corporations
        self._npc_corporations: dict[int, NpcCorporation] = {
            o.id: o for o in map(NpcCorporation, n.id, n.name, n.faction_id)
        }

        adjacency: dict[int, list[int]] = {}
        for a, b in zip(data.jumps.a, data.jumps.b, strict=True):
            adjacency.setdefault(a, []).append(b)
            adjacency.setdefault(b, []).append(a)
        self._neighbours: dict[int, tuple[int, ...]] = {
            system: tuple(sorted(linked)) for system, linked in adjacency.items()
        }

        # Dicts keep the file's order, ascending id, so among equal names the lowest id wins.
        # Types and groups put published entries first: those are the ones people mean.
        self._system_names = NameIndex(self._systems.values(), _name)
        self._constellation_names = NameIndex(self._constellations.values(), _name)
        self._region_names = NameIndex(self._regions.values(), _name)
        self._type_names = NameIndex(_published_first(self._types.values()), _name)
        self._group_names = NameIndex(_published_first(self._groups.values()), _name)
        self._category_names = NameIndex(self._categories.values(), _name)
        self._faction_names = NameIndex(self._factions.values(), _name)
        self._npc_corporation_names = NameIndex(self._npc_corporations.values(), _name)

    @classmethod
    def load(cls, path: Path | None = None, *, data_dir: Path | None = None) -> Universe:
        """Load a universe file; by default the one bundled in the package.

        With ``data_dir``, a ``universe.msgpack.gz`` there (written by ``killwatch sde
        update``) wins over the bundled file; one that cannot be read or is stale (another
        format version, e.g. after an upgrade) is skipped with a warning, so the bot still
        starts. Raises ``OSError`` if ``path`` cannot be read and ``ValueError`` if it is
        corrupt or of another format version.
        """
        if path is None and data_dir is not None:
            updated = data_dir / DATA_DIR_FILE
            if updated.is_file():
                try:
                    return cls._load_blob(updated.read_bytes(), str(updated))
                except (OSError, ValueError) as exc:
                    logger.warning("ignoring %s, using the bundled universe: %s", updated, exc)
        if path is None:
            blob = resources.files("engine.enrich").joinpath(BUNDLED_FILE).read_bytes()
            return cls._load_blob(blob, "bundled file")
        return cls._load_blob(path.read_bytes(), str(path))

    @classmethod
    def _load_blob(cls, blob: bytes, origin: str) -> Universe:
        started = time.perf_counter()
        with _gc_paused():
            universe = cls(decode_universe(blob))
        logger.info(
            "loaded static universe from %s (%d systems, %d types, format %d) in %.0f ms",
            origin,
            len(universe._systems),
            len(universe._types),
            universe.format_version,
            (time.perf_counter() - started) * 1000,
        )
        return universe

    # -- lookups by id ---------------------------------------------------------------------

    def system(self, system_id: int) -> SolarSystem | None:
        return self._systems.get(system_id)

    def constellation(self, constellation_id: int) -> Constellation | None:
        return self._constellations.get(constellation_id)

    def region(self, region_id: int) -> Region | None:
        return self._regions.get(region_id)

    def type(self, type_id: int) -> ItemType | None:
        return self._types.get(type_id)

    def group(self, group_id: int) -> Group | None:
        return self._groups.get(group_id)

    def category(self, category_id: int) -> Category | None:
        return self._categories.get(category_id)

    def meta_group_name(self, meta_group_id: int) -> str | None:
        return self._meta_groups.get(meta_group_id)

    def faction(self, faction_id: int) -> Faction | None:
        return self._factions.get(faction_id)

    def npc_corporation(self, corporation_id: int) -> NpcCorporation | None:
        return self._npc_corporations.get(corporation_id)

    def systems(self) -> Collection[SolarSystem]:
        """Every system, ascending id (a read-only view), e.g. for range queries."""
        return self._systems.values()

    def neighbours(self, system_id: int) -> tuple[int, ...]:
        """Ids of the systems one stargate jump away, ascending; () for none or unknown."""
        return self._neighbours.get(system_id, ())

    # -- exact names (case-insensitive) ----------------------------------------------------

    def find_system(self, name: str) -> SolarSystem | None:
        return self._system_names.find(name)

    def find_constellation(self, name: str) -> Constellation | None:
        return self._constellation_names.find(name)

    def find_region(self, name: str) -> Region | None:
        return self._region_names.find(name)

    def find_type(self, name: str) -> ItemType | None:
        """The type with this name; a published one (then the lowest id) when names repeat."""
        return self._type_names.find(name)

    def find_group(self, name: str) -> Group | None:
        return self._group_names.find(name)

    def find_category(self, name: str) -> Category | None:
        return self._category_names.find(name)

    def find_faction(self, name: str) -> Faction | None:
        return self._faction_names.find(name)

    def find_npc_corporation(self, name: str) -> NpcCorporation | None:
        return self._npc_corporation_names.find(name)

    # -- prefix completion (autocomplete), sorted by name, at most `limit` -----------------

    def complete_systems(self, prefix: str, limit: int = 25) -> tuple[SolarSystem, ...]:
        return self._system_names.complete(prefix, limit)

    def complete_constellations(self, prefix: str, limit: int = 25) -> tuple[Constellation, ...]:
        return self._constellation_names.complete(prefix, limit)

    def complete_regions(self, prefix: str, limit: int = 25) -> tuple[Region, ...]:
        return self._region_names.complete(prefix, limit)

    def complete_types(
        self, prefix: str, limit: int = 25, *, published_only: bool = False
    ) -> tuple[ItemType, ...]:
        """Types by name prefix; ``published_only`` hides NPC and internal types from users."""
        return self._type_names.complete(prefix, limit, _published if published_only else None)

    def complete_groups(
        self, prefix: str, limit: int = 25, *, published_only: bool = False
    ) -> tuple[Group, ...]:
        return self._group_names.complete(prefix, limit, _published if published_only else None)

    def complete_categories(self, prefix: str, limit: int = 25) -> tuple[Category, ...]:
        return self._category_names.complete(prefix, limit)

    def complete_factions(self, prefix: str, limit: int = 25) -> tuple[Faction, ...]:
        return self._faction_names.complete(prefix, limit)

    def complete_npc_corporations(self, prefix: str, limit: int = 25) -> tuple[NpcCorporation, ...]:
        return self._npc_corporation_names.complete(prefix, limit)
