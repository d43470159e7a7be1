"""Whose side a subscription is on: a kill of its entity is a win, a loss of its entity is not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from engine.model import EnrichedKill, PartyIds

__all__ = ["Outcome", "Perspective"]

Outcome: TypeAlias = Literal["kill", "loss"]


@dataclass(frozen=True, slots=True)
class Perspective:
    """The entity ids a subscription watches (most watch one; a coalition may list several)."""

    characters: frozenset[int] = field(default_factory=frozenset)
    corporations: frozenset[int] = field(default_factory=frozenset)
    alliances: frozenset[int] = field(default_factory=frozenset)
    factions: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        kind: Literal["character", "corporation", "alliance", "faction"],
        ids: int | Iterable[int],
    ) -> Perspective:
        """The perspective of entities of one kind: ``Perspective.of("alliance", 99005338)``."""
        chosen = frozenset((ids,) if isinstance(ids, int) else ids)
        return cls(**{f"{kind}s": chosen})

    def __bool__(self) -> bool:
        return bool(self.characters or self.corporations or self.alliances or self.factions)

    def outcome(self, kill: EnrichedKill) -> Outcome | None:
        """A loss when the victim is ours, else a kill when an attacker is, else None.

        The loss wins when both hold: an awox is, for the corporation watched, a member lost.
        """
        if self._among(kill.victim_ids):
            return "loss"
        if self._among(kill.attacker_ids):
            return "kill"
        return None

    def _among(self, ids: PartyIds) -> bool:
        return not (
            self.characters.isdisjoint(ids.characters)
            and self.corporations.isdisjoint(ids.corporations)
            and self.alliances.isdisjoint(ids.alliances)
            and self.factions.isdisjoint(ids.factions)
        )
