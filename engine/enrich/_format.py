"""The on-disk shape of the bundled universe file (``data/universe.msgpack.gz``).

Shared by ``tools.build_universe`` (writer) and :mod:`engine.enrich.universe` (reader) so the
two can never drift apart. Tables are column-oriented: one list per field, all the same
length. Columns compress far better than rows under gzip (similar values sit together) and
msgspec decodes homogeneous lists in C, which keeps start-up fast.
"""

from __future__ import annotations

import gzip
import zlib

import msgspec

__all__ = [
    "FORMAT_VERSION",
    "CategoryColumns",
    "ConstellationColumns",
    "FactionColumns",
    "FormatHeader",
    "GroupColumns",
    "JumpColumns",
    "MetaGroupColumns",
    "NpcCorporationColumns",
    "RegionColumns",
    "SystemColumns",
    "TypeColumns",
    "UniverseFile",
    "decode_universe",
    "encode_universe",
]

# Bump whenever a field is added, removed or changes meaning; the reader refuses other versions
# rather than guessing, and tools.build_universe regenerates the file.
FORMAT_VERSION = 1


class _Columns(msgspec.Struct, frozen=True):
    """Base for column tables: checks on decode that every column has the same length."""

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in self.__struct_fields__}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{type(self).__name__}: columns differ in length: {lengths}")

    def __len__(self) -> int:
        return len(getattr(self, self.__struct_fields__[0]))


class SystemColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    constellation_id: list[int]
    region_id: list[int]
    security: list[float]
    x: list[float]
    y: list[float]
    z: list[float]
    wormhole_class: list[int | None]


class ConstellationColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    region_id: list[int]


class RegionColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]


class JumpColumns(_Columns, frozen=True):
    """Stargate links, each undirected pair once (``a[i]`` <-> ``b[i]``)."""

    a: list[int]
    b: list[int]


class TypeColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    group_id: list[int]
    category_id: list[int]
    meta_group_id: list[int | None]
    faction_id: list[int | None]
    published: list[bool]


class GroupColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    category_id: list[int]
    published: list[bool]


class CategoryColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]


class MetaGroupColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]


class FactionColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    corporation_id: list[int | None]
    militia_corporation_id: list[int | None]


class NpcCorporationColumns(_Columns, frozen=True):
    id: list[int]
    name: list[str]
    faction_id: list[int | None]


class FormatHeader(msgspec.Struct, frozen=True):
    """Just enough of the file to check its version before decoding the rest."""

    format_version: int


class UniverseFile(msgspec.Struct, frozen=True):
    format_version: int
    source: str
    systems: SystemColumns
    constellations: ConstellationColumns
    regions: RegionColumns
    jumps: JumpColumns
    types: TypeColumns
    groups: GroupColumns
    categories: CategoryColumns
    meta_groups: MetaGroupColumns
    factions: FactionColumns
    npc_corporations: NpcCorporationColumns


_HEADER_DECODER = msgspec.msgpack.Decoder(FormatHeader)
_FILE_DECODER = msgspec.msgpack.Decoder(UniverseFile)
_ENCODER = msgspec.msgpack.Encoder()


def encode_universe(payload: UniverseFile) -> bytes:
    """Serialise and gzip ``payload``; ``mtime=0`` keeps identical input byte-identical."""
    return gzip.compress(_ENCODER.encode(payload), compresslevel=9, mtime=0)


def decode_universe(blob: bytes) -> UniverseFile:
    """Gunzip and decode a universe file.

    Raises ``ValueError`` when the file is not gzip, is corrupt or ragged, and when
    it was written for another format version: checked first, so a stale file gets a message
    naming the fix instead of a schema error about some column.
    """
    try:
        raw = gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:  # bad header, truncated, bad deflate data
        raise ValueError(f"universe file is not valid gzip: {exc}") from exc
    try:
        version = _HEADER_DECODER.decode(raw).format_version
        if version != FORMAT_VERSION:
            raise ValueError(
                f"universe file has format version {version}, this code reads "
                f"{FORMAT_VERSION}; rebuild it with `python -m tools.build_universe`"
            )
        return _FILE_DECODER.decode(raw)
    except msgspec.DecodeError as exc:  # also raised for a failed __post_init__ check
        raise ValueError(f"universe file is corrupt: {exc}") from exc
