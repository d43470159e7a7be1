"""Plain values the repositories return; nothing here knows about SQLAlchemy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

__all__ = ["Participant", "ParticipantRole", "StoredKill", "StoredSubscription"]

# "both" when the entity is on both sides of one kill (an awox, a corporation shooting its own).
ParticipantRole: TypeAlias = Literal["attacker", "victim", "both"]


@dataclass(frozen=True, slots=True)
class Participant:
    """A character, corporation, alliance or faction on a kill, and on which side."""

    entity_id: int
    role: ParticipantRole


@dataclass(frozen=True, slots=True)
class StoredKill:
    """A killmail as the store remembers it: identity, when, where and its ISK value.

    ``killmail_time`` is timezone-aware; the store hands it back in UTC.
    """

    killmail_id: int
    hash: str
    killmail_time: datetime
    solar_system_id: int
    value: float | None
    too_old: bool = False  # stored, but past the notify age when it arrived
    labels: tuple[str, ...] = ()
    points: int | None = None
    source: str | None = None  # the feed that delivered it first
    sequence_id: int | None = None  # its R2Z2 sequence, when it came from R2Z2
    body: bytes | None = None  # the parsed killmail as JSON, to enrich it again later
    # Who took part, one per entity (see engine.store.participants): indexed so that a
    # participant's kills are found without reading bodies.
    participants: tuple[Participant, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    """One subscription row: which kills a destination wants (``filter``, the JSON tree with
    ``"v": 1``, the options applied on top of it left out) and how to post them."""

    id: int
    guild_id: int | None  # None for a member's DMs
    destination: str  # "channel:<id>" or "user:<id>"
    owner_id: int  # who created it
    filter: dict[str, Any]
    text: str | None  # the filter as typed, when it was typed
    preset: str | None  # the /watch preset it came from
    style: str
    mention: str | None  # "here", "everyone", "role:<id>"
    mention_cooldown_seconds: int
    max_age_minutes: int | None
    min_value: float | None
    paused: bool
    pause_reason: str | None
    created_at: datetime
    updated_at: datetime
