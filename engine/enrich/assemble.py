"""Rows of the static universe -> the universe file, and the one place that file is written.

Both editions of CCP's static data come through here: the CSV dumps (``tools.build_universe``)
and the official SDE JSONL zip (:mod:`engine.enrich.sde`). Each reader only turns its source
into :class:`UniverseTables`; ordering, duplicate and cross-reference checks, serialisation
and the atomic write are shared, so the two paths cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from engine.enrich._format import (
    FORMAT_VERSION,
    CategoryColumns,
    ConstellationColumns,
    FactionColumns,
    GroupColumns,
    JumpColumns,
    MetaGroupColumns,
    NpcCorporationColumns,
    RegionColumns,
    SystemColumns,
    TypeColumns,
    UniverseFile,
    encode_universe,
)
from engine.enrich.universe import (
    Category,
    Constellation,
    Faction,
    Group,
    ItemType,
    NpcCorporation,
    Region,
    SolarSystem,
)

__all__ = [
    "MetaGroup",
    "UniverseTables",
    "assemble_universe",
    "resolve_wormhole_class",
    "write_universe",
]

_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class MetaGroup:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class UniverseTables:
    """Every row of a universe, in any order, as one edition of the SDE gives them.

    ``systems`` carry their wormhole class already inherited (see
    :func:`resolve_wormhole_class`). ``stargate_links`` may list a link in either direction
    and more than once (the SDE has one stargate at each end).
    """

    regions: Sequence[Region]
    constellations: Sequence[Constellation]
    systems: Sequence[SolarSystem]
    stargate_links: Iterable[tuple[int, int]]
    types: Sequence[ItemType]
    groups: Sequence[Group]
    categories: Sequence[Category]
    meta_groups: Sequence[MetaGroup]
    factions: Sequence[Faction]
    npc_corporations: Sequence[NpcCorporation]


def resolve_wormhole_class(
    classes: Mapping[int, int], system_id: int, constellation_id: int, region_id: int
) -> int | None:
    """A system's own class wins, then its constellation's, then its region's (as the SDE says)."""
    for location in (system_id, constellation_id, region_id):
        found = classes.get(location)
        if found is not None:
            return found
    return None


