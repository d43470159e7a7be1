"""Plain-text renderings of a kill, shared by the console sink and anything else that prints."""

from __future__ import annotations

from engine.model import EnrichedKill

__all__ = ["format_isk", "kill_line"]

_UNITS = ((1e3, "k"), (1e6, "m"), (1e9, "b"), (1e12, "t"))


def format_isk(value: float | None) -> str:
    """1234567 -> '1.23m ISK': three significant figures, as EVE players write values."""
    if value is None:
        return "? ISK"
    if abs(value) < 999.5:
        return f"{value:.0f} ISK"
    for size, unit in _UNITS:
        scaled = value / size
        text = f"{scaled:.{_decimals(scaled)}f}"
        # 999,999 rounds to "1000k": that belongs to the next unit up, as "1.00m".
        if abs(float(text)) < 1000 or unit == "t":
            return f"{text}{unit} ISK"
    raise AssertionError("unreachable: the last unit always returns")


def _decimals(scaled: float) -> int:
    magnitude = abs(scaled)
    return 2 if magnitude < 10 else 1 if magnitude < 100 else 0


def kill_line(kill: EnrichedKill) -> str:
    """One readable line: when, where, who lost what, worth, who killed it, link."""
    km = kill.killmail
    place = kill.place
    victim = km.victim
    where = f"{place.system_name} ({place.security:.1f})"
    if place.wormhole_class is not None and place.space == "wormhole":
        where = f"{place.system_name} (C{place.wormhole_class})"
    if place.region_name:
        where += f" {place.region_name}"
    pilot = kill.name_of(victim.character_id) or "no pilot"
    owner = kill.name_of(victim.corporation_id) or "no corporation"
    if victim.alliance_id is not None:
        owner += f" / {kill.name_of(victim.alliance_id)}"
    count = len(km.attackers)
    attackers = f"{count} attacker" + ("" if count == 1 else "s")
    return (
        f"{km.time:%Y-%m-%d %H:%M:%S}  {where}  |  {kill.victim_ship.name} ({pilot}, {owner})"
        f"  |  {format_isk(kill.value)}  |  {attackers}, final blow {_final_blow(kill)}"
        f"  |  {km.url}"
    )


def _final_blow(kill: EnrichedKill) -> str:
    attacker = kill.killmail.final_blow
    if attacker is None:
        return "unknown"
    who = (
        kill.name_of(attacker.character_id)
        or kill.name_of(attacker.corporation_id)
        or kill.name_of(attacker.faction_id)
        or "unknown"
    )
    if kill.final_blow_ship is not None:
        return f"{who} ({kill.final_blow_ship.name})"
    return who
