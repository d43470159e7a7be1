"""Hypothesis strategies for valid filter trees, with values drawn from the recorded kills
(so random filters do match real kills) and a few strangers (so some do not)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hypothesis import strategies as st

from engine.enrich.universe import Universe
from engine.filters.fields import FIELDS, SPACE_BANDS, FieldSpec
from engine.filters.tree import MAX_DEPTH, AllOf, AnyOf, Leaf, Node, Not, Scalar, Within, depth
from engine.model import EnrichedKill

__all__ = ["TRICKY_NAMES", "Pools", "trees"]

# Entity names that a renderer must quote or escape to read back.
TRICKY_NAMES = ("Goonswarm Federation", "Sansha's", 'He said "hi"', "and", "123", "x\\y",
                "The  Forge", "1.5b", "not in")


_COMMON = ("value", "value", "region", "system", "attacker.alliance", "victim.ship_group",
           "tags", "npc")


@dataclass(frozen=True)
class Pools:
    entities: tuple[int, ...]
    factions: tuple[int, ...]
    types: tuple[int, ...]
    groups: tuple[int, ...]
    categories: tuple[int, ...]
    systems: tuple[int, ...]
    origins: tuple[int, ...]  # k-space systems with gates, for jumps/lightyears
    constellations: tuple[int, ...]
    regions: tuple[int, ...]
    labels: tuple[str, ...]
    tags: tuple[str, ...]

    @classmethod
    def from_kills(cls, kills: Iterable[EnrichedKill], universe: Universe) -> Pools:
        kills = list(kills)

        def ids(attribute: str) -> tuple[int, ...]:
            found: set[int] = set()
            for k in kills:
                for role in (k.victim_ids, k.attacker_ids):
                    found |= getattr(role, attribute)
            return tuple(sorted(found))

        systems = sorted({k.place.system_id for k in kills})
        gated = [s for s in systems if universe.neighbours(s)]
        return cls(
            entities=tuple(sorted(set(ids("characters")[:60] + ids("corporations")[:60]
                                      + ids("alliances")[:60]))),
            factions=ids("factions"),
            types=ids("ship_types") + ids("weapon_types")[:40],
            groups=ids("ship_groups"),
            categories=ids("ship_categories"),
            systems=(*tuple(systems), 31000005, 30000142),
            origins=tuple(gated[:40]),
            constellations=tuple(sorted({k.place.constellation_id for k in kills
                                         if k.place.constellation_id})),
            regions=tuple(sorted({k.place.region_id for k in kills if k.place.region_id})),
            labels=(*tuple(sorted({lb for k in kills for lb in k.labels})), "#:5+"),
            tags=tuple(sorted({t for k in kills for t in k.victim_tags})),
        )


def _scalars(spec: FieldSpec, pools: Pools) -> st.SearchStrategy[Scalar]:
    if spec.kind in ("party", "place"):
        pool = {
            "character": pools.entities, "corporation": pools.entities,
            "alliance": pools.entities, "faction": pools.factions, "type": pools.types,
            "group": pools.groups, "category": pools.categories, "system": pools.systems,
            "constellation": pools.constellations, "region": pools.regions,
        }[spec.ids or "system"]
        return st.sampled_from(pool)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "space":
        return st.sampled_from(SPACE_BANDS)
    if spec.kind == "strings":
        return st.sampled_from(pools.labels if spec.name == "labels" else pools.tags)
    name = spec.name
    if name == "security":
        return st.integers(-10, 10).map(lambda n: n / 10)
    if name == "value":
        return st.sampled_from((0, 1e6, 1e7, 5e7, 1e8, 1.5e9, 1e9, 1e10, 123456.5, 1234567))
    if name == "wormhole_class":
        return st.sampled_from((1, 2, 3, 4, 5, 6, 12, 13))
    if name == "points":
        return st.integers(0, 12)
    if name == "attackers":
        return st.sampled_from((0, 1, 2, 3, 5, 10, 50, 1000))
    if name == "hour":
        return st.integers(0, 23)
    if name == "age_minutes":
        return st.sampled_from((0, 10, 60.5, 1e5, 1e6, 5e6))
    raise AssertionError(name)


@st.composite
def _leaf(draw: st.DrawFn, pools: Pools) -> Leaf:
    # Every field can come up; value and the common index keys come up more often, so that
    # value guards on indexed keys are exercised.
    name = draw(st.one_of(st.sampled_from(sorted(FIELDS)), st.sampled_from(_COMMON)))
    spec = FIELDS[name]
    op = draw(st.sampled_from(sorted(spec.ops)))
    if op == "within":
        origin = draw(st.sampled_from(pools.origins))
        limit = (draw(st.integers(0, 6)) if spec.name == "jumps"
                 else draw(st.sampled_from((0, 2.5, 5, 7, 10))))
        return Leaf(spec.name, op, Within(origin, limit))
    values = _scalars(spec, pools)
    if op == "between":
        low, high = sorted(draw(st.lists(values, min_size=2, max_size=2)))
        return Leaf(spec.name, op, (low, high))
    if op in ("in", "not_in", "contains_any"):
        return Leaf(spec.name, op, tuple(draw(st.lists(values, min_size=1, max_size=4,
                                                       unique=True))))
    return Leaf(spec.name, op, draw(values))


def trees(pools: Pools) -> st.SearchStrategy[Node]:
    """Canonical trees: groups of 2-3, at most a dozen leaves, depth well under the limit."""
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        groups = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(groups.map(AllOf), groups.map(AnyOf), children.map(Not))

    return st.recursive(_leaf(pools), extend, max_leaves=10).filter(
        lambda tree: depth(tree) <= MAX_DEPTH
    )
