"""The bundled static universe: real SDE facts, lookups, names, and the file's freshness."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import msgspec
import pytest

from engine.enrich._format import FORMAT_VERSION, decode_universe, encode_universe
from engine.enrich.names import NameIndex
from engine.enrich.universe import (
    BUNDLED_FILE,
    Category,
    Constellation,
    Faction,
    Group,
    ItemType,
    NpcCorporation,
    Region,
    SolarSystem,
    Universe,
)
from tools.build_universe import DEFAULT_SHARED, read_universe, resolve_wormhole_class

JITA = 30000142
PERIMETER = 30000144
THE_FORGE = 10000002
DELVE = 10000060
KEEPSTAR = 35834


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


def _bundled_bytes() -> bytes:
    return resources.files("engine.enrich").joinpath(BUNDLED_FILE).read_bytes()


# -- systems, map and stargates ---------------------------------------------------------------


def test_jita_is_in_kimotoro_the_forge(universe: Universe) -> None:
    assert universe.system(JITA) == SolarSystem(
        id=JITA,
        name="Jita",
        constellation_id=20000020,
        region_id=THE_FORGE,
        security=0.945913,
        x=-1.29064861735e17,
        y=6.075530691e16,
        z=1.1746922706e17,
        wormhole_class=7,
    )
    assert universe.constellation(20000020) == Constellation(20000020, "Kimotoro", THE_FORGE)
    assert universe.region(THE_FORGE) == Region(THE_FORGE, "The Forge")


def test_jita_neighbours_both_directions(universe: Universe) -> None:
    # Ikuchi and Maurasi are stored as (them, Jita) in the CSV: the graph must be undirected.
    neighbours = universe.neighbours(JITA)
    assert neighbours == (30000138, 30000140, 30000143, PERIMETER, 30000145, 30001363, 30002780)
    names = {universe.system(i).name for i in neighbours}  # type: ignore[union-attr]
    assert names == {
        "Ikuchi",
        "Maurasi",
        "Niyabainen",
        "Perimeter",
        "New Caldari",
        "Sobaseki",
        "Muvolailen",
    }
    assert JITA in universe.neighbours(PERIMETER)


def test_every_stargate_link_is_symmetric(universe: Universe) -> None:
    links = 0
    for system in universe.systems():
        for other in universe.neighbours(system.id):
            assert system.id in universe.neighbours(other)
            links += 1
    assert links == 2 * 6888  # jumps_undirected.csv rows, each seen from both ends


def test_systems_without_gates_have_no_neighbours(universe: Universe) -> None:
    assert universe.neighbours(31000005) == ()  # Thera: wormholes only
    assert universe.neighbours(0) == ()


def test_1dq1a_is_in_delve(universe: Universe) -> None:
    system = universe.find_system("1DQ1-A")
    assert system is not None
    assert system.id == 30004759
    assert system.region_id == DELVE
    assert universe.region(system.region_id) == Region(DELVE, "Delve")
    assert system.security == -0.385782


def test_systems_view_holds_every_system_in_id_order(universe: Universe) -> None:
    ids = [system.id for system in universe.systems()]
    assert len(ids) == 8437
    assert ids == sorted(ids)


# -- wormhole classes (inheritance) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("system_id", "expected"),
    [
        (31000005, 12),  # Thera: no row of its own, constellation 21000324 says 12
        (31000007, 1),  # J105443: inherited from constellation A-C00311 (class 1)
        (31000001, 14),  # Sentinel MZ: own row 14 beats its constellation's 1
        (30000012, 8),  # Asabona: own row 8 (lowsec) beats its constellation's 7
        (JITA, 7),  # k-space has classes too: from constellation Kimotoro
        (30000021, 25),  # Kuharah, Pochven
        (32000001, 19),  # AD001, Abyssal
        (30000326, None),  # WF-1LM: no row anywhere up the chain
    ],
)
def test_wormhole_class_resolved(universe: Universe, system_id: int, expected: int | None) -> None:
    system = universe.system(system_id)
    assert system is not None
    assert system.wormhole_class == expected


def test_wormhole_class_inheritance_order() -> None:
    # No real system inherits from its region alone, so check the rule on its own too.
    classes = {10: 3, 20: 5, 30: 6}
    assert resolve_wormhole_class(classes, 30, 20, 10) == 6
    assert resolve_wormhole_class(classes, 31, 20, 10) == 5
    assert resolve_wormhole_class(classes, 31, 21, 10) == 3
    assert resolve_wormhole_class(classes, 31, 21, 11) is None


# -- types, groups, categories, factions --------------------------------------------------------


def test_keepstar_is_a_structure(universe: Universe) -> None:
    keepstar = universe.type(KEEPSTAR)
    assert keepstar == ItemType(
        id=KEEPSTAR,
        name="Keepstar",
        group_id=1657,
        category_id=65,
        meta_group_id=1,
        faction_id=None,
        published=True,
    )
    assert universe.group(1657) == Group(1657, "Citadel", 65, True)
    assert universe.category(65) == Category(65, "Structure")
    assert universe.meta_group_name(1) == "Tech I"


def test_capsule(universe: Universe) -> None:
    assert universe.group(29) == Group(29, "Capsule", 6, True)
    assert universe.category(6) == Category(6, "Ship")
    capsule = universe.type(670)
    assert capsule is not None
    assert (capsule.name, capsule.group_id, capsule.faction_id) == ("Capsule", 29, 500005)


def test_factions_and_npc_corporations(universe: Universe) -> None:
    assert universe.faction(500001) == Faction(500001, "Caldari State", 1000035, 1000180)
    assert universe.faction(500021) == Faction(500021, "Unknown", None, None)
    assert universe.npc_corporation(1000035) == NpcCorporation(1000035, "Caldari Navy", 500001)
    assert universe.npc_corporation(1000001) == NpcCorporation(1000001, "Doomheim", None)
    assert universe.meta_group_name(4) == "Faction"
    assert universe.meta_group_name(15) == "Abyssal"


def test_unpublished_npc_type_keeps_sde_faction_field(universe: Universe) -> None:
    # The SDE stores a corporation id (Amarr Navy) in factionID here; we keep it as is.
    navy_apoc = universe.type(35812)
    assert navy_apoc is not None
    assert (navy_apoc.name, navy_apoc.faction_id, navy_apoc.published) == (
        "Amarr Navy Apocalypse",
        1000084,
        False,
    )


@pytest.mark.parametrize(
    "lookup",
    [
        "system",
        "constellation",
        "region",
        "type",
        "group",
        "category",
        "meta_group_name",
        "faction",
        "npc_corporation",
    ],
)
# 0 is not unknown everywhere: type, group and category 0 are "#System" in the SDE.
@pytest.mark.parametrize("unknown_id", [-1, 2**31 - 1, 99_999_999_999])
def test_unknown_ids_return_none(universe: Universe, lookup: str, unknown_id: int) -> None:
    assert getattr(universe, lookup)(unknown_id) is None


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Jita", "jita", "JITA", "  jItA "])
def test_find_system_ignores_case_and_surrounding_space(universe: Universe, name: str) -> None:
    system = universe.find_system(name)
    assert system is not None
    assert system.id == JITA


def test_find_each_kind(universe: Universe) -> None:
    assert universe.find_region("the forge") == Region(THE_FORGE, "The Forge")
    assert universe.find_constellation("KIMOTORO") == Constellation(20000020, "Kimotoro", THE_FORGE)
    assert universe.find_type("keepstar") == universe.type(KEEPSTAR)
    assert universe.find_group("citadel") == Group(1657, "Citadel", 65, True)
    assert universe.find_category("structure") == Category(65, "Structure")
    assert universe.find_faction("caldari state") == universe.faction(500001)
    assert universe.find_npc_corporation("caldari navy") == universe.npc_corporation(1000035)


def test_find_is_exact_not_prefix(universe: Universe) -> None:
    assert universe.find_system("Jit") is None
    assert universe.find_system("Jita2") is None
    assert universe.find_type("") is None
    assert universe.find_region("Nowhere") is None


def test_find_type_prefers_published_then_lowest_id(universe: Universe) -> None:
    # 3591 (unpublished) and 27539 (published) are both "Angel Control Tower".
    tower = universe.find_type("angel control tower")
    assert tower is not None
    assert (tower.id, tower.published) == (27539, True)
    capsule = universe.find_type("capsule")
    assert capsule is not None
    assert capsule.id == 670


def test_complete_systems_sorted_and_limited(universe: Universe) -> None:
    names = [s.name for s in universe.complete_systems("ji", limit=3)]
    assert names == ["JI-1UQ", "JI-K5H", "JI-LGM"]
    assert [s.id for s in universe.complete_systems("jita")] == [JITA]
    assert universe.complete_systems("ji", limit=0) == ()
    assert universe.complete_systems("zzzz") == ()


def test_complete_returns_at_most_limit_sorted_by_name(universe: Universe) -> None:
    for limit in (1, 7, 25, 100):
        found = universe.complete_types("cap", limit=limit)
        assert len(found) == limit
        keys = [t.name.casefold() for t in found]
        assert keys == sorted(keys)
        assert all(key.startswith("cap") for key in keys)
    assert len(universe.complete_systems("")) == 25


def test_complete_regions_whole_prefix_range(universe: Universe) -> None:
    assert [r.name for r in universe.complete_regions("THE ")] == [
        "The Bleak Lands",
        "The Citadel",
        "The Forge",
        "The Kalevala Expanse",
        "The Spire",
    ]


def test_complete_types_published_only(universe: Universe) -> None:
    everything = [t.name for t in universe.complete_types("keep", limit=10)]
    assert everything[:2] == ["Keeper Hurricane", "Keeper Rifter"]  # NPC, unpublished
    published = universe.complete_types("keep", limit=10, published_only=True)
    assert [t.id for t in published] == [35834, 36968, 91408, 56207]
    assert all(t.published for t in published)


def test_complete_other_kinds(universe: Universe) -> None:
    assert [c.name for c in universe.complete_constellations("kimo")] == ["Kimotoro"]
    groups = universe.complete_groups("capsule", published_only=True)
    assert [(g.id, g.name) for g in groups] == [
        (29, "Capsule"),
        (109, "Capsule Blueprint"),
        (1082, "Capsuleer Bases"),
    ]
    assert [c.id for c in universe.complete_categories("struct")] == [65, 66]
    assert [f.name for f in universe.complete_factions("caldari")] == ["Caldari State"]
    corporations = universe.complete_npc_corporations("caldari", limit=2)
    assert [c.name for c in corporations] == ["Caldari Business Tribunal", "Caldari Constructions"]


def test_name_index_keeps_given_order_for_equal_names() -> None:
    index = NameIndex([(1, "b"), (2, "A"), (3, "a"), (4, "B")], lambda item: item[1])
    assert index.find("a") == (2, "A")
    assert index.find("B") == (1, "b")
    assert index.complete("", limit=10) == ((2, "A"), (3, "a"), (1, "b"), (4, "B"))
    assert index.complete("a", limit=10, where=lambda item: item[0] != 2) == ((3, "a"),)
    assert len(index) == 4


# -- the file itself -----------------------------------------------------------------------------


def test_bundled_file_counts_match_the_sde() -> None:
    data = decode_universe(_bundled_bytes())
    assert data.format_version == FORMAT_VERSION
    assert "SDE" in data.source
    counts = {
        "systems": 8437,
        "constellations": 1175,
        "regions": 113,
        "jumps": 6888,
        "types": 53289,
        "groups": 1611,
        "categories": 48,
        "meta_groups": 13,
        "factions": 27,
        "npc_corporations": 283,
    }
    assert {name: len(getattr(data, name)) for name in counts} == counts


def test_bundled_file_is_small() -> None:
    assert len(_bundled_bytes()) < 2 * 1024 * 1024


def test_load_from_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "u.msgpack.gz"
    path.write_bytes(_bundled_bytes())
    loaded = Universe.load(path)
    assert loaded.find_system("perimeter") == loaded.system(PERIMETER)
    assert loaded.format_version == FORMAT_VERSION


def test_load_refuses_other_format_version(tmp_path: Path) -> None:
    raw = msgspec.msgpack.decode(gzip.decompress(_bundled_bytes()))
    raw["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.msgpack.gz"
    path.write_bytes(gzip.compress(msgspec.msgpack.encode(raw)))
    with pytest.raises(ValueError, match="format version"):
        Universe.load(path)


@pytest.mark.parametrize("blob", [b"", b"not gzip at all", gzip.compress(b"\x93\x01\x02\x03")])
def test_load_refuses_corrupt_file(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "bad.msgpack.gz"
    path.write_bytes(blob)
    with pytest.raises(ValueError, match="universe file"):
        Universe.load(path)


def test_load_refuses_ragged_columns(tmp_path: Path) -> None:
    raw = msgspec.msgpack.decode(gzip.decompress(_bundled_bytes()))
    raw["systems"]["name"].pop()
    path = tmp_path / "ragged.msgpack.gz"
    path.write_bytes(gzip.compress(msgspec.msgpack.encode(raw)))
    with pytest.raises(ValueError, match="columns differ in length"):
        Universe.load(path)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Universe.load(tmp_path / "absent.msgpack.gz")


@pytest.mark.skipif(
    not DEFAULT_SHARED.is_dir(),
    reason=f"SDE CSVs not found at {DEFAULT_SHARED}; cannot compare the bundled file",
)
def test_bundled_file_matches_fresh_build_from_csv() -> None:
    fresh = read_universe(DEFAULT_SHARED)
    bundled = decode_universe(_bundled_bytes())
    # Struct equality compares every column; name the first differing table for a quick fix.
    for table in fresh.__struct_fields__:
        assert getattr(bundled, table) == getattr(fresh, table), (
            f"{table} is stale: run `python -m tools.build_universe`"
        )
    # Same input, same bytes: the build is deterministic (gzip mtime pinned), and the shipped
    # file is exactly what the shared writer makes of the CSVs today.
    assert encode_universe(fresh) == encode_universe(read_universe(DEFAULT_SHARED))
    assert encode_universe(fresh) == _bundled_bytes()
