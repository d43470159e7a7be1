"""Read CCP's official SDE zip (the JSON Lines edition) into a universe file payload.

CCP publishes the SDE as a zip of ``<dataset>.jsonl`` files, one JSON object a line; integer
keys become a ``_key`` field and translated texts are objects such as ``{"en": "Jita",
"de": ...}`` (https://developers.eveonline.com/docs/services/static-data/). The wormhole class
is a ``wormholeClassID`` field on regions, constellations and systems, inherited downwards.

Lines are decoded one at a time straight from the zip, into structs holding only the fields
used here (msgspec skips the rest, descriptions included), so memory stays bounded by the
universe itself, not by the ~100 MB ``types.jsonl``.
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import msgspec

from engine.enrich._format import UniverseFile
from engine.enrich.assemble import (
    MetaGroup,
    UniverseTables,
    assemble_universe,
    resolve_wormhole_class,
)
from engine.enrich.sde.errors import SdeError
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

__all__ = ["REQUIRED_FILES", "read_sde_archive"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


# Only the fields used here; `_key` (the SDE's id) is `key` in Python.
class _Region(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    wormholeClassID: int | None = None


class _Constellation(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    regionID: int
    wormholeClassID: int | None = None


class _Position(msgspec.Struct, frozen=True):
    x: float
    y: float
    z: float


class _SolarSystem(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    constellationID: int
    regionID: int
    securityStatus: float
    position: _Position
    wormholeClassID: int | None = None


class _Destination(msgspec.Struct, frozen=True):
    solarSystemID: int


class _Stargate(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    solarSystemID: int
    destination: _Destination


class _Type(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    groupID: int
    published: bool = False
    metaGroupID: int | None = None
    factionID: int | None = None


class _Group(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    categoryID: int
    published: bool = False


class _Named(msgspec.Struct, frozen=True):
    """categories.jsonl and metaGroups.jsonl: only the name is used."""

    key: int = msgspec.field(name="_key")
    name: dict[str, str]


class _Faction(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    corporationID: int | None = None
    militiaCorporationID: int | None = None


class _NpcCorporation(msgspec.Struct, frozen=True):
    key: int = msgspec.field(name="_key")
    name: dict[str, str]
    factionID: int | None = None


class _SdeInfo(msgspec.Struct, frozen=True):
    """_sde.jsonl: ``{"_key": "sde", "buildNumber": ..., "releaseDate": ...}``."""

    key: str | int = msgspec.field(name="_key")
    buildNumber: int | None = None
    releaseDate: str | None = None


REGIONS = "mapRegions.jsonl"
CONSTELLATIONS = "mapConstellations.jsonl"
SYSTEMS = "mapSolarSystems.jsonl"
STARGATES = "mapStargates.jsonl"
TYPES = "types.jsonl"
GROUPS = "groups.jsonl"
CATEGORIES = "categories.jsonl"
META_GROUPS = "metaGroups.jsonl"
FACTIONS = "factions.jsonl"
NPC_CORPORATIONS = "npcCorporations.jsonl"
SDE_INFO = "_sde.jsonl"  # build number and date; optional, only for the provenance note

REQUIRED_FILES: tuple[str, ...] = (
    REGIONS,
    CONSTELLATIONS,
    SYSTEMS,
    STARGATES,
    TYPES,
    GROUPS,
    CATEGORIES,
    META_GROUPS,
    FACTIONS,
    NPC_CORPORATIONS,
)


class _Archive:
    """The zip's members by file name, wherever they sit (CCP's are at the root)."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self._zf = zf
        self._members: dict[str, zipfile.ZipInfo] = {}
        # Shallowest first, so a copy in a subfolder never shadows the real one.
        for info in sorted(zf.infolist(), key=lambda i: i.filename.count("/")):
            if not info.is_dir():
                self._members.setdefault(info.filename.rsplit("/", 1)[-1], info)

    def missing(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if name not in self._members]

    def has(self, name: str) -> bool:
        return name in self._members

    def rows(self, name: str, kind: type[_T]) -> Iterator[_T]:
        decoder = msgspec.json.Decoder(kind)
        line_no = 0
        try:
            with self._zf.open(self._members[name]) as fh:
                for line_no, line in enumerate(fh, start=1):  # noqa: B007 - for errors
                    if line.strip():
                        yield decoder.decode(line)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
            raise SdeError(f"{name} line {line_no}: {exc}") from exc
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # bad CRC, cut-off data
            raise SdeError(f"{name} is damaged in the archive: {exc}") from exc


def _english(name: dict[str, str], file: str, key: int) -> str:
    try:
        return name["en"]
    except KeyError:
        raise SdeError(f"{file}: entry {key} has no English name") from None


