"""Facts about a kill's victim and the kind of kill it was: flags and the fit that was lost.

Flags, when the kill has a zKillboard block, are zKillboard's; otherwise they are computed
here with zKillboard's own rules as its processing code states them (cron/3.queueProcess in
github.com/zKillboard/zKillboard), so a flag means the same whichever way it was obtained:

``npc``
    The victim is an NPC (no character, an NPC corporation), or there are attackers and none
    is a player (character id above 3,999,999) or belongs to a player corporation (id above
    1,999,999): pilotless player structures make a kill player-made. A mail with no attackers
    is not npc: real mails always list someone, so an empty list is a trimmed record, not a
    kill by NPCs (zKillboard's rule would say npc; its blocks on such records say not).
``solo``
    Not ``npc``; the victim is a ship (category 6) other than a capsule, shuttle or rookie
    ship; exactly one attacker is a player; no attacker is an Upwell structure (category 65).
    NPCs alongside the one player do not spoil it.
``awox``
    Not ``npc``; the final blow came from a player in the victim's own player corporation,
    and the loss is not a capsule or rookie ship. Alliance mates on the mail are not enough:
    in big fights friendly fire lands alliance mates on many mails (the recorded Keepstar has
    23), and a corpmate who only helped is not the one who turned on the victim.

``python -m tools.compare_flags [FILE.jsonl]`` compares these with zKillboard's flags.

Module counts are the victim's fitted modules (items in fitting slots, charges left out) by
meta group; see ``TypeCatalog.module_grade`` for how meta groups map onto the counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from engine.enrich.attackers import MAX_NPC_CHARACTER_ID, MAX_NPC_CORPORATION_ID
from engine.enrich.catalog import FITTED_FLAGS, TypeCatalog
from engine.model import Item, Killmail, ModuleCounts, Party, TypeInfo, Victim

__all__ = ["Flags", "computed_flags", "kill_flags", "module_counts", "victim_party"]

Flags = tuple[bool, bool, bool]  # npc, solo, awox

_NOT_SOLO_GROUPS: Final = frozenset({29, 31, 237})  # capsule, shuttle, rookie ship
_NOT_AWOX_GROUPS: Final = frozenset({29, 237})  # capsule, rookie ship
_SHIP: Final = 6
_UPWELL: Final = 65


def victim_party(victim: Victim, ship: TypeInfo) -> Party:
    """The victim as a Party; ``ship`` is the TypeInfo of ``victim.ship_type_id``."""
    return Party(
        victim.character_id,
        victim.corporation_id,
        victim.alliance_id,
        victim.faction_id,
        ship,
        None,
        victim.damage_taken,
    )


def kill_flags(killmail: Killmail, types: TypeCatalog) -> Flags:
    """zKillboard's flags when the kill has its block, else :func:`computed_flags`."""
    zkb = killmail.zkb
    if zkb is not None:
        return zkb.npc, zkb.solo, zkb.awox
    return computed_flags(killmail, types)


def computed_flags(killmail: Killmail, types: TypeCatalog) -> Flags:
    """``npc``, ``solo`` and ``awox`` as defined in this module's docstring."""
    npc = _is_npc(killmail)
    if npc:
        return True, False, False
    return False, _is_solo(killmail, types), _is_awox(killmail, types)


def _is_npc(killmail: Killmail) -> bool:
    victim = killmail.victim
    corporation = victim.corporation_id
    # An NPC victim (a rat, an NPC structure) is nobody's loss, whoever shot it.
    if victim.character_id is None and corporation is not None:
        return 1 < corporation <= MAX_NPC_CORPORATION_ID or _no_player_attacker(killmail)
    return _no_player_attacker(killmail)


def _no_player_attacker(killmail: Killmail) -> bool:
    if not killmail.attackers:
        return False  # a mail with nobody on it says nothing about who killed
    for attacker in killmail.attackers:
        character, corp = attacker.character_id, attacker.corporation_id
        if character is not None and character > MAX_NPC_CHARACTER_ID:
            return False
        if corp is not None and corp > MAX_NPC_CORPORATION_ID:
            return False
    return True


def _is_solo(killmail: Killmail, types: TypeCatalog) -> bool:
    ship = types.info(killmail.victim.ship_type_id)
    if ship.category_id != _SHIP or ship.group_id in _NOT_SOLO_GROUPS:
        return False
    players = 0
    for attacker in killmail.attackers:
        character = attacker.character_id
        if character is not None and character > MAX_NPC_CHARACTER_ID:
            players += 1
            if players > 1:
                return False
        ship_type = attacker.ship_type_id
        if ship_type is not None and types.info(ship_type).category_id == _UPWELL:
            return False
    return players == 1


def _is_awox(killmail: Killmail, types: TypeCatalog) -> bool:
    corporation = killmail.victim.corporation_id
    if corporation is None or corporation <= MAX_NPC_CORPORATION_ID:
        return False  # everyone in an NPC corporation is not a "corpmate"
    if types.info(killmail.victim.ship_type_id).group_id in _NOT_AWOX_GROUPS:
        return False
    final_blow = killmail.final_blow
    if final_blow is None or final_blow.corporation_id != corporation:
        return False
    character = final_blow.character_id
    return character is not None and character > MAX_NPC_CHARACTER_ID


def module_counts(items: Iterable[Item], types: TypeCatalog) -> ModuleCounts:
    """The victim's fitted modules by meta group. Each fitted item counts its quantity."""
    counts: dict[str, int] = {}
    for item in items:
        if item.flag not in FITTED_FLAGS:
            continue
        grade = types.module_grade(item.type_id)
        if grade is None:
            continue
        # A fitted module is one item; a quantity only appears on odd old mails.
        n = item.quantity_destroyed + item.quantity_dropped or 1
        counts[grade] = counts.get(grade, 0) + n
    if not counts:
        return _NO_MODULES
    return ModuleCounts(**counts)


_NO_MODULES: Final = ModuleCounts()
