"""How the game colours a system's security, and the words for each kind of space."""

from __future__ import annotations

from typing import Final

from engine.model import Place

__all__ = ["SECURITY_COLOURS", "security_colour", "security_emoji", "security_text", "space_label"]

# (lowest displayed security, colour) from high to low, as the game client colours security.
# Source: EVE Developer Documentation, "System Security", section "Security Status Colors"
# (https://developers.eveonline.com/docs/guides/system-security/). Everything below 0.1
# (0.0 and negative: null-sec, J-space, Pochven, Abyssal) takes the last colour.
SECURITY_COLOURS: Final[tuple[tuple[float, int], ...]] = (
    (1.0, 0x2C75E1),
    (0.9, 0x399AEB),
    (0.8, 0x4ECEF8),
    (0.7, 0x60DBA3),
    (0.6, 0x71E754),
    (0.5, 0xF5FF83),
    (0.4, 0xDC6C06),
    (0.3, 0xCE440F),
    (0.2, 0xBB1116),
    (0.1, 0x731F1F),
    (-1.0, 0x8D3163),
)

# Embed text cannot be coloured, so a coloured square stands in, chosen by eye from the table
# above: blues 1.0-0.8, greens 0.7-0.6, yellow 0.5, oranges 0.4-0.3, reds 0.2-0.1, and the
# magenta of 0.0 and below as purple.
_EMOJI: Final[tuple[tuple[float, str], ...]] = (
    (0.8, "\N{LARGE BLUE SQUARE}"),
    (0.6, "\N{LARGE GREEN SQUARE}"),
    (0.5, "\N{LARGE YELLOW SQUARE}"),
    (0.3, "\N{LARGE ORANGE SQUARE}"),
    (0.1, "\N{LARGE RED SQUARE}"),
    (-1.0, "\N{LARGE PURPLE SQUARE}"),
)
# Displayed security has one decimal; compare with a margin so 0.7999999 counts as 0.8.
_EPSILON: Final = 1e-6

_BANDS: Final = {
    "highsec": "High-sec",
    "lowsec": "Low-sec",
    "nullsec": "Null-sec",
    "pochven": "Pochven",
    "abyssal": "Abyssal deadspace",
}


def security_colour(security: float) -> int:
    """The game's colour (0xRRGGBB) for a displayed security value."""
    for floor, colour in SECURITY_COLOURS:
        if security >= floor - _EPSILON:
            return colour
    return SECURITY_COLOURS[-1][1]


def security_emoji(security: float) -> str:
    for floor, emoji in _EMOJI:
        if security >= floor - _EPSILON:
            return emoji
    return _EMOJI[-1][1]


def security_text(security: float) -> str:
    """``"🟨 0.5"``: the square for the colour and the value as the game shows it."""
    return f"{security_emoji(security)} {security:.1f}"


def space_label(place: Place) -> str:
    """The kind of space in words: Low-sec, C5 wormhole, Thera, Drifter wormhole, Pochven..."""
    if place.space == "wormhole":
        return _wormhole_label(place.wormhole_class)
    return _BANDS.get(place.space, "Unknown space")


def _wormhole_label(wormhole_class: int | None) -> str:
    # Classes from the static data: 1-6 ordinary J-space, 12 Thera, 13 shattered systems that
    # admit only frigates, 14-18 the Drifter systems.
    if wormhole_class is None:
        return "Wormhole"
    if wormhole_class == 12:
        return "Thera"
    if wormhole_class == 13:
        return "C13 shattered wormhole"
    if 14 <= wormhole_class <= 18:
        return "Drifter wormhole"
    return f"C{wormhole_class} wormhole"
