"""Check a filter tree against the field registry, the universe and the limits.

:func:`validate` returns the tree in canonical form, which is what gets stored and compiled:
an ``all``/``any`` of one condition is that condition, and numbers that are whole are ints
(``1e9`` and ``1000000000`` are the same filter). Every fault is reported, each with its path,
what is wrong and a suggestion; nothing is silently dropped.
"""

from __future__ import annotations

import difflib
import math
from typing import Final

from engine.filters.errors import FilterInvalid, Problem
from engine.filters.fields import FIELDS, OPS, SPACE_BANDS, FieldSpec
from engine.filters.names import checkable, describe, find_id, known
from engine.filters.tree import (
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_LIST,
    AllOf,
    AnyOf,
    Leaf,
    Node,
    Not,
    Scalar,
    Value,
    Within,
    from_json,
)
from engine.filters.world import Atlas

__all__ = ["field_hint", "load", "validate"]

_LIST_OPS: Final = frozenset({"in", "not_in", "contains_any"})
_SYMBOLS: Final = {
    "=": "eq", "==": "eq", "!=": "ne", "<>": "ne", ">": "gt", ">=": "gte", "<": "lt",
    "<=": "lte", "not in": "not_in", "nin": "not_in", "contains any": "contains_any",
}
_MAX_STRING: Final = 100


def load(obj: object, atlas: Atlas | None = None) -> Node:
    """Decode a JSON tree and validate it: the one call for stored or uploaded filters."""
    return validate(from_json(obj), atlas)


def validate(node: Node, atlas: Atlas | None = None) -> Node:
    """The canonical form of ``node``, or :class:`FilterInvalid` listing every fault.

    Without an ``atlas`` ids cannot be checked against the universe; everything else is.
    """
    checker = _Checker(atlas)
    result = checker.node(node, "$", 1)
    leaf_count = sum(1 for _ in _leaves(node))
    if leaf_count > MAX_LEAVES:
        checker.problems.insert(
            0,
            Problem(
                "$",
                f"{leaf_count} conditions, more than the {MAX_LEAVES} allowed",
                "merge equal fields into one `in` list, or split the filter into "
                "several subscriptions",
            ),
        )
    if checker.problems or result is None:
        raise FilterInvalid(checker.problems)
    return result


def _leaves(node: Node) -> list[Leaf]:
    if isinstance(node, Leaf):
        return [node]
    if isinstance(node, Not):
        return _leaves(node.child)
    return [leaf for child in node.children for leaf in _leaves(child)]


