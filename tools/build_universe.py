"""Build the bundled static universe file from the SDE CSV dumps.

    python -m tools.build_universe [--shared ../shared/data/universe]
                                   [--out engine/enrich/data/universe.msgpack.gz]

Only this script reads the CSVs; the engine ships and loads the single compact file it writes
(see ``engine/enrich/_format.py`` for its shape). Sorting, reference checks and the write are
shared with ``killwatch sde update`` (CCP's JSONL zip) in ``engine/enrich/assemble.py``.
Output is deterministic: the same CSVs give the same bytes, so a rebuild shows up in a diff
only when the data changed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.enrich._format import UniverseFile
from engine.enrich.assemble import (
    MetaGroup,
    UniverseTables,
    assemble_universe,
    resolve_wormhole_class,
    write_universe,
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
    "DEFAULT_OUT",
    "DEFAULT_SHARED",
    "SOURCE_NOTE",
    "build",
    "main",
    "read_tables",
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


def _system(row: _Row, classes: dict[int, int]) -> SolarSystem:
    system_id = int(row["solarSystemID"])
    constellation_id = int(row["constellationID"])
    region_id = int(row["regionID"])
    return SolarSystem(
        id=system_id,
        name=row["solarSystemName"],
        constellation_id=constellation_id,
        region_id=region_id,
        security=float(row["security"]),
        x=float(row["x"]),
        y=float(row["y"]),
        z=float(row["z"]),
        wormhole_class=resolve_wormhole_class(classes, system_id, constellation_id, region_id),
    )


def read_tables(shared: Path) -> UniverseTables:
    """Read the CSVs under ``shared`` into rows; checks happen in ``assemble_universe``."""
    classes = {
        int(row["locationID"]): int(row["wormholeClassID"])
        for row in _rows(shared / "wormhole_classes.csv")
    }
    return UniverseTables(
        regions=[
            Region(int(r["regionID"]), r["regionName"]) for r in _rows(shared / "regions.csv")
        ],
        constellations=[
            Constellation(int(r["constellationID"]), r["constellationName"], int(r["regionID"]))
            for r in _rows(shared / "constellations.csv")
        ],
        systems=[_system(r, classes) for r in _rows(shared / "systems.csv")],
        stargate_links=[
            (int(r["fromSolarSystemID"]), int(r["toSolarSystemID"]))
            for r in _rows(shared / "jumps_undirected.csv")
        ],
        types=[
            ItemType(
                id=int(r["typeID"]),
                name=r["typeName"],
                group_id=int(r["groupID"]),
                category_id=int(r["categoryID"]),
                meta_group_id=_opt_int(r["metaGroupID"]),
                faction_id=_opt_int(r["factionID"]),
                published=_bool(r["published"]),
            )
            for r in _rows(shared / "types.csv")
        ],
        groups=[
            Group(int(r["groupID"]), r["groupName"], int(r["categoryID"]), _bool(r["published"]))
            for r in _rows(shared / "groups.csv")
        ],
        categories=[
            Category(int(r["categoryID"]), r["categoryName"])
            for r in _rows(shared / "categories.csv")
        ],
        meta_groups=[
            MetaGroup(int(r["metaGroupID"]), r["metaGroupName"])
            for r in _rows(shared / "meta_groups.csv")
        ],
        factions=[
            Faction(
                int(r["factionID"]),
                r["factionName"],
                _opt_int(r["corporationID"]),
                _opt_int(r["militiaCorporationID"]),
            )
            for r in _rows(shared / "factions.csv")
        ],
        npc_corporations=[
            NpcCorporation(int(r["corporationID"]), r["corporationName"], _opt_int(r["factionID"]))
            for r in _rows(shared / "npc_corporations.csv")
        ],
    )


def read_universe(shared: Path) -> UniverseFile:
    """Read the CSVs under ``shared`` into the file payload, checking cross references."""
    return assemble_universe(read_tables(shared), SOURCE_NOTE)


def build(shared: Path, out: Path) -> UniverseFile:
    """Read ``shared``, write the compressed file to ``out`` and return what was written."""
    payload = read_universe(shared)
    write_universe(payload, out)  # atomic: a reader never sees a half-written file
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
