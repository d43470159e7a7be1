"""Jumps and light years against hand-checked pairs from the SDE (systems.csv, jumps CSV)."""

from __future__ import annotations

import itertools
import math

import pytest

from engine.enrich.distances import Distances
from engine.enrich.universe import Universe

JITA, PERIMETER, AMARR, NEW_CALDARI = 30000142, 30000144, 30002187, 30000145
ONE_DQ, THERA = 30004759, 31000005
LY = 9.4607e15

# Shortest route by gates, each hop checked in jumps_undirected.csv. Since Niarja left
# highsec for Pochven the old 9-jump route is gone: it is 11 jumps through Ahbazon now.
JITA_TO_AMARR = (
    "Jita", "Ikuchi", "Ansila", "Hykkota", "Ahbazon", "Shera", "Gensela", "Dresi", "Aphend",
    "Romi", "Bhizheba", "Amarr",
)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture
def distances(universe: Universe) -> Distances:
    return Distances(universe)


def test_jita_to_amarr_is_eleven_jumps_along_the_checked_route(universe, distances):
    route = [universe.find_system(name).id for name in JITA_TO_AMARR]
    for here, there in itertools.pairwise(route):
        assert there in universe.neighbours(here)
    assert distances.jumps(JITA, AMARR) == 11
    assert distances.jumps(AMARR, JITA) == 11
    for steps, system in enumerate(route):
        assert distances.jumps(JITA, system) == steps


def test_jita_to_perimeter_is_one_jump_and_a_system_is_zero_from_itself(distances):
    assert distances.jumps(JITA, PERIMETER) == 1
    assert distances.jumps(JITA, JITA) == 0


def test_jumps_are_none_when_no_gate_leads_there_or_the_system_is_unknown(distances):
    assert distances.jumps(JITA, THERA) is None
    assert distances.jumps(JITA, 30999999) is None
    assert distances.jumps(30999999, JITA) is None


def test_lightyears_jita_to_perimeter_by_hand_from_the_csv_coordinates(distances):
    # systems.csv: Jita (-1.29064861735e17, 6.075530691e16, 1.1746922706e17)
    #          Perimeter (-1.432652330889429e17, 6.49237149289389e16, 1.0417862320674181e17)
    dx = -1.432652330889429e17 - -1.29064861735e17  # -1.4200371354e16
    dy = 6.49237149289389e16 - 6.075530691e16  # 4.168408019e15
    dz = 1.0417862320674181e17 - 1.1746922706e17  # -1.3290603853e16
    by_hand = math.sqrt(dx * dx + dy * dy + dz * dz) / LY
    assert by_hand == pytest.approx(2.1025, abs=1e-4)
    assert distances.lightyears(JITA, PERIMETER) == pytest.approx(by_hand, rel=1e-12)
    assert distances.lightyears(PERIMETER, JITA) == pytest.approx(by_hand, rel=1e-12)


def test_lightyears_jita_to_amarr_is_about_twenty(distances):
    assert distances.lightyears(JITA, AMARR) == pytest.approx(20.2784, abs=1e-4)


def test_lightyears_across_coordinate_frames_are_infinite(distances):
    assert distances.lightyears(JITA, THERA) == math.inf


def test_lightyears_refuse_an_unknown_system(distances):
    with pytest.raises(KeyError, match="30999999"):
        distances.lightyears(JITA, 30999999)


def test_within_jumps_is_the_system_and_its_gate_neighbours_at_one(universe, distances):
    assert distances.within_jumps(JITA, 0) == {JITA}
    assert distances.within_jumps(JITA, 1) == {JITA, *universe.neighbours(JITA)}
    assert NEW_CALDARI in distances.within_jumps(JITA, 1)
    assert AMARR in distances.within_jumps(JITA, 11)
    assert AMARR not in distances.within_jumps(JITA, 10)


def test_within_jumps_is_empty_for_an_unknown_origin_or_negative_count(distances):
    assert distances.within_jumps(30999999, 5) == frozenset()
    assert distances.within_jumps(JITA, -1) == frozenset()


def test_within_lightyears_agrees_with_pairwise_distances(universe, distances):
    for radius in (2.0, 2.2, 7.0):
        expected = {
            s.id for s in universe.systems()
            if distances.lightyears(ONE_DQ, s.id) <= radius
        }
        assert distances.within_lightyears(ONE_DQ, radius) == expected
    assert PERIMETER in distances.within_lightyears(JITA, 2.2)
    assert PERIMETER not in distances.within_lightyears(JITA, 2.0)


def test_within_lightyears_stays_in_the_origin_s_coordinate_frame(distances):
    near_jita = distances.within_lightyears(JITA, 30)
    assert len(near_jita) > 100
    assert all(30_000_000 <= s < 31_000_000 for s in near_jita)
    assert THERA in distances.within_lightyears(THERA, 0)
    assert distances.within_lightyears(30999999, 5) == frozenset()


def test_within_sets_are_cached_and_answers_survive_eviction(universe):
    small = Distances(universe, origins=1, sets=1)
    first = small.within_jumps(JITA, 3)
    assert small.within_jumps(JITA, 3) is first  # a cache hit hands out the same set
    small.within_jumps(AMARR, 3)  # evicts Jita's search and set
    assert small.within_jumps(JITA, 3) == first
    assert small.jumps(JITA, AMARR) == 11
