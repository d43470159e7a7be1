"""Ready-made filters for the common watches; each returns a canonical tree.

The ids passed in are trusted to exist (the caller resolved them from names); the trees are
still canonical, so they can be stored, rendered and compiled like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Within

__all__ = [
    "CAPITAL_GROUPS",
    "FREIGHTER_GROUPS",
    "SUPERCAPITAL_GROUPS",
    "EntityKind",
    "big_kills",
    "capital_radar",
    "freighter_ganks",
    "kills",
    "kills_and_losses",
    "losses",
    "proximity",
    "supercapital_losses",
]

EntityKind: TypeAlias = Literal["character", "corporation", "alliance", "faction"]

# Ship group ids from the SDE (groups.csv).
TITAN: Final = 30
SUPERCARRIER: Final = 659
SUPERCAPITAL_GROUPS: Final = (TITAN, SUPERCARRIER)
# Carrier, Dreadnought, Force Auxiliary, Lancer Dreadnought, then the supercapitals.
CAPITAL_GROUPS: Final = (547, 485, 1538, 4594, *SUPERCAPITAL_GROUPS)
FREIGHTER_GROUPS: Final = (513, 902)  # Freighter, Jump Freighter
CAPSULE_GROUP: Final = 29


def _one_or_list(field: str, values: Sequence[int]) -> Leaf:
    if not values:
        raise ValueError(f"{field}: at least one id is needed")
    if len(values) == 1:
        return Leaf(field, "eq", values[0])
    return Leaf(field, "in", tuple(values))


def _all(*nodes: Node) -> Node:
    return nodes[0] if len(nodes) == 1 else AllOf(nodes)


def kills_and_losses(kind: EntityKind, entity_id: int) -> Node:
    """Every kill the entity took part in, on either side."""
    return Leaf(f"involved.{kind}", "eq", entity_id)


def losses(kind: EntityKind, entity_id: int) -> Node:
    return Leaf(f"victim.{kind}", "eq", entity_id)


def kills(kind: EntityKind, entity_id: int) -> Node:
    """Kills the entity made; its own losses (awoxes by its members) are not its kills."""
    return AllOf(
        (Leaf(f"attacker.{kind}", "eq", entity_id), Leaf(f"victim.{kind}", "ne", entity_id))
    )


def big_kills(min_value: float, region: int | None = None) -> Node:
    """Kills worth at least ``min_value`` ISK, optionally in one region."""
    value = int(min_value) if float(min_value).is_integer() else min_value
    leaf = Leaf("value", "gte", value)
    return leaf if region is None else AllOf((Leaf("region", "eq", region), leaf))


def proximity(
    systems: Sequence[int],
    jumps: int,
    *,
    exclude_corporations: Sequence[int] = (),
    exclude_alliances: Sequence[int] = (),
) -> Node:
    """Kills within ``jumps`` stargate jumps of any of ``systems``.

    The exclusions drop kills in which the given corporations or alliances took part at all
    (as victim or attacker): those are on the owner's own kills-and-losses feed already, and
    a home watch is about strangers.
    """
    if not systems:
        raise ValueError("proximity: at least one system is needed")
    near = [Leaf("jumps", "within", Within(s, jumps)) for s in systems]
    parts: list[Node] = [near[0] if len(near) == 1 else AnyOf(tuple(near))]
    if exclude_corporations:
        parts.append(Not(_one_or_list("involved.corporation", exclude_corporations)))
    if exclude_alliances:
        parts.append(Not(_one_or_list("involved.alliance", exclude_alliances)))
    return _all(*parts)


def capital_radar(
    system: int, lightyears: float, groups: Sequence[int] = CAPITAL_GROUPS
) -> Node:
    """Capitals (by default capital and supercapital groups) on the attacking side within
    ``lightyears`` of ``system``; capsule losses and NPC kills left out."""
    reach = int(lightyears) if float(lightyears).is_integer() else lightyears
    return AllOf(
        (
            Leaf("lightyears", "within", Within(system, reach)),
            _one_or_list("attacker.ship_group", groups),
            Leaf("victim.ship_group", "ne", CAPSULE_GROUP),
            Not(Leaf("npc", "eq", True)),
        )
    )


def freighter_ganks() -> Node:
    """Freighters and jump freighters killed in highsec by players."""
    return AllOf(
        (
            Leaf("victim.ship_group", "in", FREIGHTER_GROUPS),
            Leaf("space", "eq", "highsec"),
            Not(Leaf("npc", "eq", True)),
        )
    )


def supercapital_losses() -> Node:
    """Titans and supercarriers lost anywhere."""
    return Leaf("victim.ship_group", "in", SUPERCAPITAL_GROUPS)
