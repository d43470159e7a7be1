"""The query facade on recorded kills stored with their bodies (SQLite).

Every expected answer is computed here from the recorded ESI JSON (`Placed.esi`) and the
recorded zKillboard value, not through the engine's structs or counting code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import engine.queries
from engine.enrich.enricher import Enricher
from engine.queries import InvalidQuery, Queries, UnknownName
from engine.store.database import Database
from tests.engine.query_support import (
    NOW,
    Placed,
    migrated,
    place,
    store,
    store_names,
    universe,
)

COUNT = 120
STEP = timedelta(minutes=331)  # 120 kills over about 27.5 days
ALLIANCE = 1182801433  # on 17 of the first 150 recorded kills
CHARACTER = 780702065  # on 56
ALLIANCE_NAME = "Black Rise Irregulars"
CHARACTER_NAME = "Some Pilot"


class Lookup:
    """The ESI names-to-ids lookup, answering one name."""

    def __init__(self, table: Mapping[str, Sequence[tuple[str, int]]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def lookup(self, names: Sequence[str]) -> Mapping[str, Sequence[tuple[str, int]]]:
        self.asked += names
        return {n.lower(): self.table[n.lower()] for n in names if n.lower() in self.table}


@dataclass
class World:
    database: Database
    queries: Queries
    kills: list[Placed]
    lookup: Lookup


def spread() -> list[Placed]:
    # A second apart more per kill, so no two share a time.
    return [place(i, NOW - i * STEP - timedelta(seconds=i)) for i in range(COUNT)]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with migrated(tmp_path) as database:
        kills = spread()
        await store(database, kills)
        await store_names(database, {
            ALLIANCE: (ALLIANCE_NAME, "alliance"),
            CHARACTER: (CHARACTER_NAME, "character"),
        })
        lookup = Lookup({"goons": [("alliances", ALLIANCE)]})
        queries = Queries(database, Enricher(universe()), entities=lookup, clock=lambda: NOW)
        yield World(database, queries, kills, lookup)


# --- independent expectations from the recorded JSON ---------------------------------------


def _ids(party: Mapping[str, Any]) -> set[int]:
    return {party[k] for k in ("character_id", "corporation_id", "alliance_id") if k in party}


def _mentions(p: Placed, entity_id: int) -> bool:
    return any(entity_id in _ids(party) for party in [p.esi["victim"], *p.esi["attackers"]])


def _newest(kills: Iterable[Placed]) -> list[int]:
    return [p.id for p in sorted(kills, key=lambda p: (p.time, p.id), reverse=True)]


def _top(counter: Counter[Any], n: int = 5) -> list[tuple[Any, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:n]


# --- recent ----------------------------------------------------------------------------------


async def test_recent_kills_are_the_newest_stored_newest_first(world: World) -> None:
    kills = await world.queries.recent(limit=10)
    assert [k.id for k in kills] == _newest(world.kills)[:10]


async def test_recent_kills_in_a_system_by_name_or_id(world: World) -> None:
    kehjari = universe().find_system("Kehjari")
    assert kehjari is not None
    expected = _newest(p for p in world.kills if p.system == kehjari.id)
    assert len(expected) > 10
    by_name = await world.queries.recent(system="kehjari", limit=10)
    assert [k.id for k in by_name] == expected[:10]
    by_id = await world.queries.recent(system=kehjari.id, limit=25)
    assert [k.id for k in by_id] == expected[:25]
    assert {k.place.system_name for k in by_id} == {"Kehjari"}


async def test_recent_kills_in_a_region_cover_all_its_systems(world: World) -> None:
    u = universe()
    black_rise = u.find_region("Black Rise")
    assert black_rise is not None
    expected = _newest(
        p for p in world.kills if (s := u.system(p.system)) and s.region_id == black_rise.id
    )
    kills = await world.queries.recent(region="Black Rise", limit=25)
    assert [k.id for k in kills] == expected[:25]
    assert len({k.place.system_id for k in kills}) > 1


async def test_recent_kills_of_an_entity_by_stored_name_or_id(world: World) -> None:
    expected = _newest(p for p in world.kills if _mentions(p, ALLIANCE))
    assert len(expected) > 10
    by_name = await world.queries.recent(entity=ALLIANCE_NAME.upper(), limit=10)
    assert [k.id for k in by_name] == expected[:10]
    by_id = await world.queries.recent(entity=str(ALLIANCE), limit=25)
    assert [k.id for k in by_id] == expected[:25]
    assert world.lookup.asked == []  # the store knew the name: ESI is not asked


async def test_recent_kills_of_an_entity_within_a_system(world: World) -> None:
    kehjari = universe().find_system("Kehjari")
    assert kehjari is not None
    expected = _newest(
        p for p in world.kills if p.system == kehjari.id and _mentions(p, CHARACTER)
    )
    assert expected
    kills = await world.queries.recent(system="Kehjari", entity=CHARACTER, limit=25)
    assert [k.id for k in kills] == expected[:25]


async def test_a_number_found_elsewhere_in_a_body_is_no_participant(world: World) -> None:
    # A ship type id also sits after `_id":` in the body; only who took part is indexed.
    ship = world.kills[0].killmail.victim.ship_type_id
    assert not any(_mentions(p, ship) for p in world.kills)
    assert await world.queries.recent(entity=str(ship)) == []


async def test_kills_come_back_with_the_stored_names_of_their_parties(world: World) -> None:
    (kill,) = await world.queries.recent(entity=ALLIANCE, limit=1)
    assert kill.names[ALLIANCE] == ALLIANCE_NAME


async def test_recent_refuses_unknown_places_and_says_what_was_meant(world: World) -> None:
    with pytest.raises(UnknownName, match="Did you mean “Jita”"):
        await world.queries.recent(system="Jitaa")
    with pytest.raises(UnknownName, match="no region named “Nowhere”"):
        await world.queries.recent(region="Nowhere")
    with pytest.raises(UnknownName, match="id 123"):
        await world.queries.recent(system=123)
    with pytest.raises(InvalidQuery, match="not both"):
        await world.queries.recent(system="Jita", region="The Forge")
    with pytest.raises(InvalidQuery):
        await world.queries.recent(limit=26)


async def test_an_unknown_entity_asks_the_lookup_then_says_none_is_known(world: World) -> None:
    with pytest.raises(UnknownName, match="No character, corporation or alliance named “Zz”"):
        await world.queries.recent(entity="Zz")
    assert world.lookup.asked == ["Zz"]


# --- top -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("period", "days"), [("day", 1), ("week", 7), ("month", 30)])
async def test_top_kills_are_the_most_valuable_of_the_period(
    world: World, period: engine.queries.Period, days: int
) -> None:
    since = NOW - timedelta(days=days)
    inside = [p for p in world.kills if p.time >= since and p.value is not None]
    expected = [p.id for p in sorted(inside, key=lambda p: (p.value, p.time), reverse=True)]
    kills = await world.queries.top(period, limit=10)
    assert [k.id for k in kills] == expected[:10]
    assert [k.value for k in kills] == sorted((k.value for k in kills), reverse=True)


async def test_top_kills_in_a_region(world: World) -> None:
    u = universe()
    region = u.find_region("Black Rise")
    assert region is not None
    inside = [
        p for p in world.kills
        if p.value is not None and (s := u.system(p.system)) and s.region_id == region.id
    ]
    expected = [p.id for p in sorted(inside, key=lambda p: (p.value, p.time), reverse=True)]
    kills = await world.queries.top("month", "Black Rise", limit=5)
    assert [k.id for k in kills] == expected[:5]


async def test_top_refuses_an_unknown_period(world: World) -> None:
    with pytest.raises(InvalidQuery, match="day, week or month"):
        await world.queries.top("year")  # type: ignore[arg-type]


# --- intel -----------------------------------------------------------------------------------


def _expected_intel(kills: Sequence[Placed], alliance: int) -> dict[str, Any]:
    def mine(party: Mapping[str, Any]) -> bool:
        return party.get("alliance_id") == alliance

    killed = [p for p in kills if any(mine(a) for a in p.esi["attackers"])]
    lost = [p for p in kills if mine(p.esi["victim"])]
    seen = {p.id: p for p in [*killed, *lost]}.values()
    flown: Counter[int] = Counter(
        a["ship_type_id"] for p in killed for a in p.esi["attackers"]
        if mine(a) and "ship_type_id" in a
    )
    return {
        "kills": len(killed),
        "losses": len(lost),
        "isk_destroyed": sum(p.value or 0.0 for p in killed),
        "isk_lost": sum(p.value or 0.0 for p in lost),
        "ships_flown": _top(flown),
        "ships_lost": _top(Counter(p.esi["victim"]["ship_type_id"] for p in lost)),
        "systems": _top(Counter(p.system for p in seen)),
        "by_hour": tuple(sum(1 for p in seen if p.time.hour == h) for h in range(24)),
        "by_weekday": tuple(sum(1 for p in seen if p.time.weekday() == d) for d in range(7)),
        "last_seen": max(p.time for p in seen),
    }


def _actual_intel(intel: engine.queries.EntityIntel) -> dict[str, Any]:
    return {
        "kills": intel.kills,
        "losses": intel.losses,
        "isk_destroyed": pytest.approx(intel.isk_destroyed),
        "isk_lost": pytest.approx(intel.isk_lost),
        "ships_flown": [(t.id, t.count) for t in intel.ships_flown],
        "ships_lost": [(t.id, t.count) for t in intel.ships_lost],
        "systems": [(t.id, t.count) for t in intel.systems],
        "by_hour": intel.by_hour,
        "by_weekday": intel.by_weekday,
        "last_seen": intel.last_seen,
    }


async def test_intel_on_an_alliance_counts_its_kills_losses_ships_places_and_times(
    world: World,
) -> None:
    intel = await world.queries.intel("alliance", ALLIANCE_NAME, timedelta(days=30))
    expected = _expected_intel(world.kills, ALLIANCE)
    assert expected["kills"] > 0
    assert expected["losses"] > 0
    assert _actual_intel(intel) == expected
    assert intel.entity == engine.queries.Entity("alliance", ALLIANCE, ALLIANCE_NAME)
    u = universe()
    assert [t.name for t in intel.ships_flown] == [
        u.type(t.id).name for t in intel.ships_flown if t.id is not None  # type: ignore[union-attr]
    ]
    assert intel.window.complete
    assert intel.window.stored == COUNT
    flown = sum(t.count for t in intel.classes_flown)
    assert flown == sum(
        1 for p in world.kills for a in p.esi["attackers"]
        if a.get("alliance_id") == ALLIANCE and "ship_type_id" in a
    )
    assert sum(t.count for t in intel.classes_lost) == expected["losses"]


async def test_intel_counts_only_the_period_asked(world: World) -> None:
    intel = await world.queries.intel("character", str(CHARACTER), timedelta(days=10))
    inside = [p for p in world.kills if p.time >= NOW - timedelta(days=10)]
    killed = [p for p in inside
              if any(a.get("character_id") == CHARACTER for a in p.esi["attackers"])]
    lost = [p for p in inside if p.esi["victim"].get("character_id") == CHARACTER]
    assert (intel.kills, intel.losses) == (len(killed), len(lost))
    assert intel.kills < sum(1 for p in world.kills if _mentions(p, CHARACTER))
    assert intel.entity.name == CHARACTER_NAME
    assert intel.window.stored == len(inside)


def _involving(kills: Sequence[Placed], alliance: int) -> list[Placed]:
    """Newest first, the kills someone of `alliance` was on."""
    def on(party: Mapping[str, Any]) -> bool:
        return party.get("alliance_id") == alliance

    return sorted(
        (p for p in kills if on(p.esi["victim"]) or any(on(a) for a in p.esi["attackers"])),
        key=lambda p: (p.time, p.id),
        reverse=True,
    )


async def test_intel_reads_at_most_the_scan_bound_of_its_own_kills_and_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = _involving(world.kills, ALLIANCE)
    bound = len(theirs) - 3
    monkeypatch.setattr(engine.queries, "ENTITY_SCAN", bound)
    intel = await world.queries.intel("alliance", ALLIANCE, timedelta(days=30))
    newest = theirs[:bound]
    assert not intel.window.complete
    assert intel.window.scanned_from == newest[-1].time
    assert intel.window.stored == sum(p.time >= newest[-1].time for p in world.kills)
    assert _actual_intel(intel) == _expected_intel(newest, ALLIANCE)


async def test_intel_on_a_quiet_alliance_covers_its_whole_period_however_busy_the_feed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = _involving(world.kills, ALLIANCE)
    # Fewer kills in all than the store holds after the alliance's oldest kill.
    monkeypatch.setattr(engine.queries, "ENTITY_SCAN", len(theirs) + 1)
    assert sum(p.time >= theirs[-1].time for p in world.kills) > len(theirs) + 1
    intel = await world.queries.intel("alliance", ALLIANCE, timedelta(days=30))
    assert intel.window.complete
    assert _actual_intel(intel) == _expected_intel(theirs, ALLIANCE)


async def test_intel_resolves_a_name_the_store_never_saw_through_the_lookup(
    world: World,
) -> None:
    intel = await world.queries.intel("alliance", "Goons")
    assert intel.entity.id == ALLIANCE
    assert world.lookup.asked == ["Goons"]
    # The lookup says alliance: it is no corporation.
    with pytest.raises(UnknownName, match="No corporation named “Goons”"):
        await world.queries.intel("corporation", "Goons")


async def test_intel_on_a_name_stored_for_another_kind_is_unknown(world: World) -> None:
    with pytest.raises(UnknownName, match=f"No character named “{ALLIANCE_NAME}”"):
        await world.queries.intel("character", ALLIANCE_NAME)


async def test_intel_on_someone_absent_from_the_period_finds_nothing(world: World) -> None:
    intel = await world.queries.intel("character", "12345")
    assert not intel.found
    assert (intel.kills, intel.losses, intel.last_seen) == (0, 0, None)
    assert intel.by_hour == (0,) * 24
    with pytest.raises(InvalidQuery):
        await world.queries.intel("character", "12345", timedelta(days=91))


# --- a system ------------------------------------------------------------------------------


async def test_system_intel_counts_kills_isk_and_who_shoots_there(world: World) -> None:
    since = NOW - timedelta(hours=24 * 7)
    ((busiest, _),) = Counter(p.system for p in world.kills if p.time >= since).most_common(1)
    inside = [p for p in world.kills if p.system == busiest and p.time >= since]
    assert len(inside) > 3
    name = universe().system(busiest).name  # type: ignore[union-attr]
    alliances: Counter[int] = Counter()
    corporations: Counter[int] = Counter()
    for p in inside:
        pilots = [a for a in p.esi["attackers"] if "character_id" in a]
        alliances.update({a["alliance_id"] for a in pilots if "alliance_id" in a})
        corporations.update({a["corporation_id"] for a in pilots if "corporation_id" in a})

    intel = await world.queries.system_intel(name, hours=24 * 7)

    assert intel.place.system_name == name
    assert intel.kills == len(inside)
    assert intel.isk_destroyed == pytest.approx(sum(p.value or 0.0 for p in inside))
    assert [k.id for k in intel.recent] == _newest(inside)[:5]
    assert [(t.id, t.count) for t in intel.alliances] == _top(alliances)
    assert [(t.id, t.count) for t in intel.corporations] == _top(corporations)
    assert sum(t.count for t in intel.classes_lost) == len(inside)
    assert sum(intel.by_hour) == len(inside)
    names = {t.id: t.name for t in intel.alliances}
    if ALLIANCE in names:
        assert names[ALLIANCE] == ALLIANCE_NAME


async def test_system_intel_of_a_quiet_system_and_bad_hours(world: World) -> None:
    intel = await world.queries.system_intel("Jita")
    assert (intel.kills, intel.recent, intel.alliances) == (0, (), ())
    with pytest.raises(InvalidQuery):
        await world.queries.system_intel("Jita", hours=0)


# --- battles ---------------------------------------------------------------------------------

JITA = 30000142


async def test_a_battle_report_clusters_kills_around_a_system_by_time(tmp_path: Path) -> None:
    u = universe()
    near = u.neighbours(JITA)[0]
    far = u.find_system("Kehjari")
    assert far is not None
    assert far.id not in u.neighbours(JITA)
    start = NOW - timedelta(minutes=90)

    def at(minutes: int) -> Any:
        return start + timedelta(minutes=minutes)

    first = [  # gaps of 5, 7, 13 and 15 minutes: one fight
        place(0, at(0), JITA), place(1, at(5), JITA), place(2, at(12), near),
        place(3, at(25), JITA), place(4, at(40), near),
    ]
    elsewhere = place(5, at(10), far.id)
    second = [place(6, at(70), JITA), place(7, at(75), JITA)]  # 30 minutes after
    old = place(8, NOW - timedelta(hours=3), JITA)
    async with migrated(tmp_path) as database:
        await store(database, [*first, elsewhere, *second, old])
        queries = Queries(database, Enricher(u), clock=lambda: NOW)

        report = await queries.battle("Jita", hours=2)
        assert report.centre.system_id == JITA
        assert [p.system_id for p in report.systems] == [JITA, *u.neighbours(JITA)]
        assert [[k.id for k in f.kills] for f in report.fights] == [
            [p.id for p in first], [p.id for p in second],
        ]
        fight = report.fights[0]
        assert (fight.first, fight.last) == (at(0), at(40))
        assert fight.isk_destroyed == pytest.approx(sum(p.value or 0.0 for p in first))
        assert report.complete

        longer = await queries.battle(str(JITA), hours=4)
        assert [len(f.kills) for f in longer.fights] == [5, 2, 1]
        merged = await queries.battle("Jita", hours=2, gap=timedelta(minutes=30))
        assert [len(f.kills) for f in merged.fights] == [7]

        quiet = await queries.battle("Amarr", hours=24)
        assert quiet.fights == ()
        assert quiet.centre.system_name == "Amarr"
        with pytest.raises(InvalidQuery):
            await queries.battle("Jita", hours=25)
