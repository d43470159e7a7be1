"""Names to ids and back for the static universe, and "did you mean" for mistyped names.

Characters, corporations and alliances are not in the static data: their names go through an
:class:`~engine.filters.world.EntityLookup` (see ``text.resolve``), except NPC corporations,
which the universe knows.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Final

from engine.filters.fields import IdKind
from engine.filters.world import Atlas, Named

__all__ = [
    "ENTITY_KINDS",
    "checkable",
    "describe",
    "find_id",
    "known",
    "name_of",
    "suggest_name",
]

# Kinds whose ids only ESI knows: any positive integer is accepted offline.
ENTITY_KINDS: Final = frozenset({"character", "corporation", "alliance"})

_NOUN: Final[dict[str, str]] = {
    "type": "item type",
    "group": "item group",
    "category": "item category",
    "system": "solar system",
}


def describe(kind: IdKind) -> str:
    """The kind as a user would say it: "solar system", "alliance", "item group"."""
    return _NOUN.get(kind, kind)


def checkable(kind: IdKind) -> bool:
    return kind not in ENTITY_KINDS


def _by_id(atlas: Atlas, kind: IdKind) -> Callable[[int], Named | None] | None:
    return {
        "system": atlas.system,
        "constellation": atlas.constellation,
        "region": atlas.region,
        "type": atlas.type,
        "group": atlas.group,
        "category": atlas.category,
        "faction": atlas.faction,
        "corporation": atlas.npc_corporation,
    }.get(kind)


def _by_name(atlas: Atlas, kind: IdKind) -> Callable[[str], Named | None] | None:
    return {
        "system": atlas.find_system,
        "constellation": atlas.find_constellation,
        "region": atlas.find_region,
        "type": atlas.find_type,
        "group": atlas.find_group,
        "category": atlas.find_category,
        "faction": atlas.find_faction,
        "corporation": atlas.find_npc_corporation,
    }.get(kind)


def _completer(atlas: Atlas, kind: IdKind) -> Callable[[str, int], Sequence[Named]] | None:
    return {
        "system": atlas.complete_systems,
        "constellation": atlas.complete_constellations,
        "region": atlas.complete_regions,
        "type": atlas.complete_types,
        "group": atlas.complete_groups,
        "category": atlas.complete_categories,
        "faction": atlas.complete_factions,
    }.get(kind)


def known(atlas: Atlas, kind: IdKind, entity_id: int) -> bool:
    """Whether the universe has this id; always True for kinds it cannot check."""
    if not checkable(kind):
        return True
    lookup = _by_id(atlas, kind)
    return lookup is None or lookup(entity_id) is not None


def find_id(atlas: Atlas, kind: IdKind, name: str) -> int | None:
    """The id of the thing of this kind with this exact name (case-insensitive), if local."""
    lookup = _by_name(atlas, kind)
    found = lookup(name) if lookup is not None else None
    return found.id if found is not None else None


def name_of(atlas: Atlas, kind: IdKind, entity_id: int) -> str | None:
    """The universe name for an id, only when that name leads back to the same id.

    About a thousand type names repeat; for those the id is the only unambiguous spelling.
    """
    lookup = _by_id(atlas, kind)
    found = lookup(entity_id) if lookup is not None else None
    if found is None or find_id(atlas, kind, found.name) != entity_id:
        return None
    return found.name


def suggest_name(atlas: Atlas, kind: IdKind, name: str) -> str | None:
    """A universe name close to a mistyped one, or None.

    Candidates are the names sharing the longest prefix that has any: bounded work, never a
    scan of all 50,000 type names.
    """
    complete = _completer(atlas, kind)
    if complete is None or not name.strip():
        return None
    wanted = name.strip()
    pool: list[str] = []
    for size in range(min(len(wanted), 4), 0, -1):
        pool = [n.name for n in complete(wanted[:size], 200)]
        if len(pool) >= 5 or size == 1:
            break
    by_fold = {n.casefold(): n for n in pool}
    close = difflib.get_close_matches(wanted.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None