def _by_id(rows: Sequence[_R], what: str, key: Callable[[_R], int]) -> list[_R]:
    ordered = sorted(rows, key=key)
    ids = [key(row) for row in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate {what} ids")
    return ordered


def _check_refs(what: str, ids: Iterable[int | None], known: set[int]) -> None:
    missing = sorted({i for i in ids if i is not None and i not in known})
    if missing:
        raise ValueError(f"{what} refers to unknown ids: {missing[:10]} ({len(missing)} in all)")


def assemble_universe(tables: UniverseTables, source: str) -> UniverseFile:
    """Sort every table by id and check it; raises ``ValueError`` on a duplicate or dangling id.

    The output is deterministic: the same rows, in whatever order, give the same file.
    """
    regions = _by_id(tables.regions, "region", lambda r: r.id)
    constellations = _by_id(tables.constellations, "constellation", lambda c: c.id)
    systems = _by_id(tables.systems, "solar system", lambda s: s.id)
    types = _by_id(tables.types, "type", lambda t: t.id)
    groups = _by_id(tables.groups, "group", lambda g: g.id)
    categories = _by_id(tables.categories, "category", lambda c: c.id)
    meta_groups = _by_id(tables.meta_groups, "meta group", lambda m: m.id)
    factions = _by_id(tables.factions, "faction", lambda f: f.id)
    corporations = _by_id(tables.npc_corporations, "NPC corporation", lambda c: c.id)

    # Each link once, smaller id first, in a stable order: the file stays deterministic and
    # duplicates (either direction) cannot sneak in.
    pairs = sorted({(min(a, b), max(a, b)) for a, b in tables.stargate_links})

    payload = UniverseFile(
        format_version=FORMAT_VERSION,
        source=source,
        systems=SystemColumns(
            id=[s.id for s in systems],
            name=[s.name for s in systems],
            constellation_id=[s.constellation_id for s in systems],
            region_id=[s.region_id for s in systems],
            security=[s.security for s in systems],
            x=[s.x for s in systems],
            y=[s.y for s in systems],
            z=[s.z for s in systems],
            wormhole_class=[s.wormhole_class for s in systems],
        ),
        constellations=ConstellationColumns(
            id=[c.id for c in constellations],
            name=[c.name for c in constellations],
            region_id=[c.region_id for c in constellations],
        ),
        regions=RegionColumns(id=[r.id for r in regions], name=[r.name for r in regions]),
        jumps=JumpColumns(a=[a for a, _ in pairs], b=[b for _, b in pairs]),
        types=TypeColumns(
            id=[t.id for t in types],
            name=[t.name for t in types],
            group_id=[t.group_id for t in types],
            category_id=[t.category_id for t in types],
            meta_group_id=[t.meta_group_id for t in types],
            faction_id=[t.faction_id for t in types],
            published=[t.published for t in types],
        ),
        groups=GroupColumns(
            id=[g.id for g in groups],
            name=[g.name for g in groups],
            category_id=[g.category_id for g in groups],
            published=[g.published for g in groups],
        ),
        categories=CategoryColumns(
            id=[c.id for c in categories], name=[c.name for c in categories]
        ),
        meta_groups=MetaGroupColumns(
            id=[m.id for m in meta_groups], name=[m.name for m in meta_groups]
        ),
        factions=FactionColumns(
            id=[f.id for f in factions],
            name=[f.name for f in factions],
            corporation_id=[f.corporation_id for f in factions],
            militia_corporation_id=[f.militia_corporation_id for f in factions],
        ),
        npc_corporations=NpcCorporationColumns(
            id=[c.id for c in corporations],
            name=[c.name for c in corporations],
            faction_id=[c.faction_id for c in corporations],
        ),
    )
    _check_references(payload)
    return payload


def _check_references(p: UniverseFile) -> None:
    # A dangling reference would surface at run time as a None in the middle of enrichment;
    # refuse to ship such a file instead.
    known_regions = set(p.regions.id)
    known_corporations = set(p.npc_corporations.id)
    known_factions = set(p.factions.id)
    _check_refs("constellations.regionID", p.constellations.region_id, known_regions)
    _check_refs("systems.constellationID", p.systems.constellation_id, set(p.constellations.id))
    _check_refs("systems.regionID", p.systems.region_id, known_regions)
    _check_refs("stargates", p.jumps.a + p.jumps.b, set(p.systems.id))
    _check_refs("types.groupID", p.types.group_id, set(p.groups.id))
    _check_refs("groups.categoryID", p.groups.category_id, set(p.categories.id))
    _check_refs("types.metaGroupID", p.types.meta_group_id, set(p.meta_groups.id))
    # The SDE puts an NPC corporation id in factionID on a few dozen NPC entity types (e.g.
    # 35812 "Amarr Navy Apocalypse" -> 1000084 Amarr Navy); kept as is, so accept either.
    _check_refs("types.factionID", p.types.faction_id, known_factions | known_corporations)
    _check_refs("factions.corporationID", p.factions.corporation_id, known_corporations)
    _check_refs(
        "factions.militiaCorporationID", p.factions.militia_corporation_id, known_corporations
    )
    _check_refs("npc_corporations.factionID", p.npc_corporations.faction_id, known_factions)


def write_universe(payload: UniverseFile, path: Path) -> int:
    """Write ``payload`` to ``path`` atomically and return the file's size in bytes.

    The bytes go to a temporary file in the same directory, are flushed to disk, then
    replace ``path`` in one step: a reader (or a crash) sees the old file or the new one,
    never half of either. On failure the temporary file is removed and ``path`` is untouched.
    """
    blob = encode_universe(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; the universe is public data, readable like its peers.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return len(blob)
