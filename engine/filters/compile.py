"""Compile a canonical tree to a predicate over enriched kills: closures, no interpretation.

A predicate takes the kill and "now" as POSIX seconds (only ``age_minutes`` reads it).
Semantics, for every field: ``ne`` is ``not eq`` and ``not_in`` is ``not in``. A comparison
with a value the kill lacks (no zkb value, no wormhole class, no points) is false, so its
``ne``/``not_in`` is true. Set fields (parties, labels, tags) hold ``eq v`` when v is in the
set and ``in V`` when they share a value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from engine.filters.fields import FIELDS, FieldSpec
from engine.filters.plan import ALWAYS_COST, estimate, leaf_values
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Scalar
from engine.filters.world import Ranges
from engine.model import EnrichedKill

__all__ = ["Predicate", "compile_tree"]

Predicate: TypeAlias = Callable[[EnrichedKill, float], bool]

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_NEGATED: Final = {"ne": "eq", "not_in": "in"}


def compile_tree(node: Node, ranges: Ranges) -> Predicate:
    """A predicate for a canonical (validated) tree; ``ranges`` gives the within-sets."""
    return _compile(node, ranges, negate=False)


def _compile(node: Node, ranges: Ranges, negate: bool) -> Predicate:
    # Negations are pushed down to the leaves (De Morgan), where each has a direct
    # closure: no extra call per `not`.
    if isinstance(node, Leaf):
        return _leaf(node, ranges, negate)
    if isinstance(node, Not):
        return _compile(node.child, ranges, not negate)
    if isinstance(node, AllOf) != negate:
        ordered = _ordered_for_and(node, ranges, negate)
        return _conjunction(tuple(_compile(child, ranges, negate) for child in ordered))
    return _disjunction(tuple(_compile(child, ranges, negate) for child in node.children))


def _ordered_for_and(node: AllOf | AnyOf, ranges: Ranges, negate: bool) -> list[Node]:
    """Children of a conjunction, the likeliest to fail first.

    The child the index files the subscription under (the cheapest plan) is nearly always
    true for the kills that reach the predicate, so it goes last; the others go by how few
    kills they are estimated to pass.
    """
    costs = [estimate(child, ranges, negate) for child in node.children]
    order = sorted(range(len(costs)), key=costs.__getitem__)
    if costs[order[0]] < ALWAYS_COST:
        order.append(order.pop(0))
    return [node.children[i] for i in order]


def _conjunction(children: tuple[Predicate, ...]) -> Predicate:
    if len(children) == 2:
        first, second = children
        return lambda kill, now: first(kill, now) and second(kill, now)

    # A plain loop: all() over a generator costs twice as much on this hot path.
    def every(kill: EnrichedKill, now: float) -> bool:
        for predicate in children:  # noqa: SIM110
            if not predicate(kill, now):
                return False
        return True

    return every


def _disjunction(children: tuple[Predicate, ...]) -> Predicate:
    if len(children) == 2:
        first, second = children
        return lambda kill, now: first(kill, now) or second(kill, now)

    def some(kill: EnrichedKill, now: float) -> bool:
        for predicate in children:  # noqa: SIM110
            if predicate(kill, now):
                return True
        return False

    return some


def _leaf(leaf: Leaf, ranges: Ranges, negate: bool) -> Predicate:
    spec = FIELDS[leaf.field]
    op = leaf.op
    if op in _NEGATED:
        op, negate = _NEGATED[op], not negate
    if op in ("eq", "in", "contains", "contains_any", "within") and not spec.clocked:
        values = leaf_values(leaf, ranges)
        if spec.kind == "range":
            if negate:
                return lambda kill, now: kill.place.system_id not in values
            return lambda kill, now: kill.place.system_id in values
        if spec.kind in ("party", "strings"):
            return _member_of_sets(spec, values, negate)
        return _member(spec, values, negate)
    base = _age(op, leaf.value) if spec.clocked else _ordered(spec, op, leaf.value)
    if negate:
        return lambda kill, now: not base(kill, now)
    return base


def _ordered(spec: FieldSpec, op: str, bound: object) -> Predicate:
    (read,) = spec.getters
    if op == "between":
        assert isinstance(bound, tuple)
        low, high = bound

        def between(kill: EnrichedKill, now: float) -> bool:
            got = read(kill)
            return got is not None and low <= got <= high

        return between
    compare = _COMPARE[op]

    def ordered(kill: EnrichedKill, now: float) -> bool:
        got = read(kill)
        return got is not None and compare(got, bound)

    return ordered


def _member(spec: FieldSpec, values: frozenset[Scalar], negate: bool) -> Predicate:
    (read,) = spec.getters
    if len(values) == 1:
        (only,) = values
        if negate:
            return lambda kill, now: read(kill) != only
        return lambda kill, now: read(kill) == only
    if negate:
        return lambda kill, now: read(kill) not in values
    return lambda kill, now: read(kill) in values


def _member_of_sets(spec: FieldSpec, values: frozenset[Scalar], negate: bool) -> Predicate:
    getters = spec.getters
    if len(getters) == 1:
        (read,) = getters
        if len(values) == 1:
            (only,) = values
            if negate:
                return lambda kill, now: only not in read(kill)
            return lambda kill, now: only in read(kill)
        if negate:
            return lambda kill, now: values.isdisjoint(read(kill))
        return lambda kill, now: not values.isdisjoint(read(kill))
    first, second = getters
    if negate:
        return lambda kill, now: values.isdisjoint(first(kill)) and values.isdisjoint(
            second(kill)
        )
    return lambda kill, now: not (
        values.isdisjoint(first(kill)) and values.isdisjoint(second(kill))
    )


def _age(op: str, value: object) -> Predicate:
    if op == "between":
        assert isinstance(value, tuple)
        low, high = value
        return lambda kill, now: low <= (now - kill.killmail.time.timestamp()) / 60.0 <= high
    compare = _COMPARE[op]
    return lambda kill, now: compare((now - kill.killmail.time.timestamp()) / 60.0, value)
