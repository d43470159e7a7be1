"""Presets are canonical trees that mean what their names say, on the recorded kills."""

from __future__ import annotations

import asyncio

import pytest

from engine.filters import presets, render, validate
from engine.filters.compile import compile_tree
from engine.filters.text import parse
from tests.filters.conftest import NOW

GOONS, ONE_DQ = 1354830081, 30004759
DELVE = 10000060


def matched(tree, kills, distances) -> set[int]:
    predicate = compile_tree(tree, distances)
    return {kid for kid, kill in kills.items() if predicate(kill, NOW)}


ALL_PRESETS = [
    presets.kills_and_losses("alliance", GOONS),
    presets.losses("corporation", 98388312),
    presets.kills("character", 780702065),
    presets.big_kills(10e9),
    presets.big_kills(1.5e9, region=DELVE),
    presets.proximity([ONE_DQ, 30000142], 3, exclude_corporations=[1], exclude_alliances=[2, 3]),
    presets.capital_radar(ONE_DQ, 7.5),
    presets.freighter_ganks(),
    presets.supercapital_losses(),
]


@pytest.mark.parametrize("tree", ALL_PRESETS)
def test_presets_are_valid_canonical_and_survive_the_text_round_trip(tree, universe):
    assert validate(tree, universe) == tree
    text = render(tree, universe)
    assert asyncio.run(parse(text, universe)) == tree


def test_kills_and_losses_losses_and_kills_of_an_alliance(kills, distances):
    both = matched(presets.kills_and_losses("alliance", GOONS), kills, distances)
    lost = matched(presets.losses("alliance", GOONS), kills, distances)
    killed = matched(presets.kills("alliance", GOONS), kills, distances)
    assert lost == {k for k, v in kills.items() if v.victim.alliance_id == GOONS}
    assert killed == {k for k, v in kills.items()
                      if GOONS in v.attacker_ids.alliances and v.victim.alliance_id != GOONS}
    assert lost
    assert killed
    assert both == lost | killed | {k for k, v in kills.items()
                                    if GOONS in v.attacker_ids.alliances}
    assert not lost & killed  # an awox of their own is a loss, not a kill


def test_big_kills_anywhere_or_in_one_region(kills, distances):
    anywhere = matched(presets.big_kills(10e9), kills, distances)
    delve = matched(presets.big_kills(1e9, region=DELVE), kills, distances)
    assert anywhere == {k for k, v in kills.items() if (v.value or 0) >= 10e9}
    assert delve == {k for k, v in kills.items()
                     if (v.value or 0) >= 1e9 and v.place.region_id == DELVE}
    assert anywhere
    assert delve
    assert delve != anywhere


def test_proximity_watch_excludes_kills_involving_the_owner(kills, distances):
    near = matched(presets.proximity([ONE_DQ], 5), kills, distances)
    strangers = matched(presets.proximity([ONE_DQ], 5, exclude_alliances=[GOONS]),
                        kills, distances)
    within = distances.within_jumps(ONE_DQ, 5)
    assert near == {k for k, v in kills.items() if v.place.system_id in within}
    assert strangers == {k for k in near if GOONS not in
                         kills[k].victim_ids.alliances | kills[k].attacker_ids.alliances}
    assert strangers < near


def test_capital_radar_sees_capitals_in_range_but_no_pods_or_npc_kills(kills, distances):
    radar = matched(presets.capital_radar(ONE_DQ, 7), kills, distances)
    reach = distances.within_lightyears(ONE_DQ, 7)
    assert radar == {
        k for k, v in kills.items()
        if v.place.system_id in reach and not v.npc and "pod" not in v.victim_tags
        and v.attacker_ids.ship_groups & set(presets.CAPITAL_GROUPS)
    }
    assert radar


def test_freighter_ganks_are_highsec_freighter_losses_to_players(kills, distances):
    ganks = matched(presets.freighter_ganks(), kills, distances)
    assert ganks == {k for k, v in kills.items()
                     if "freighter" in v.victim_tags and v.place.space == "highsec"
                     and not v.npc}
    assert ganks


def test_supercapital_losses_are_titans_and_supercarriers(kills, distances):
    supers = matched(presets.supercapital_losses(), kills, distances)
    assert supers == {k for k, v in kills.items() if "supercapital" in v.victim_tags}
    assert len(supers) == 19


def test_presets_refuse_an_empty_list_of_systems():
    with pytest.raises(ValueError, match="at least one system"):
        presets.proximity([], 5)
