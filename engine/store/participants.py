"""Who took part in a kill, as the store indexes it: one :class:`Participant` per entity.

The store answers "the kills of X" from these rows (``kill_participants``) instead of reading
bodies, so they are worked out once, when the pipeline builds the record it stores.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.model import Attacker, Killmail, Victim
from engine.store.records import Participant, ParticipantRole

__all__ = ["participants_of"]


def participants_of(killmail: Killmail) -> tuple[Participant, ...]:
    """The victim's and every attacker's character, corporation, alliance and faction, each
    entity once: ``victim``, ``attacker``, or ``both`` when it is on both sides."""
    roles: dict[int, ParticipantRole] = dict.fromkeys(_ids(killmail.victim), "victim")
    for attacker in killmail.attackers:
        for entity_id in _ids(attacker):
            role = roles.get(entity_id)
            if role is None:
                roles[entity_id] = "attacker"
            elif role == "victim":
                roles[entity_id] = "both"
    return tuple(Participant(entity_id, role) for entity_id, role in roles.items())


def _ids(party: Victim | Attacker) -> Iterator[int]:
    for entity_id in (
        party.character_id,
        party.corporation_id,
        party.alliance_id,
        party.faction_id,
    ):
        if entity_id is not None:
            yield entity_id
