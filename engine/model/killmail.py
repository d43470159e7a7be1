"""The killmail as the engine sees it: typed, immutable, parsed once at the edge.

These are msgspec structs rather than dataclasses because the feed's JSON decodes straight into
them (field names follow ESI and zKillboard's spelling), which keeps parsing within its budget.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["Attacker", "Item", "Killmail", "Position", "Victim", "Zkb", "zkillboard_url"]


class Position(msgspec.Struct, frozen=True):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


class Item(msgspec.Struct, frozen=True):
    """A victim's item; containers carry their own items."""

    type_id: int = msgspec.field(name="item_type_id")
    flag: int = 0
    quantity_destroyed: int = 0
    quantity_dropped: int = 0
    singleton: int = 0
    items: tuple[Item, ...] = ()


class Victim(msgspec.Struct, frozen=True):
    # 0 only while decoding: the parser rejects a victim without a ship.
    ship_type_id: int = 0
    character_id: int | None = None
    corporation_id: int | None = None
    alliance_id: int | None = None
    faction_id: int | None = None
    damage_taken: int = 0
    position: Position | None = None
    items: tuple[Item, ...] = ()


class Attacker(msgspec.Struct, frozen=True):
    character_id: int | None = None
    corporation_id: int | None = None
    alliance_id: int | None = None
    faction_id: int | None = None
    ship_type_id: int | None = None
    weapon_type_id: int | None = None
    damage_done: int = 0
    final_blow: bool = False
    security_status: float = 0.0


class Zkb(msgspec.Struct, frozen=True):
    """zKillboard's block: the values and labels it computed for the kill."""

    location_id: int | None = msgspec.field(default=None, name="locationID")
    fitted_value: float | None = msgspec.field(default=None, name="fittedValue")
    dropped_value: float | None = msgspec.field(default=None, name="droppedValue")
    destroyed_value: float | None = msgspec.field(default=None, name="destroyedValue")
    total_value: float | None = msgspec.field(default=None, name="totalValue")
    points: int | None = None
    npc: bool = False
    solo: bool = False
    awox: bool = False
    labels: tuple[str, ...] = ()
    href: str | None = None
    hash: str | None = None


class Killmail(msgspec.Struct, frozen=True):
    killmail_id: int
    hash: str | None
    time: datetime
    solar_system_id: int
    victim: Victim
    attackers: tuple[Attacker, ...]
    zkb: Zkb | None
    war_id: int | None = None
    moon_id: int | None = None
    # Feed bookkeeping: set by R2Z2 envelopes, None elsewhere.
    sequence_id: int | None = None
    uploaded_at: datetime | None = None
    sequence_updated: int | None = None

    @property
    def final_blow(self) -> Attacker | None:
        for attacker in self.attackers:
            if attacker.final_blow:
                return attacker
        return None

    @property
    def url(self) -> str:
        return zkillboard_url(self.killmail_id)


def zkillboard_url(killmail_id: int) -> str:
    return f"https://zkillboard.com/kill/{killmail_id}/"
