"""Build the bundled static universe file from the SDE CSV dumps.

    python -m tools.build_universe [--shared ../shared/data/universe]
                                   [--out engine/enrich/data/universe.msgpack.gz]

Only this script reads the CSVs; the engine ships and loads the single compact file it writes
(see ``engine/enrich/_format.py`` for its shape). Output is deterministic: the same CSVs give
the same bytes, so a rebuild shows up in a diff only when the data changed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterable, Sequence
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

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_SHARED",
    "SOURCE_NOTE",
    "build",
    "main",
    "read_universe",
    "resolve_wormhole_class",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data" / "universe"
DEFAULT_OUT = REPO_ROOT / "engine" / "enrich" / "data" / "universe.msgpack.gz"

SOURCE_NOTE = (
    "CCP static data export (SDE): map (systems, constellations, regions, stargates, wormhole "
    "classes) 2026-01-20, fuzzwork-style dump; types, groups and categories SDE build 3650286 "
    "(2026-10-26); meta groups, factions and NPC corporations from the SDE. EVE Online data "
    "(c) CCP hf."
)

_Row = dict[str, str]
_T = TypeVar("_T")


def _rows(path: Path) -> list[_Row]:
    # Whole files in memory (5 MB at most) keep this simple; csv copes with the quoted names
    # that contain commas (some type names).
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _opt_int(value: str) -> int | None:
    return int(value) if value.strip() else None


def _bool(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, got {value!r}")
    return value == "1"


def _sorted_by_id(rows: list[_Row], key: str) -> list[_Row]:
    rows.sort(key=lambda row: int(row[key]))
    ids = [row[key] for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate {key} values")
    return rows


def _column(rows: Sequence[_Row], key: str, convert: Callable[[str], _T]) -> list[_T]:
    return [convert(row[key]) for row in rows]


def _check_refs(what: str, ids: Iterable[int | None], known: set[int]) -> None:
    missing = sorted({i for i in ids if i is not None and i not in known})
    if missing:
        raise ValueError(f"{what} refers to unknown ids: {missing[:10]} ({len(missing)} in all)")


def _wormhole_classes(rows: list[_Row]) -> dict[int, int]:
    return {int(row["locationID"]): int(row["wormholeClassID"]) for row in rows}


def resolve_wormhole_class(
    classes: dict[int, int], system_id: int, constellation_id: int, region_id: int
) -> int | None:
    # A system's own row wins, then its constellation's, then its region's (SDE inheritance).
    for location in (system_id, constellation_id, region_id):
        found = classes.get(location)
        if found is not None:
            return found
    return None


def read_universe(shared: Path) -> UniverseFile:
    """Read the CSVs under ``shared`` into the file payload, checking cross references."""
    regions = _sorted_by_id(_rows(shared / "regions.csv"), "regionID")
    constellations = _sorted_by_id(_rows(shared / "constellations.csv"), "constellationID")
    systems = _sorted_by_id(_rows(shared / "systems.csv"), "solarSystemID")
    jumps = _rows(shared / "jumps_undirected.csv")
    classes = _wormhole_classes(_rows(shared / "wormhole_classes.csv"))
    types = _sorted_by_id(_rows(shared / "types.csv"), "typeID")
    groups = _sorted_by_id(_rows(shared / "groups.csv"), "groupID")
    categories = _sorted_by_id(_rows(shared / "categories.csv"), "categoryID")
    meta_groups = _sorted_by_id(_rows(shared / "meta_groups.csv"), "metaGroupID")
    factions = _sorted_by_id(_rows(shared / "factions.csv"), "factionID")
    corporations = _sorted_by_id(_rows(shared / "npc_corporations.csv"), "corporationID")

    region_cols = RegionColumns(
        id=_column(regions, "regionID", int), name=_column(regions, "regionName", str)
    )
    constellation_cols = ConstellationColumns(
        id=_column(constellations, "constellationID", int),
        name=_column(constellations, "constellationName", str),
        region_id=_column(constellations, "regionID", int),
    )
    system_ids = _column(systems, "solarSystemID", int)
    system_constellations = _column(systems, "constellationID", int)
    system_regions = _column(systems, "regionID", int)
    system_cols = SystemColumns(
        id=system_ids,
        name=_column(systems, "solarSystemName", str),
        constellation_id=system_constellations,
        region_id=system_regions,
        security=_column(systems, "security", float),
        x=_column(systems, "x", float),
        y=_column(systems, "y", float),
        z=_column(systems, "z", float),
        wormhole_class=[
            resolve_wormhole_class(classes, s, c, r)
            for s, c, r in zip(system_ids, system_constellations, system_regions, strict=True)
        ],
    )

    # Each link once, smaller id first, in a stable order: the file stays deterministic and
    # duplicates (either direction) cannot sneak in.
    pairs = sorted(
        {
            (min(a, b), max(a, b))
            for a, b in (
                (int(row["fromSolarSystemID"]), int(row["toSolarSystemID"])) for row in jumps
            )
        }
    )
    jump_cols = JumpColumns(a=[a for a, _ in pairs], b=[b for _, b in pairs])

    type_cols = TypeColumns(
        id=_column(types, "typeID", int),
        name=_column(types, "typeName", str),
        group_id=_column(types, "groupID", int),
        category_id=_column(types, "categoryID", int),
        meta_group_id=_column(types, "metaGroupID", _opt_int),
        faction_id=_column(types, "factionID", _opt_int),
        published=_column(types, "published", _bool),
    )
    group_cols = GroupColumns(
        id=_column(groups, "groupID", int),
        name=_column(groups, "groupName", str),
        category_id=_column(groups, "categoryID", int),
        published=_column(groups, "published", _bool),
    )
    category_cols = CategoryColumns(
        id=_column(categories, "categoryID", int), name=_column(categories, "categoryName", str)
    )
    meta_group_cols = MetaGroupColumns(
        id=_column(meta_groups, "metaGroupID", int),
        name=_column(meta_groups, "metaGroupName", str),
    )
    faction_cols = FactionColumns(
        id=_column(factions, "factionID", int),
        name=_column(factions, "factionName", str),
        corporation_id=_column(factions, "corporationID", _opt_int),
        militia_corporation_id=_column(factions, "militiaCorporationID", _opt_int),
    )
    corporation_cols = NpcCorporationColumns(
        id=_column(corporations, "corporationID", int),
        name=_column(corporations, "corporationName", str),
        faction_id=_column(corporations, "factionID", _opt_int),
    )

    # A dangling reference would surface at run time as a None in the middle of enrichment;
    # refuse to ship such a file instead.
    known_regions = set(region_cols.id)
    known_systems = set(system_ids)
    known_corporations = set(corporation_cols.id)
    _check_refs("constellations.regionID", constellation_cols.region_id, known_regions)
    _check_refs("systems.constellationID", system_constellations, set(constellation_cols.id))
    _check_refs("systems.regionID", system_regions, known_regions)
    _check_refs("jumps", jump_cols.a + jump_cols.b, known_systems)
    _check_refs("types.groupID", type_cols.group_id, set(group_cols.id))
    _check_refs("groups.categoryID", group_cols.category_id, set(category_cols.id))
    _check_refs("types.metaGroupID", type_cols.meta_group_id, set(meta_group_cols.id))
    # The SDE puts an NPC corporation id in factionID on a few dozen NPC entity types (e.g.
    # 35812 "Amarr Navy Apocalypse" -> 1000084 Amarr Navy); kept as is, so accept either.
    _check_refs("types.factionID", type_cols.faction_id, set(faction_cols.id) | known_corporations)
    _check_refs("factions.corporationID", faction_cols.corporation_id, known_corporations)
    _check_refs(
        "factions.militiaCorporationID",
        faction_cols.militia_corporation_id,
        known_corporations,
    )
    _check_refs("npc_corporations.factionID", corporation_cols.faction_id, set(faction_cols.id))

    return UniverseFile(
        format_version=FORMAT_VERSION,
        source=SOURCE_NOTE,
        systems=system_cols,
        constellations=constellation_cols,
        regions=region_cols,
        jumps=jump_cols,
        types=type_cols,
        groups=group_cols,
        categories=category_cols,
        meta_groups=meta_group_cols,
        factions=faction_cols,
        npc_corporations=corporation_cols,
    )


def build(shared: Path, out: Path) -> UniverseFile:
    """Read ``shared``, write the compressed file to ``out`` and return what was written."""
    payload = read_universe(shared)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(encode_universe(payload))
    tmp.replace(out)  # atomic: a reader never sees a half-written file
    return payload


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.build_universe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--shared", type=Path, default=DEFAULT_SHARED, help="directory with the SDE CSV files"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file to write")
    args = parser.parse_args(argv)
    shared: Path = args.shared
    out: Path = args.out
    if not shared.is_dir():
        parser.error(f"no CSV directory at {shared}")
    try:
        payload = build(shared, out)
    except (OSError, KeyError, ValueError) as exc:
        print(f"build_universe: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {out} ({out.stat().st_size / 1024:.0f} KB, format {payload.format_version}): "
        f"{len(payload.systems)} systems, {len(payload.constellations)} constellations, "
        f"{len(payload.regions)} regions, {len(payload.jumps)} stargate links, "
        f"{len(payload.types)} types, {len(payload.groups)} groups, "
        f"{len(payload.categories)} categories, {len(payload.meta_groups)} meta groups, "
        f"{len(payload.factions)} factions, {len(payload.npc_corporations)} NPC corporations"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
