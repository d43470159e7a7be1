"""What a kill must have for a filter to possibly match it: the keys the matcher indexes on.

A :class:`Plan` is a promise: if the filter matches a kill, the kill has at least one of the
plan's keys (``dimension -> values``, e.g. ``"attacker.alliance" -> {99003214}``) or a value
of at least ``threshold``. The matcher evaluates a subscription only for kills that keep the
promise. A filter with no such promise (``not npc``, ``hour = 20``) has no plan and is
evaluated for every kill.

For ``all`` one child's plan suffices, so the cheapest is chosen (by a rough estimate of how
many kills carry each key), and a value threshold among its children becomes a guard on it;
``any`` needs every child's plan, merged; ``not`` is pushed inward (``not x not_in V`` is
``x in V``; De Morgan for groups).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.filters.fields import FIELDS
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Scalar, Within
from engine.filters.world import Ranges

__all__ = ["ALWAYS_COST", "Plan", "estimate", "leaf_values", "plan"]

# Estimated kills per thousand carrying one key of a dimension: only the order matters.
_KEY_COST: Final[Mapping[str, float]] = {
    "character": 0.02, "corporation": 0.1, "alliance": 0.3, "faction": 3.0,
    "ship_type": 4.0, "ship_group": 25.0, "ship_category": 300.0, "weapon_type": 5.0,
    "system": 0.3, "constellation": 3.0, "region": 20.0, "space": 250.0,
    "tags": 100.0, "labels": 150.0, "hour": 1000.0 / 24,
}
# Kills per thousand with the flag set; the rest have it unset.
_FLAG_COST: Final[Mapping[str, float]] = {"npc": 150.0, "solo": 130.0, "awox": 10.0}
_DOMAINS: Final[Mapping[str, tuple[Hashable, ...]]] = {
    "hour": tuple(range(24)), "npc": (True, False), "solo": (True, False), "awox": (True, False),
}
_ROLE_FACTOR: Final = {"victim": 1.0, "final_blow": 1.0, "attacker": 5.0}
ALWAYS_COST: Final = 1000.0  # every kill: a plan costing this much is no better than none
_POSITIVE: Final = frozenset({"eq", "in", "contains", "contains_any", "within"})
_NEGATIVE: Final = frozenset({"ne", "not_in"})
_ORDERED: Final = frozenset({"gt", "gte", "lt", "lte", "between"})
_COMPARE: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


@dataclass(frozen=True, slots=True)
class Plan:
    """The promise: a kill that matches has one of ``keys`` or a value >= ``threshold``,
    and, when there is a ``guard``, a value >= ``guard`` too (``region = X and value >= Y``
    is filed under X but only for kills worth Y)."""

    keys: Mapping[str, frozenset[Hashable]]
    threshold: float | None
    guard: float | None
    cost: float


def plan(node: Node, ranges: Ranges) -> Plan | None:
    """The cheapest promise ``node`` makes, or None when it must be evaluated on every kill."""
    found = _plan(node, ranges, negated=False)
    if found is None or found.cost >= ALWAYS_COST:
        return None
    return found


def estimate(node: Node, ranges: Ranges, negated: bool = False) -> float:
    """Roughly how many kills per thousand could match ``node`` (its negation)."""
    found = _plan(node, ranges, negated)
    return ALWAYS_COST if found is None else min(found.cost, ALWAYS_COST)


def leaf_values(leaf: Leaf, ranges: Ranges) -> frozenset[Scalar]:
    """The set a membership leaf tests against (``eq``/``in``, their negations, ``within``)."""
    value = leaf.value
    if isinstance(value, Within):
        if leaf.field == "jumps":
            return frozenset(ranges.within_jumps(value.origin, int(value.max)))
        return frozenset(ranges.within_lightyears(value.origin, float(value.max)))
    if isinstance(value, tuple):
        return frozenset(value)
    return frozenset((value,))


def _plan(node: Node, ranges: Ranges, negated: bool) -> Plan | None:
    if isinstance(node, Not):
        return _plan(node.child, ranges, not negated)
    if isinstance(node, Leaf):
        return _leaf(node, ranges, negated)
    # Under a negation, all becomes any (and vice versa): not (a and b) = not a or not b.
    conjunction = isinstance(node, AllOf) != negated
    plans = [_plan(child, ranges, negated) for child in node.children]
    if conjunction:
        usable = [p for p in plans if p is not None]
        if not usable:
            return None
        # Every child's promise holds, so every guard does: keep the strictest.
        guards = [p.guard for p in usable if p.guard is not None]
        guard = max(guards) if guards else None
        return min((_make(p.keys, p.threshold, guard) for p in usable), key=_cost)
    assert isinstance(node, AllOf | AnyOf)
    if any(p is None for p in plans):
        return None
    return _merge([p for p in plans if p is not None])


def _cost(p: Plan) -> float:
    return p.cost


def _make(
    keys: Mapping[str, frozenset[Hashable]], threshold: float | None, guard: float | None
) -> Plan:
    cost = sum(_keys_cost(d, v) for d, v in keys.items())
    if guard is not None:
        cost *= _threshold_cost(guard) / ALWAYS_COST
    if threshold is not None:
        cost += _threshold_cost(threshold if guard is None else max(threshold, guard))
    return Plan(keys, threshold, guard, cost)


def _merge(plans: list[Plan]) -> Plan:
    keys: dict[str, frozenset[Hashable]] = {}
    for p in plans:
        for dimension, values in p.keys.items():
            keys[dimension] = keys[dimension] | values if dimension in keys else values
    thresholds = [p.threshold for p in plans if p.threshold is not None]
    guards = [p.guard for p in plans if p.guard is not None]
    # One unguarded alternative lifts the guard: any branch may be the one that matched.
    guard = min(guards) if len(guards) == len(plans) else None
    return _make(keys, min(thresholds) if thresholds else None, guard)


def _leaf(leaf: Leaf, ranges: Ranges, negated: bool) -> Plan | None:
    spec = FIELDS[leaf.field]
    op = leaf.op
    domain = _DOMAINS.get(spec.name)
    if domain is not None:
        return _closed(leaf, negated, domain)
    if negated:
        if op not in _NEGATIVE:
            return None
        op = "eq"  # not (x ne v) is x eq v; not (x not_in V) is x in V: the same values
    elif op in _NEGATIVE:
        return None
    if spec.name == "value":
        if op in ("gt", "gte", "eq"):
            threshold = float(leaf.value)  # type: ignore[arg-type]
        elif op == "between" and isinstance(leaf.value, tuple):
            threshold = float(leaf.value[0])
        else:
            return None
        return _make({}, threshold, threshold)
    if not spec.index or (op not in _POSITIVE and op != "eq"):
        return None
    values: frozenset[Hashable] = leaf_values(leaf, ranges)
    return _make({dimension: values for dimension in spec.index}, None, None)


def _closed(leaf: Leaf, negated: bool, domain: tuple[Hashable, ...]) -> Plan:
    """Every kill has an hour (0-23) and each flag (true or false): any condition on them,
    negated or not, is a set of keys ("hour >= 20" is 20..23, "not npc" is npc = false)."""
    op, bound = leaf.op, leaf.value
    if op in _ORDERED:
        keys = {key for key in domain if _in_order(key, op, bound)}
    else:
        listed = set(bound) if isinstance(bound, tuple) else {bound}
        keys = {key for key in domain if (key in listed) != (op in _NEGATIVE)}
    if negated:
        keys = set(domain) - keys
    (dimension,) = FIELDS[leaf.field].index
    return _make({dimension: frozenset(keys)}, None, None)


def _in_order(key: Any, op: str, bound: Any) -> bool:
    if op == "between":
        low, high = bound
        return bool(low <= key <= high)
    return bool(_COMPARE[op](key, bound))


def _keys_cost(dimension: str, values: frozenset[Hashable]) -> float:
    share = _FLAG_COST.get(dimension)
    if share is not None:
        return sum((share if flag else ALWAYS_COST - share for flag in values), 0.0)
    role, _, attribute = dimension.rpartition(".")
    return len(values) * _KEY_COST[attribute] * _ROLE_FACTOR.get(role, 1.0)


def _threshold_cost(threshold: float) -> float:
    # Kill values spread over decades; about half of all kills are worth 10m or more.
    return min(ALWAYS_COST, 500.0 * float((1e7 / max(threshold, 1.0)) ** 0.6))
