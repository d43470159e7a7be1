"""Pure facts about places in space: displayed security, space bands, light-year distances."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

from engine.enrich.universe import SolarSystem

__all__ = [
    "LIGHT_YEAR_M",
    "POCHVEN_REGION_ID",
    "SPACE_BANDS",
    "SpaceBand",
    "display_security",
    "lightyears_between",
    "space_band",
]

LIGHT_YEAR_M: Final = 9.4607e15
POCHVEN_REGION_ID: Final = 10000070

SpaceBand = Literal["highsec", "lowsec", "nullsec", "wormhole", "pochven", "abyssal"]
SPACE_BANDS: Final[tuple[SpaceBand, ...]] = (
    "highsec",
    "lowsec",
    "nullsec",
    "wormhole",
    "pochven",
    "abyssal",
)

# J-space (incl. Thera 31000005 and the Drifter systems) and Abyssal pockets are id ranges.
_WORMHOLE_IDS: Final = range(31_000_000, 32_000_000)
_ABYSSAL_IDS: Final = range(32_000_000, 33_000_000)
_HIGHSEC_MIN: Final = 0.45  # raw; the first raw value that displays as 0.5
_TENTH: Final = Decimal("0.1")


def display_security(raw: float) -> float:
    """Security as EVE shows it: one decimal, rounded half up; 0.0 < raw < 0.05 shows 0.1.

    Rounding goes through the shortest decimal repr of ``raw`` (the SDE's own digits) so that
    ties round as written: ``round(0.35, 1)`` gives 0.3 because the float 0.35 is just below
    0.35, but EVE shows 0.4. Ties round away from zero on both sides (-0.85 shows -0.9). A
    slightly negative value shows 0.0, never -0.0.
    """
    if not math.isfinite(raw):
        raise ValueError(f"security must be finite, got {raw!r}")
    if 0.0 < raw < 0.05:
        return 0.1  # EVE never shows a system with any security at all as 0.0
    shown = float(Decimal(repr(raw)).quantize(_TENTH, rounding=ROUND_HALF_UP))
    return shown + 0.0  # -0.0 + 0.0 == +0.0: no "-0.0" in embeds


def space_band(system: SolarSystem) -> SpaceBand:
    """Which kind of space ``system`` is in; ids and region first, then security."""
    if system.id in _ABYSSAL_IDS:
        return "abyssal"
    if system.id in _WORMHOLE_IDS:
        return "wormhole"
    if system.region_id == POCHVEN_REGION_ID:
        return "pochven"
    # By raw security with the thresholds EVE uses; consistent with display_security (raw
    # >= 0.45 displays >= 0.5). Zarzakh (-1.0) lands in nullsec.
    if system.security >= _HIGHSEC_MIN:
        return "highsec"
    if system.security > 0.0:
        return "lowsec"
    return "nullsec"


def lightyears_between(a: SolarSystem, b: SolarSystem) -> float:
    """Straight-line distance between two systems' coordinates, in light years."""
    return math.dist((a.x, a.y, a.z), (b.x, b.y, b.z)) / LIGHT_YEAR_M
