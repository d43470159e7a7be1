"""Addresses an embed points to: zKillboard pages and EVE's image server."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, TypeAlias

from engine.model import zkillboard_url

__all__ = [
    "EntityKind",
    "entity_icon",
    "kill_url",
    "portrait",
    "related_url",
    "ship_render",
    "system_url",
    "zkb_entity_url",
]

EntityKind: TypeAlias = Literal["character", "corporation", "alliance", "faction"]

ZKILLBOARD: Final = "https://zkillboard.com"
IMAGES: Final = "https://images.evetech.net"


def kill_url(killmail_id: int) -> str:
    return zkillboard_url(killmail_id)


def zkb_entity_url(kind: EntityKind, entity_id: int) -> str:
    return f"{ZKILLBOARD}/{kind}/{entity_id}/"


def system_url(system_id: int) -> str:
    return f"{ZKILLBOARD}/system/{system_id}/"


def related_url(system_id: int, when: datetime) -> str:
    """zKillboard's battle report for a system around the hour of ``when`` (UTC)."""
    return f"{ZKILLBOARD}/related/{system_id}/{when:%Y%m%d%H}00/"


def ship_render(type_id: int, size: int = 128) -> str:
    return f"{IMAGES}/types/{type_id}/render?size={size}"


def portrait(character_id: int, size: int = 64) -> str:
    return f"{IMAGES}/characters/{character_id}/portrait?size={size}"


def entity_icon(
    kind: Literal["character", "corporation", "alliance"], entity_id: int, size: int = 64
) -> str:
    """A character's portrait, or the logo of a corporation or an alliance."""
    if kind == "character":
        return portrait(entity_id, size)
    route = "alliances" if kind == "alliance" else "corporations"
    return f"{IMAGES}/{route}/{entity_id}/logo?size={size}"