def _source_note(archive: _Archive) -> str:
    build: int | None = None
    released: str | None = None
    if archive.has(SDE_INFO):
        for info in archive.rows(SDE_INFO, _SdeInfo):
            if info.key == "sde":
                build, released = info.buildNumber, info.releaseDate
    edition = f"build {build}" if build is not None else "build unknown"
    if released:
        edition += f", released {released}"
    return (
        f"CCP static data export (SDE) {edition}, from the official JSONL zip. "
        "EVE Online data (c) CCP hf."
    )


def _tables(archive: _Archive) -> UniverseTables:
    regions = list(archive.rows(REGIONS, _Region))
    constellations = list(archive.rows(CONSTELLATIONS, _Constellation))
    raw_systems = list(archive.rows(SYSTEMS, _SolarSystem))
    classes: dict[int, int] = {}
    for rows in (regions, constellations, raw_systems):
        for row in rows:
            if row.wormholeClassID is not None:
                classes[row.key] = row.wormholeClassID
    systems = [
        SolarSystem(
            id=s.key,
            name=_english(s.name, SYSTEMS, s.key),
            constellation_id=s.constellationID,
            region_id=s.regionID,
            security=s.securityStatus,
            x=s.position.x,
            y=s.position.y,
            z=s.position.z,
            wormhole_class=resolve_wormhole_class(classes, s.key, s.constellationID, s.regionID),
        )
        for s in raw_systems
    ]
    groups = [
        Group(g.key, _english(g.name, GROUPS, g.key), g.categoryID, g.published)
        for g in archive.rows(GROUPS, _Group)
    ]
    # types.jsonl names only the group; the category comes from it, as in the CSV dumps.
    category_of = {g.id: g.category_id for g in groups}
    types: list[ItemType] = []
    for t in archive.rows(TYPES, _Type):
        category = category_of.get(t.groupID)
        if category is None:
            raise SdeError(f"{TYPES}: type {t.key} is in group {t.groupID}, which {GROUPS} lacks")
        types.append(
            ItemType(
                id=t.key,
                name=_english(t.name, TYPES, t.key),
                group_id=t.groupID,
                category_id=category,
                meta_group_id=t.metaGroupID,
                faction_id=t.factionID,
                published=t.published,
            )
        )
    return UniverseTables(
        regions=[Region(r.key, _english(r.name, REGIONS, r.key)) for r in regions],
        constellations=[
            Constellation(c.key, _english(c.name, CONSTELLATIONS, c.key), c.regionID)
            for c in constellations
        ],
        systems=systems,
        stargate_links=[
            (g.solarSystemID, g.destination.solarSystemID)
            for g in archive.rows(STARGATES, _Stargate)
        ],
        types=types,
        groups=groups,
        categories=[
            Category(c.key, _english(c.name, CATEGORIES, c.key))
            for c in archive.rows(CATEGORIES, _Named)
        ],
        meta_groups=[
            MetaGroup(m.key, _english(m.name, META_GROUPS, m.key))
            for m in archive.rows(META_GROUPS, _Named)
        ],
        factions=[
            Faction(
                f.key, _english(f.name, FACTIONS, f.key), f.corporationID, f.militiaCorporationID
            )
            for f in archive.rows(FACTIONS, _Faction)
        ],
        npc_corporations=[
            NpcCorporation(c.key, _english(c.name, NPC_CORPORATIONS, c.key), c.factionID)
            for c in archive.rows(NPC_CORPORATIONS, _NpcCorporation)
        ],
    )


def read_sde_archive(path: Path) -> UniverseFile:
    """Read the SDE JSONL zip at ``path`` into a checked universe payload.

    Raises :class:`SdeError` (naming the file, and the line when there is one) when the
    archive cannot be read, is not a zip or is truncated, lacks one of
    :data:`REQUIRED_FILES`, holds a malformed line, an empty table or a dangling reference.
    """
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise SdeError(f"no such file: {path}") from None
    except OSError as exc:
        raise SdeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SdeError(f"{path} is not a zip archive (or is truncated): {exc}") from None
    with zf:
        archive = _Archive(zf)
        missing = archive.missing(REQUIRED_FILES)
        if missing:
            raise SdeError(
                f"{path} is not the SDE JSONL archive: it lacks {', '.join(missing)}"
            )
        tables = _tables(archive)
        source = _source_note(archive)
    for what, rows in (
        (SYSTEMS, tables.systems),
        (REGIONS, tables.regions),
        (CONSTELLATIONS, tables.constellations),
        (TYPES, tables.types),
        (GROUPS, tables.groups),
        (CATEGORIES, tables.categories),
    ):
        if not rows:
            raise SdeError(f"{what} in {path} has no entries")
    try:
        payload = assemble_universe(tables, source)
    except ValueError as exc:
        raise SdeError(f"{path}: {exc}") from exc
    logger.info(
        "read %s: %d systems, %d stargate links, %d types (%s)",
        path,
        len(payload.systems),
        len(payload.jumps),
        len(payload.types),
        source,
    )
    return payload
