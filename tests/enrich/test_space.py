"""Displayed security, space bands and light-year distances, on real systems and edge cases."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.enrich.space import (
    LIGHT_YEAR_M,
    SPACE_BANDS,
    display_security,
    lightyears_between,
    space_band,
)
from engine.enrich.universe import SolarSystem, Universe


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


def _system(universe: Universe, system_id: int) -> SolarSystem:
    system = universe.system(system_id)
    assert system is not None, system_id
    return system


def _synthetic(system_id: int, security: float, region_id: int = 10000002) -> SolarSystem:
    return SolarSystem(system_id, "Test", 20000020, region_id, security, 0.0, 0.0, 0.0, None)


# -- display_security ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (0.945913, 0.9),  # Jita
        (1.0, 1.0),
        (0.95, 1.0),
        (0.45, 0.5),  # the highsec threshold: half rounds up
        (0.449944, 0.4),  # Neziel: just below it, lowsec
        (0.44999999999999996, 0.4),  # the float right below 0.45
        (0.35, 0.4),  # float 0.35 is a hair below 0.35; round() would say 0.3
        (0.25, 0.3),
        (0.15, 0.2),
        (0.65, 0.7),
        (0.05, 0.1),
        (0.049927, 0.1),  # Espigoure: 0.0 < s < 0.05 shows 0.1, not 0.0
        (0.034555, 0.1),  # Egbinger
        (1e-9, 0.1),
        (0.0, 0.0),
        (-0.0, 0.0),
        (-0.042593, 0.0),  # JI-K5H: slightly negative shows 0.0
        (-0.049954, 0.0),  # BKK4-H
        (-0.05, -0.1),
        (-0.385782, -0.4),  # 1DQ1-A
        (-0.85, -0.9),  # A2V6-6: ties round away from zero
        (-0.99, -1.0),  # every J-space system
        (-1.0, -1.0),
    ],
)
def test_display_security(raw: float, shown: float) -> None:
    assert display_security(raw) == shown


@pytest.mark.parametrize("raw", [0.0, -0.0, -0.042593, -0.049954])
def test_display_security_never_negative_zero(raw: float) -> None:
    assert math.copysign(1.0, display_security(raw)) == 1.0
    assert f"{display_security(raw):.1f}" == "0.0"


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf])
def test_display_security_rejects_non_finite(raw: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        display_security(raw)


_SECURITY = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


@given(_SECURITY)
def test_display_security_agrees_with_band_thresholds(raw: float) -> None:
    shown = display_security(raw)
    assert (shown >= 0.5) == (raw >= 0.45)
    assert (shown <= 0.0) == (raw <= 0.0)
    assert abs(shown * 10 - round(shown * 10)) < 1e-9  # one decimal
    assert abs(shown - raw) <= 0.1


@given(_SECURITY, _SECURITY)
def test_display_security_is_monotonic(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert display_security(low) <= display_security(high)


# -- space_band ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system_id", "band"),
    [
        (30000142, "highsec"),  # Jita 0.95
        (30045349, "lowsec"),  # Rakapas 0.22
        (30002246, "lowsec"),  # Neziel 0.449944: displays 0.4
        (30004759, "nullsec"),  # 1DQ1-A
        (30100000, "nullsec"),  # Zarzakh, -1.0, its own region but nullsec rules
        (31000005, "wormhole"),  # Thera
        (31000001, "wormhole"),  # Sentinel MZ (Drifter)
        (31000007, "wormhole"),  # J105443, C1
        (30000021, "pochven"),  # Kuharah: security -1.0 but Pochven first
        (32000001, "abyssal"),  # AD001
    ],
)
def test_space_band_real_systems(universe: Universe, system_id: int, band: str) -> None:
    assert space_band(_system(universe, system_id)) == band


def test_neziel_is_the_system_the_tests_say(universe: Universe) -> None:
    neziel = universe.find_system("Neziel")
    assert neziel is not None
    assert (neziel.id, neziel.security) == (30002246, 0.449944)


@pytest.mark.parametrize(
    ("system_id", "security", "region_id", "band"),
    [
        (30000001, 0.45, 10000002, "highsec"),
        (30000001, 0.4499, 10000002, "lowsec"),
        (30000001, 0.0001, 10000002, "lowsec"),
        (30000001, 0.0, 10000002, "nullsec"),
        (30000001, 1.0, 10000070, "pochven"),  # region wins over security
        (31000000, 1.0, 10000002, "wormhole"),  # range edges
        (31999999, 1.0, 10000002, "wormhole"),
        (32000000, 1.0, 10000002, "abyssal"),
        (32999999, 1.0, 10000002, "abyssal"),
        (33000000, 1.0, 10000002, "highsec"),
        (30999999, -1.0, 10000002, "nullsec"),
    ],
)
def test_space_band_rules(system_id: int, security: float, region_id: int, band: str) -> None:
    assert space_band(_synthetic(system_id, security, region_id)) == band


def test_band_counts_over_the_whole_map(universe: Universe) -> None:
    counts = Counter(space_band(system) for system in universe.systems())
    assert counts == {
        "nullsec": 3725,
        "wormhole": 2604,
        "highsec": 1194,
        "lowsec": 687,
        "abyssal": 200,
        "pochven": 27,
    }
    assert set(counts) == set(SPACE_BANDS)


def test_band_matches_kspace_wormhole_class(universe: Universe) -> None:
    # Independent cross-check: the SDE gives k-space classes 7 (high) and 8 (low) by its own
    # rule; our security-based band must agree for every system that has one.
    for system in universe.systems():
        if system.wormhole_class == 7:
            assert space_band(system) == "highsec", system
        elif system.wormhole_class == 8:
            assert space_band(system) == "lowsec", system


# -- light years ---------------------------------------------------------------------------------


def test_light_year_constant() -> None:
    assert LIGHT_YEAR_M == 9.4607e15


def test_jita_perimeter_distance(universe: Universe) -> None:
    jita, perimeter = _system(universe, 30000142), _system(universe, 30000144)
    # Straight from the coordinates in systems.csv.
    expected = (
        math.sqrt(
            (-1.432652330889429e17 - -1.29064861735e17) ** 2
            + (6.49237149289389e16 - 6.075530691e16) ** 2
            + (1.0417862320674181e17 - 1.1746922706e17) ** 2
        )
        / 9.4607e15
    )
    assert lightyears_between(jita, perimeter) == pytest.approx(expected, rel=1e-12)
    assert lightyears_between(jita, perimeter) == pytest.approx(2.1025, abs=1e-4)
    assert lightyears_between(perimeter, jita) == lightyears_between(jita, perimeter)
    assert lightyears_between(jita, jita) == 0.0


def test_jita_amarr_distance(universe: Universe) -> None:
    jita, amarr = _system(universe, 30000142), universe.find_system("Amarr")
    assert amarr is not None
    assert lightyears_between(jita, amarr) == pytest.approx(20.2784, abs=1e-4)
