"""A killmail with the facts filters and notifications need, computed once, with no I/O left."""

from __future__ import annotations

import msgspec

from engine.model.killmail import Killmail

__all__ = ["EnrichedKill", "Place", "TypeInfo"]


class Place(msgspec.Struct, frozen=True):
    system_id: int
    system_name: str
    constellation_id: int | None
    constellation_name: str | None
    region_id: int | None
    region_name: str | None
    security: float  # as the game displays it: one decimal
    space: str  # highsec | lowsec | nullsec | wormhole | pochven | abyssal | unknown
    wormhole_class: int | None


class TypeInfo(msgspec.Struct, frozen=True):
    type_id: int
    name: str
    group_id: int | None
    group_name: str | None
    category_id: int | None
    category_name: str | None


class EnrichedKill(msgspec.Struct, frozen=True):
    killmail: Killmail
    place: Place
    victim_ship: TypeInfo
    final_blow_ship: TypeInfo | None
    value: float | None  # ISK
    value_source: str | None  # "zkb" when zKillboard's totalValue was used
    # Names known for the kill's characters, corporations, alliances and factions.
    # Ids missing here are shown as ids until a names lookup fills them in.
    names: dict[int, str]

    @property
    def id(self) -> int:
        return self.killmail.killmail_id

    def name_of(self, entity_id: int | None) -> str | None:
        if entity_id is None:
            return None
        return self.names.get(entity_id, f"#{entity_id}")
