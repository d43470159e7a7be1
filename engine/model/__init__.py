"""The killmail types every other part of the engine speaks."""

from engine.model.enriched import (
    AttackerSummary,
    EnrichedKill,
    ModuleCounts,
    Party,
    PartyIds,
    Place,
    TypeInfo,
)
from engine.model.killmail import Attacker, Item, Killmail, Position, Victim, Zkb, zkillboard_url
from engine.model.parse import parse_killmail
from engine.model.rejection import KillmailRejected, RejectReason

__all__ = [
    "Attacker",
    "AttackerSummary",
    "EnrichedKill",
    "Item",
    "Killmail",
    "KillmailRejected",
    "ModuleCounts",
    "Party",
    "PartyIds",
    "Place",
    "Position",
    "RejectReason",
    "TypeInfo",
    "Victim",
    "Zkb",
    "parse_killmail",
    "zkillboard_url",
]
