"""The canonical filter: a tree of all/any/not over leaves, and its JSON form (``"v": 1``).

```
node := {"all": [node, ...]} | {"any": [node, ...]} | {"not": node} | leaf
leaf := {"field": NAME, "op": OP, "value": VALUE}
```
The root carries ``"v": 1`` beside its own keys (``{"v": 1, "all": [...]}``). A leaf's value is
a scalar, a list of scalars (``in``, ``not_in``, ``contains_any``, ``between``) or, for
``within``, ``{"from": SYSTEM_ID, "max": N}``.

:func:`from_json` only checks the shape (what kind of node, which keys) and reports every
problem with its path; what a field accepts is the validator's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from engine.filters.errors import FilterInvalid, Problem

__all__ = [
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "MAX_LEAVES",
    "MAX_LIST",
    "AllOf",
    "AnyOf",
    "Leaf",
    "Node",
    "Not",
    "Scalar",
    "Value",
    "Within",
    "depth",
    "from_json",
    "leaves",
    "to_json",
]

FORMAT_VERSION: Final = 1
MAX_LEAVES: Final = 64
MAX_DEPTH: Final = 8  # nodes on the longest path from the root to a leaf; a lone leaf is 1
MAX_LIST: Final = 500

Scalar: TypeAlias = bool | int | float | str


@dataclass(frozen=True, slots=True)
class Within:
    """``{"from": SYSTEM_ID, "max": N}``: jumps (int) or light years from a system."""

    origin: int
    max: int | float


Value: TypeAlias = Scalar | tuple[Scalar, ...] | Within


@dataclass(frozen=True, slots=True)
class Leaf:
    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node: TypeAlias = AllOf | AnyOf | Not | Leaf


def leaves(node: Node) -> Iterator[Leaf]:
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, Not):
        yield from leaves(node.child)
    else:
        for child in node.children:
            yield from leaves(child)


def depth(node: Node) -> int:
    if isinstance(node, Leaf):
        return 1
    if isinstance(node, Not):
        return 1 + depth(node.child)
    return 1 + max((depth(child) for child in node.children), default=0)


# -- to JSON ---------------------------------------------------------------------------------


def to_json(node: Node) -> dict[str, Any]:
    """The stored form: plain dicts and lists, ``"v": 1`` on the root."""
    return {"v": FORMAT_VERSION, **_node_json(node)}


def _node_json(node: Node) -> dict[str, Any]:
    if isinstance(node, Leaf):
        return {"field": node.field, "op": node.op, "value": _value_json(node.value)}
    if isinstance(node, Not):
        return {"not": _node_json(node.child)}
    key = "all" if isinstance(node, AllOf) else "any"
    return {key: [_node_json(child) for child in node.children]}


def _value_json(value: Value) -> Any:
    if isinstance(value, Within):
        return {"from": value.origin, "max": value.max}
    if isinstance(value, tuple):
        return list(value)
    return value


# -- from JSON -------------------------------------------------------------------------------

_LEAF_KEYS: Final = frozenset({"field", "op", "value"})
_BRANCH_KEYS: Final = ("all", "any", "not")


def from_json(obj: object) -> Node:
    """Decode a stored or user-given tree; raises :class:`FilterInvalid` naming each path.

    ``"v"`` may be left out (hand-written filters); any other version is refused.
    """
    problems: list[Problem] = []
    if isinstance(obj, dict) and "v" in obj:
        version = obj["v"]
        if version != FORMAT_VERSION or isinstance(version, bool):
            problems.append(
                Problem("$.v", f"unsupported filter version {version!r}", 'use "v": 1')
            )
        obj = {k: v for k, v in obj.items() if k != "v"}
    node = _decode(obj, "$", 1, problems)
    if problems or node is None:
        raise FilterInvalid(problems)
    return node


def _decode(obj: object, path: str, level: int, problems: list[Problem]) -> Node | None:
    if level > MAX_DEPTH:
        problems.append(
            Problem(
                path,
                f"nested deeper than {MAX_DEPTH} levels",
                "flatten it: an `all` inside an `all` (or `any` in `any`) can be merged",
            )
        )
        return None
    if not isinstance(obj, dict):
        problems.append(
            Problem(
                path,
                f"expected a condition object, got {_kind(obj)}",
                'write {"field": ..., "op": ..., "value": ...} or {"all"|"any": [...]}'
                ' or {"not": {...}}',
            )
        )
        return None
    branch = [k for k in _BRANCH_KEYS if k in obj]
    if branch:
        key = branch[0]
        extra = sorted(str(k) for k in obj if k != key)
        if extra:
            problems.append(
                Problem(
                    path,
                    f"`{key}` cannot share its object with {_keys(extra)}",
                    f"wrap each condition in its own object inside `{key}`",
                )
            )
            return None
        inner = obj[key]
        if key == "not":
            child = _decode(inner, f"{path}.not", level + 1, problems)
            return Not(child) if child is not None else None
        if not isinstance(inner, list):
            problems.append(
                Problem(f"{path}.{key}", f"expected a list, got {_kind(inner)}",
                        f'write "{key}": [condition, ...]')
            )
            return None
        children = [
            _decode(item, f"{path}.{key}[{i}]", level + 1, problems)
            for i, item in enumerate(inner)
        ]
        decoded = tuple(c for c in children if c is not None)
        if len(decoded) != len(children):
            return None
        return AllOf(decoded) if key == "all" else AnyOf(decoded)
    missing = sorted(_LEAF_KEYS - obj.keys())
    extra = sorted(str(k) for k in obj.keys() - _LEAF_KEYS)
    if extra:
        problems.append(
            Problem(
                path,
                f"unexpected {_keys(extra)}",
                'a condition has exactly "field", "op" and "value"; '
                'combine conditions with "all", "any" or "not"',
            )
        )
        return None
    if missing:
        problems.append(
            Problem(path, f"missing {_keys(missing)}",
                    'a condition has exactly "field", "op" and "value"')
        )
        return None
    field, op = obj["field"], obj["op"]
    if not isinstance(field, str) or not isinstance(op, str):
        bad = "field" if not isinstance(field, str) else "op"
        problems.append(
            Problem(f"{path}.{bad}", f"expected a string, got {_kind(obj[bad])}",
                    f'write "{bad}" as a string, e.g. "value"' if bad == "field"
                    else f'write "{bad}" as a string, e.g. "gte"')
        )
        return None
    value = _decode_value(obj["value"], f"{path}.value", problems)
    return Leaf(field, op, value) if value is not None else None


def _decode_value(obj: object, path: str, problems: list[Problem]) -> Value | None:
    if isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, list):
        items: list[Scalar] = []
        for i, item in enumerate(obj):
            if not isinstance(item, bool | int | float | str):
                problems.append(
                    Problem(f"{path}[{i}]", f"expected a number or a string, got {_kind(item)}",
                            "list items are plain numbers or strings")
                )
                return None
            items.append(item)
        return tuple(items)
    if isinstance(obj, dict) and obj.keys() == {"from", "max"}:
        origin, limit = obj["from"], obj["max"]
        if not isinstance(origin, int) or isinstance(origin, bool):
            problems.append(
                Problem(f"{path}.from", f"expected a system id, got {_kind(origin)}",
                        'write "from": 30000142 (a solar system id)')
            )
            return None
        if not isinstance(limit, int | float) or isinstance(limit, bool):
            problems.append(
                Problem(f"{path}.max", f"expected a number, got {_kind(limit)}",
                        'write "max": 5')
            )
            return None
        return Within(origin, limit)
    problems.append(
        Problem(
            path,
            f"expected a number, a string, a list or {{\"from\", \"max\"}}, got {_kind(obj)}",
            'e.g. "value": 1000000000, "value": [99003214, 99005338] '
            'or "value": {"from": 30000142, "max": 5}',
        )
    )
    return None


def _kind(obj: object) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int | float):
        return f"the number {obj!r}"
    if isinstance(obj, str):
        return f"the string {obj!r}"
    if isinstance(obj, list):
        return "a list"
    if isinstance(obj, dict):
        return "an object with " + _keys(sorted(str(k) for k in obj)) if obj else "an empty object"
    return type(obj).__name__


def _keys(names: list[str]) -> str:
    quoted = [f'"{n}"' for n in names]
    return ("keys " if len(quoted) > 1 else "key ") + ", ".join(quoted)
