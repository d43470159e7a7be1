"""Who did the killing: counts, final blow, top damage, the main side, every id for indexing.

Definitions:

- A *player* is an attacker with a character id above 3,999,999. Lower character ids are NPC
  agents (3,000,000-3,999,999); zKillboard draws the line at the same place.
- An *NPC* is an attacker that is not a player and belongs to an NPC corporation (ids
  1,000,000-1,999,999) or to no corporation. A pilotless attacker owned by a player
  corporation (a citadel, a starbase battery, an Upwell structure's fighters) is neither, so
  ``players + npcs`` can be less than ``count``.
- *Top damage* is the attacker with the most ``damage_done``; among equals the first listed.
- The *main* corporation, alliance and ship group are the most common among the attackers,
  kept only when that leader has at least 2 attackers and at least 25 % of all of them (so a
  solo kill, or ten attackers from ten corporations, has none). Among equal counts the one seen
  first on the mail wins: ESI lists attackers by damage dealt, most first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from engine.enrich.catalog import TypeCatalog
from engine.model import Attacker, AttackerSummary, Party, PartyIds

__all__ = [
    "MAX_NPC_CHARACTER_ID",
    "MAX_NPC_CORPORATION_ID",
    "attacker_party",
    "is_player",
    "party_ids",
    "summarize_attackers",
]

MAX_NPC_CORPORATION_ID: Final = 1_999_999
MAX_NPC_CHARACTER_ID: Final = 3_999_999
_MAIN_MIN_ATTACKERS: Final = 2
_MAIN_MIN_SHARE: Final = 4  # 1 / 25 %

_NO_IDS: Final = frozenset[int]()


def is_player(character_id: int | None) -> bool:
    return character_id is not None and character_id > MAX_NPC_CHARACTER_ID


def attacker_party(attacker: Attacker, types: TypeCatalog) -> Party:
    ship = attacker.ship_type_id
    return Party(
        attacker.character_id,
        attacker.corporation_id,
        attacker.alliance_id,
        attacker.faction_id,
        types.info(ship) if ship is not None else None,
        attacker.weapon_type_id,
        attacker.damage_done,
    )


def party_ids(party: Party) -> PartyIds:
    """The ids of one participant (the victim, the final blow) as a one-role index entry."""
    ship = party.ship
    return PartyIds(
        _one(party.character_id),
        _one(party.corporation_id),
        _one(party.alliance_id),
        _one(party.faction_id),
        _one(ship.type_id if ship is not None else None),
        _one(ship.group_id if ship is not None else None),
        _one(ship.category_id if ship is not None else None),
        _one(party.weapon_type_id),
    )


def summarize_attackers(
    attackers: Sequence[Attacker], types: TypeCatalog
) -> tuple[AttackerSummary, PartyIds]:
    """The attackers' summary and the ids of every attacker (one pass over the list)."""
    count = len(attackers)
    if count == 0:
        return AttackerSummary(), PartyIds()
    characters: set[int] = set()
    factions: set[int] = set()
    weapons: set[int] = set()
    corporations: dict[int, int] = {}  # id -> attackers, in order of first appearance
    alliances: dict[int, int] = {}
    ships: dict[int, int] = {}
    players = npcs = 0
    final_blow: Attacker | None = None
    top = attackers[0]
    for attacker in attackers:
        character, corporation = attacker.character_id, attacker.corporation_id
        if character is not None:
            characters.add(character)
        if character is not None and character > MAX_NPC_CHARACTER_ID:
            players += 1
        elif corporation is None or corporation <= MAX_NPC_CORPORATION_ID:
            npcs += 1
        if corporation is not None:
            corporations[corporation] = corporations.get(corporation, 0) + 1
        if (alliance := attacker.alliance_id) is not None:
            alliances[alliance] = alliances.get(alliance, 0) + 1
        if (faction := attacker.faction_id) is not None:
            factions.add(faction)
        if (ship := attacker.ship_type_id) is not None:
            ships[ship] = ships.get(ship, 0) + 1
        if (weapon := attacker.weapon_type_id) is not None:
            weapons.add(weapon)
        if attacker.final_blow and final_blow is None:
            final_blow = attacker
        if attacker.damage_done > top.damage_done:
            top = attacker

    groups: dict[int, int] = {}
    categories: set[int] = set()
    for ship, n in ships.items():
        info = types.info(ship)
        if info.group_id is not None:
            groups[info.group_id] = groups.get(info.group_id, 0) + n
        if info.category_id is not None:
            categories.add(info.category_id)

    summary = AttackerSummary(
        count=count,
        players=players,
        npcs=npcs,
        final_blow=attacker_party(final_blow, types) if final_blow is not None else None,
        top_damage=attacker_party(top, types),
        main_corporation_id=_leader(corporations, count),
        main_alliance_id=_leader(alliances, count),
        main_ship_group_id=_leader(groups, count),
    )
    ids = PartyIds(
        frozenset(characters),
        frozenset(corporations),
        frozenset(alliances),
        frozenset(factions),
        frozenset(ships),
        frozenset(groups),
        frozenset(categories),
        frozenset(weapons),
    )
    return summary, ids


def _leader(counts: dict[int, int], total: int) -> int | None:
    if not counts:
        return None
    best = max(counts, key=counts.__getitem__)  # the first of equal counts
    n = counts[best]
    if n >= _MAIN_MIN_ATTACKERS and n * _MAIN_MIN_SHARE >= total:
        return best
    return None


def _one(value: int | None) -> frozenset[int]:
    return _NO_IDS if value is None else frozenset((value,))
