"""Every field and op on the recorded kills, against facts read straight from the raw JSON.

Each case is a text filter and an oracle computed from the fixture record (ESI + zkb) and the
universe, not from the enriched kill; the filter's matches must equal the oracle's, and each
case must match some kills but not all (so it can fail).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.enrich.space import display_security, space_band
from engine.enrich.universe import Universe
from engine.filters import parse
from engine.filters.compile import compile_tree
from engine.model import EnrichedKill
from tests.filters.conftest import NOW
from tests.filters.support import FakeEntities


def _int(x: Any) -> int | None:
    return None if x is None else int(x)


class Raw:
    """One fixture record, normalised (reserialised lines carry nulls and floats)."""

    def __init__(self, record: dict[str, Any], universe: Universe, kill: EnrichedKill) -> None:
        self.u = universe
        self.kill = kill
        esi = record["esi"]
        self.esi = esi
        self.zkb = record.get("zkb") or {}
        self.victim = esi["victim"]
        self.attackers = esi.get("attackers") or []
        self.system_id = int(esi["solar_system_id"])
        self.system = universe.system(self.system_id)
        time = str(esi["killmail_time"]).replace(" ", "T").replace("Z", "+00:00")
        self.time = datetime.fromisoformat(time)
        if self.time.tzinfo is None:
            self.time = self.time.replace(tzinfo=UTC)

    def victim_id(self, key: str) -> int | None:
        return _int(self.victim.get(key))

    def attacker_ids(self, key: str) -> set[int]:
        return {int(a[key]) for a in self.attackers if a.get(key) is not None}

    def final_blow_id(self, key: str) -> int | None:
        for a in self.attackers:
            if a.get("final_blow"):
                return _int(a.get(key))
        return None

    def group_of(self, type_id: int | None) -> int | None:
        t = self.u.type(type_id) if type_id is not None else None
        return t.group_id if t else None

    def category_of(self, type_id: int | None) -> int | None:
        t = self.u.type(type_id) if type_id is not None else None
        return t.category_id if t else None

    @property
    def region(self) -> int:
        return self.system.region_id

    @property
    def space(self) -> str:
        return space_band(self.system)

    @property
    def value(self) -> float | None:
        return self.zkb.get("totalValue")

    def flag(self, name: str) -> bool:
        """zKillboard's flag; kills without a zkb block have computed flags, whose own tests
        are in tests/enrich/test_facts.py."""
        return bool(self.zkb[name]) if self.zkb else bool(getattr(self.kill, name))


Oracle = Callable[[Raw], bool]
GOONS, TEST, PANDEMIC = 1354830081, 498125261, 99005338
DELVE, FORGE = 10000060, 10000002
JITA, AMARR = 30000142, 30002187
TITAN, SUPERCARRIER, FRIGATE = 30, 659, 25

CASES: list[tuple[str, Oracle]] = [
    # victim
    ("victim.character = 580797163", lambda r: r.victim_id("character_id") == 580797163),
    ("victim.corporation in (98388312, 917701062)",
     lambda r: r.victim_id("corporation_id") in (98388312, 917701062)),
    (f"victim.alliance != {TEST}", lambda r: r.victim_id("alliance_id") != TEST),
    ('victim.faction = "Caldari State"', lambda r: r.victim_id("faction_id") == 500001),
    ("victim.ship_type = Keepstar", lambda r: r.victim_id("ship_type_id") == 35834),
    ("victim.ship_group in (Titan, Supercarrier)",
     lambda r: r.group_of(r.victim_id("ship_type_id")) in (TITAN, SUPERCARRIER)),
    ("victim.ship_category = Structure",
     lambda r: r.category_of(r.victim_id("ship_type_id")) == 65),
    ("victim.ship_category not in (Ship)",
     lambda r: r.category_of(r.victim_id("ship_type_id")) != 6),
    # attackers (any of them)
    ("attacker.character = 780702065", lambda r: 780702065 in r.attacker_ids("character_id")),
    ("attacker.corporation = 1616074553",
     lambda r: 1616074553 in r.attacker_ids("corporation_id")),
    (f"attacker.alliance in ({GOONS}, {PANDEMIC})",
     lambda r: bool(r.attacker_ids("alliance_id") & {GOONS, PANDEMIC})),
    (f"attacker.alliance not in ({GOONS})", lambda r: GOONS not in r.attacker_ids("alliance_id")),
    ('attacker.faction = "Gallente Federation"',
     lambda r: 500004 in r.attacker_ids("faction_id")),
    ("attacker.ship_type = Loki", lambda r: 29990 in r.attacker_ids("ship_type_id")),
    ("attacker.ship_group = Titan",
     lambda r: TITAN in {r.group_of(t) for t in r.attacker_ids("ship_type_id")}),
    ("attacker.ship_category != Ship",
     lambda r: 6 not in {r.category_of(t) for t in r.attacker_ids("ship_type_id")}),
    ('attacker.weapon_type = "Warp Disruptor II"',
     lambda r: 3244 in r.attacker_ids("weapon_type_id")),
    # final blow
    (f"final_blow.alliance = {GOONS}", lambda r: r.final_blow_id("alliance_id") == GOONS),
    ("final_blow.ship_group = Supercarrier",
     lambda r: r.group_of(r.final_blow_id("ship_type_id")) == SUPERCARRIER),
    ("final_blow.character != 780702065",
     lambda r: r.final_blow_id("character_id") != 780702065),
    # involved: the victim or any attacker
    (f"involved.alliance = {GOONS}",
     lambda r: r.victim_id("alliance_id") == GOONS or GOONS in r.attacker_ids("alliance_id")),
    ("involved.corporation not in (1616074553, 98388312)",
     lambda r: not ({r.victim_id("corporation_id")} | r.attacker_ids("corporation_id"))
     & {1616074553, 98388312}),
    ("involved.ship_group = Frigate",
     lambda r: r.group_of(r.victim_id("ship_type_id")) == FRIGATE
     or FRIGATE in {r.group_of(t) for t in r.attacker_ids("ship_type_id")}),
    # place
    ("system = Jita", lambda r: r.system_id == JITA),
    ("system in (Jita, Amarr)", lambda r: r.system_id in (JITA, AMARR)),
    ("system != Jita", lambda r: r.system_id != JITA),
    ("constellation = XPJ1-6", lambda r: r.system.constellation_id == 20000688),
    ("region = Delve", lambda r: r.region == DELVE),
    ('region not in (Delve, "The Forge")', lambda r: r.region not in (DELVE, FORGE)),
    ("security >= 0.5", lambda r: display_security(r.system.security) >= 0.5),
    ("security < 0", lambda r: display_security(r.system.security) < 0),
    ("security between 0.1 and 0.4",
     lambda r: 0.1 <= display_security(r.system.security) <= 0.4),
    ("security = -1", lambda r: display_security(r.system.security) == -1.0),
    ("space = lowsec", lambda r: r.space == "lowsec"),
    ("space in (wormhole, abyssal)", lambda r: r.space in ("wormhole", "abyssal")),
    ("space != nullsec", lambda r: r.space != "nullsec"),
    ("wormhole_class = 5", lambda r: r.space == "wormhole" and r.system.wormhole_class == 5),
    ("wormhole_class in (2, 3)",
     lambda r: r.space == "wormhole" and r.system.wormhole_class in (2, 3)),
    ("wormhole_class >= 4", lambda r: r.space == "wormhole" and r.system.wormhole_class >= 4),
    ("wormhole_class != 5", lambda r: not (r.space == "wormhole"
                                           and r.system.wormhole_class == 5)),
    # value, points, attackers
    ("value >= 1b", lambda r: r.value is not None and r.value >= 1e9),
    ("value > 1b", lambda r: r.value is not None and r.value > 1e9),
    ("value < 10m", lambda r: r.value is not None and r.value < 1e7),
    ("value <= 10m", lambda r: r.value is not None and r.value <= 1e7),
    ("value between 100m and 1.5b", lambda r: r.value is not None and 1e8 <= r.value <= 1.5e9),
    ("value != 10000", lambda r: r.value != 10000),
    ("points > 1", lambda r: r.zkb.get("points") is not None and r.zkb["points"] > 1),
    ("points = 1", lambda r: r.zkb.get("points") == 1),
    ("points in (2, 3)", lambda r: r.zkb.get("points") in (2, 3)),
    ("attackers >= 100", lambda r: len(r.attackers) >= 100),
    ("attackers = 1", lambda r: len(r.attackers) == 1),
    ("attackers between 2 and 5", lambda r: 2 <= len(r.attackers) <= 5),
    ("attackers not in (1, 2)", lambda r: len(r.attackers) not in (1, 2)),
    # flags
    ("npc", lambda r: r.flag("npc")),
    ("not npc", lambda r: not r.flag("npc")),
    ("solo", lambda r: r.flag("solo")),
    ("awox", lambda r: r.flag("awox")),
    ("awox = false", lambda r: not r.flag("awox")),
    ("solo != true", lambda r: not r.flag("solo")),
    # labels and tags
    ("labels contains pvp", lambda r: "pvp" in (r.zkb.get("labels") or ())),
    ("labels contains any (solo, capital)",
     lambda r: bool({"solo", "capital"} & set(r.zkb.get("labels") or ()))),
    ('labels = "loc:lowsec"', lambda r: "loc:lowsec" in (r.zkb.get("labels") or ())),
    ("labels not in (pvp, loss)",
     lambda r: not {"pvp", "loss"} & set(r.zkb.get("labels") or ())),
    ("tags contains titan", lambda r: r.group_of(r.victim_id("ship_type_id")) == TITAN),
    ("tags contains any (pod, supercarrier)",
     lambda r: r.group_of(r.victim_id("ship_type_id")) in (29, SUPERCARRIER)),
    ("tags != pod", lambda r: r.group_of(r.victim_id("ship_type_id")) != 29),
    ("tags in (structure)",
     lambda r: r.category_of(r.victim_id("ship_type_id")) in (65, 23, 40, 46)),
    # time
    ("hour in (20, 21)", lambda r: r.time.hour in (20, 21)),
    ("hour between 0 and 3", lambda r: 0 <= r.time.hour <= 3),
    ("hour >= 22", lambda r: r.time.hour >= 22),
    ("age_minutes < 500000",
     lambda r: (NOW - r.time.timestamp()) / 60 < 500_000),
    ("age_minutes between 100000 and 1000000",
     lambda r: 100_000 <= (NOW - r.time.timestamp()) / 60 <= 1_000_000),
    # distances
    ("jumps from Jita <= 1",
     lambda r: r.system_id == JITA or r.system_id in r.u.neighbours(JITA)),
    ("jumps from 1DQ1-A <= 5", lambda r: r.system_id in _bfs(r.u, 30004759, 5)),
    ("lightyears from 1DQ1-A <= 7", lambda r: _ly(r.u, 30004759, r.system_id) <= 7),
]


def _bfs(universe: Universe, origin: int, limit: int) -> set[int]:
    seen, frontier = {origin}, {origin}
    for _ in range(limit):
        frontier = {n for s in frontier for n in universe.neighbours(s)} - seen
        seen |= frontier
    return seen


def _ly(universe: Universe, a: int, b: int) -> float:
    one, two = universe.system(a), universe.system(b)
    if one is None or two is None or a // 1_000_000 != b // 1_000_000:
        return math.inf
    return math.dist((one.x, one.y, one.z), (two.x, two.y, two.z)) / 9.4607e15


@pytest.mark.parametrize(("text", "oracle"), CASES, ids=[c[0] for c in CASES])
def test_field_and_op_match_the_raw_facts_of_the_recorded_kills(
    text, oracle, universe, distances, kills, fixture_records
):
    tree = asyncio.run(parse(text, universe, FakeEntities({})))
    predicate = compile_tree(tree, distances)
    got = {kid for kid, kill in kills.items() if predicate(kill, NOW)}
    expected = {
        kid for kid, kill in kills.items() if oracle(Raw(fixture_records[kid], universe, kill))
    }
    assert got == expected
    assert 0 < len(got) < len(kills)  # the case can fail both ways


def test_every_field_is_covered_by_a_case():
    from engine.filters.fields import FIELDS

    used = {text.split()[0] for text, _ in CASES}
    untested = {
        name for name in FIELDS
        if name not in used and not name.startswith(("final_blow.", "involved."))
    }
    assert untested == set()


def test_an_entity_name_resolves_through_the_lookup_and_matches_by_id(
    universe, distances, kills
):
    entities = FakeEntities({"Goonswarm Federation": [("alliance", GOONS)]})
    tree = asyncio.run(parse('victim.alliance = "Goonswarm Federation"', universe, entities))
    predicate = compile_tree(tree, distances)
    got = {kid for kid, kill in kills.items() if predicate(kill, NOW)}
    assert got == {kid for kid, kill in kills.items() if kill.victim.alliance_id == GOONS}
    assert len(got) == 24
    assert entities.calls == [["Goonswarm Federation"]]


def test_the_keepstar_loss_matches_its_type_group_category_and_tags(universe, distances, kills):
    keepstars = [k for k in kills.values() if k.victim_ship.name == "Keepstar"]
    assert len(keepstars) == 1
    keepstar = keepstars[0]
    for text in ("victim.ship_type = Keepstar", "victim.ship_group = Citadel",
                 "victim.ship_category = Structure", "tags contains citadel",
                 "value >= 100b", "attackers >= 1000"):
        tree = asyncio.run(parse(text, universe))
        assert compile_tree(tree, distances)(keepstar, NOW), text
