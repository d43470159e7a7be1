"""Who took part in a kill, as linked, escaped text: the pieces embeds are made of."""

from __future__ import annotations

from collections.abc import Mapping

from bot.render.links import EntityKind, zkb_entity_url
from bot.render.text import link, md
from engine.model import EnrichedKill, Party

__all__ = ["affiliation", "entity_link", "name", "ship_name", "who"]


def name(names: Mapping[int, str], entity_id: int) -> str:
    """The entity's name, or ``#id`` while no lookup has named it."""
    return names.get(entity_id, f"#{entity_id}")


def entity_link(names: Mapping[int, str], kind: EntityKind, entity_id: int) -> str:
    """The escaped name linked to the entity's zKillboard page."""
    return link(name(names, entity_id), zkb_entity_url(kind, entity_id))


def who(kill: EnrichedKill, party: Party | None) -> str:
    """The most specific name of a participant: pilot, else corporation, else faction.

    An NPC has no pilot; its corporation ("Serpentis Corporation") or faction is what players
    call it by, and the ship (the NPC's type) is shown beside it.
    """
    if party is None:
        return "unknown"
    names = kill.names
    if party.character_id is not None:
        return entity_link(names, "character", party.character_id)
    if party.corporation_id is not None:
        return entity_link(names, "corporation", party.corporation_id)
    if party.faction_id is not None:
        return entity_link(names, "faction", party.faction_id)
    return "unknown"


def affiliation(kill: EnrichedKill, party: Party) -> str | None:
    """The group a pilot flies for: the alliance, else the corporation; None for non-pilots.

    Without a pilot, :func:`who` already named the corporation (or faction).
    """
    if party.character_id is None:
        return None
    if party.alliance_id is not None:
        return entity_link(kill.names, "alliance", party.alliance_id)
    if party.corporation_id is not None:
        return entity_link(kill.names, "corporation", party.corporation_id)
    return None


def ship_name(party: Party | None) -> str | None:
    if party is None or party.ship is None:
        return None
    return md(party.ship.name)