class _Checker:
    def __init__(self, atlas: Atlas | None) -> None:
        self.atlas = atlas
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str, suggestion: str) -> None:
        self.problems.append(Problem(path, message, suggestion))

    def node(self, node: Node, path: str, level: int) -> Node | None:
        if level > MAX_DEPTH:
            self.fail(path, f"nested deeper than {MAX_DEPTH} levels",
                      "flatten it: an `all` inside an `all` (or `any` in `any`) can be merged")
            return None
        if isinstance(node, Leaf):
            return self.leaf(node, path)
        if isinstance(node, Not):
            child = self.node(node.child, f"{path}.not", level + 1)
            return Not(child) if child is not None else None
        key = "all" if isinstance(node, AllOf) else "any"
        if not node.children:
            self.fail(f"{path}.{key}", f"`{key}` needs at least one condition",
                      "add a condition or remove the empty list")
            return None
        children = [
            self.node(child, f"{path}.{key}[{i}]", level + 1)
            for i, child in enumerate(node.children)
        ]
        kept = tuple(c for c in children if c is not None)
        if len(kept) != len(children):
            return None
        if len(kept) == 1:
            return kept[0]  # canonical: a group of one is its member
        return AllOf(kept) if key == "all" else AnyOf(kept)

    def leaf(self, leaf: Leaf, path: str) -> Leaf | None:
        spec = FIELDS.get(leaf.field)
        if spec is None:
            self.fail(f"{path}.field", f"unknown field `{leaf.field}`", field_hint(leaf.field))
            return None
        if leaf.op not in OPS:
            self.fail(f"{path}.op", f"unknown op `{leaf.op}`", _op_hint(leaf.op, spec))
            return None
        if leaf.op not in spec.ops:
            self.fail(f"{path}.op", f"`{spec.name}` does not take `{leaf.op}`",
                      _op_hint(leaf.op, spec))
            return None
        value = self.value(spec, leaf.op, leaf.value, f"{path}.value")
        return Leaf(spec.name, leaf.op, value) if value is not None else None

    # -- values -------------------------------------------------------------------------------

    def value(self, spec: FieldSpec, op: str, value: Value, path: str) -> Value | None:
        if op == "within":
            if not isinstance(value, Within):
                self.fail(path, f"`within` takes {{\"from\": SYSTEM_ID, \"max\": N}}, got "
                          f"{_show(value)}", 'e.g. {"from": 30004759, "max": 5}')
                return None
            return self.within(spec, value, path)
        if isinstance(value, Within):
            self.fail(path, f"`{op}` does not take {{\"from\", \"max\"}}",
                      "only `jumps` and `lightyears` measure from a system, with `within`")
            return None
        if op == "between":
            return self.between(spec, value, path)
        if op in _LIST_OPS:
            if not isinstance(value, tuple):
                self.fail(path, f"`{op}` takes a list, got {_show(value)}",
                          f"write [{_show(value)}], or use `{_single(op)}`")
                return None
            if not value:
                self.fail(path, f"`{op}` needs at least one value", "list one or more values")
                return None
            if len(value) > MAX_LIST:
                self.fail(path, f"{len(value)} values, more than the {MAX_LIST} allowed",
                          "split the list over several subscriptions")
                return None
            items = [self.scalar(spec, v, f"{path}[{i}]") for i, v in enumerate(value)]
            if any(item is None for item in items):
                return None
            # Canonical: each value once, in the order first given.
            return tuple(dict.fromkeys(item for item in items if item is not None))
        if isinstance(value, tuple):
            self.fail(path, f"`{op}` takes one value, got a list",
                      "use `in` for a list" if "in" in spec.ops else "give one value")
            return None
        return self.scalar(spec, value, path)

    def between(self, spec: FieldSpec, value: Value, path: str) -> Value | None:
        if not isinstance(value, tuple) or len(value) != 2:
            self.fail(path, f"`between` takes [low, high], got {_show(value)}",
                      "e.g. [100000000, 1000000000]")
            return None
        low = self.scalar(spec, value[0], f"{path}[0]")
        high = self.scalar(spec, value[1], f"{path}[1]")
        if low is None or high is None:
            return None
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            self.fail(path, f"low {low} is above high {high}", f"write [{high}, {low}]")
            return None
        return (low, high)

    def within(self, spec: FieldSpec, value: Within, path: str) -> Within | None:
        origin_ok = self.known_id(spec, value.origin, f"{path}.from")
        limit = self.number(spec, value.max, f"{path}.max")
        if not origin_ok or limit is None:
            return None
        return Within(value.origin, limit)

    def scalar(self, spec: FieldSpec, value: Scalar, path: str) -> Scalar | None:
        kind = spec.kind
        if kind in ("party", "place"):
            if isinstance(value, str):
                self.fail(path, f"expected {_an(describe(spec.ids or 'system'))} id, "
                          f"got the name {value!r}", self._name_hint(spec, value))
                return None
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(path, f"expected {_an(describe(spec.ids or 'system'))} id, got "
                          f"{_show(value)}", "ids are whole numbers, e.g. 30000142")
                return None
            return value if self.known_id(spec, value, path) else None
        if kind == "number":
            return self.number(spec, value, path)
        if kind == "bool":
            if not isinstance(value, bool):
                self.fail(path, f"`{spec.name}` is true or false, got {_show(value)}",
                          "write true or false")
                return None
            return value
        if kind == "space":
            if value not in SPACE_BANDS or not isinstance(value, str):
                close = difflib.get_close_matches(str(value), SPACE_BANDS, n=1)
                self.fail(path, f"unknown space {_show(value)}",
                          f"did you mean `{close[0]}`?" if close
                          else "use one of " + ", ".join(SPACE_BANDS))
                return None
            return value
        # strings: labels, tags
        if not isinstance(value, str) or not value or len(value) > _MAX_STRING:
            self.fail(path, f"expected a word (1 to {_MAX_STRING} characters), got "
                      f"{_show(value)}", 'e.g. "capital"' if spec.name == "tags"
                      else 'e.g. "ganked"')
            return None
        return value

    def number(self, spec: FieldSpec, value: Scalar, path: str) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"`{spec.name}` takes a number, got {_show(value)}",
                      "write a plain number, e.g. 5" if spec.integer
                      else "write a plain number, e.g. 1000000000")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(path, f"{value} is not a number", "write a finite number")
            return None
        whole = isinstance(value, int) or value.is_integer()
        if spec.integer and not whole:
            self.fail(path, f"`{spec.name}` takes a whole number, got {value!r}",
                      f"use {math.floor(value)} or {math.ceil(value)}")
            return None
        low, high = spec.minimum, spec.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(path, f"{value!r} is out of range for `{spec.name}`",
                      f"use a value from {_num(low)} to {_num(high)}")
            return None
        return int(value) if whole else value

    def known_id(self, spec: FieldSpec, value: int, path: str) -> bool:
        kind = spec.ids or "system"
        if value <= 0:
            self.fail(path, f"{value} is not {_an(describe(kind))} id", "ids are positive")
            return False
        if self.atlas is None or not checkable(kind) or known(self.atlas, kind, value):
            return True
        self.fail(path, f"unknown {describe(kind)} id {value}",
                  f"check the id, or write the {describe(kind)}'s name in the text form")
        return False

    def _name_hint(self, spec: FieldSpec, name: str) -> str:
        kind = spec.ids or "system"
        if self.atlas is not None:
            found = find_id(self.atlas, kind, name)
            if found is not None:
                return f"use its id: {found}"
        return "use the id here; the text form looks names up"


def field_hint(name: str) -> str:
    close = difflib.get_close_matches(name, list(FIELDS), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    bare = name.rsplit(".", 1)[-1]
    if f"involved.{bare}" in FIELDS:
        return f"did you mean `involved.{bare}` (or victim./attacker./final_blow.)?"
    return "fields are e.g. victim.alliance, region, value, space, jumps"


def _op_hint(op: str, spec: FieldSpec) -> str:
    mapped = _SYMBOLS.get(op.strip().lower())
    if mapped is not None and mapped in spec.ops:
        return f"did you mean `{mapped}`?"
    if op in ("contains", "contains_any") and "in" in spec.ops:
        return f"use `{'eq' if op == 'contains' else 'in'}`: for `{spec.name}` it already " \
               "means any party"
    close = difflib.get_close_matches(op, sorted(spec.ops), n=1, cutoff=0.5)
    allowed = ", ".join(o for o in OPS if o in spec.ops)
    if close:
        return f"did you mean `{close[0]}`? `{spec.name}` takes {allowed}"
    return f"`{spec.name}` takes {allowed}"


def _single(op: str) -> str:
    return {"in": "eq", "not_in": "ne", "contains_any": "contains"}.get(op, op)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Within):
        return f'{{"from": {value.origin}, "max": {value.max}}}'
    return repr(value)


def _num(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else str(value)


def _an(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun
