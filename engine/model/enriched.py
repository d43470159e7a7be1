"""A killmail with the facts filters and notifications need, computed once, with no I/O left."""

from __future__ import annotations

import msgspec

from engine.model.killmail import Killmail

__all__ = [
    "AttackerSummary",
    "EnrichedKill",
    "ModuleCounts",
    "Party",
    "PartyIds",
    "Place",
    "TypeInfo",
]


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
    # The nearest celestial ("Jita IV - Moon 4") when a feed gives it; ESI does not.
    nearest_celestial: str | None = None


class TypeInfo(msgspec.Struct, frozen=True):
    type_id: int
    name: str
    group_id: int | None
    group_name: str | None
    category_id: int | None
    category_name: str | None


class Party(msgspec.Struct, frozen=True):
    """One participant of a kill: who, flying what (the victim, a final blow, a top damage)."""

    character_id: int | None = None
    corporation_id: int | None = None
    alliance_id: int | None = None
    faction_id: int | None = None
    ship: TypeInfo | None = None
    weapon_type_id: int | None = None
    damage: int = 0


class PartyIds(msgspec.Struct, frozen=True):
    """Every id of one role (victim, all attackers, final blow): what filters index on."""

    characters: frozenset[int] = frozenset()
    corporations: frozenset[int] = frozenset()
    alliances: frozenset[int] = frozenset()
    factions: frozenset[int] = frozenset()
    ship_types: frozenset[int] = frozenset()
    ship_groups: frozenset[int] = frozenset()
    ship_categories: frozenset[int] = frozenset()
    weapon_types: frozenset[int] = frozenset()


class AttackerSummary(msgspec.Struct, frozen=True):
    count: int = 0
    players: int = 0  # attackers with a character id
    npcs: int = 0
    final_blow: Party | None = None
    top_damage: Party | None = None
    # The side that did the killing, when one stands out (>= 2 attackers, >= 25 % share).
    main_corporation_id: int | None = None
    main_alliance_id: int | None = None
    main_ship_group_id: int | None = None


class ModuleCounts(msgspec.Struct, frozen=True):
    """The victim's fitted modules by meta group: what kind of fit was lost."""

    tech1: int = 0
    tech2: int = 0
    faction: int = 0
    deadspace: int = 0
    officer: int = 0
    other: int = 0


class EnrichedKill(msgspec.Struct, frozen=True):
    killmail: Killmail
    place: Place
    victim_ship: TypeInfo
    final_blow_ship: TypeInfo | None
    value: float | None  # ISK
    value_source: str | None  # "zkb" (zKillboard's totalValue), "computed" (market prices)
    # Names known for the kill's characters, corporations, alliances and factions.
    # Ids missing here are shown as ids until a names lookup fills them in.
    names: dict[int, str]
    victim: Party = Party()
    victim_tags: frozenset[str] = frozenset()  # pod, capital, structure, freighter, ...
    ship_class: str = ""  # one word for display: "Titan", "Capsule", "Citadel", ...
    attackers: AttackerSummary = AttackerSummary()
    victim_ids: PartyIds = PartyIds()
    attacker_ids: PartyIds = PartyIds()
    final_blow_ids: PartyIds = PartyIds()
    npc: bool = False
    solo: bool = False
    awox: bool = False
    labels: tuple[str, ...] = ()
    points: int | None = None
    modules: ModuleCounts = ModuleCounts()

    @property
    def id(self) -> int:
        return self.killmail.killmail_id

    def name_of(self, entity_id: int | None) -> str | None:
        if entity_id is None:
            return None
        return self.names.get(entity_id, f"#{entity_id}")
