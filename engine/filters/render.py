"""Canonical tree back to the text form, names in place of ids where they are unambiguous.

What :func:`render` prints, :func:`engine.filters.text.parse` reads back to the same tree
(given the same names): compound children are parenthesised, names are quoted whenever a bare
word would read differently, and an id whose name is unknown or shared stays a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from engine.filters.fields import FIELDS
from engine.filters.lexer import KEYWORDS, looks_numeric
from engine.filters.names import ENTITY_KINDS, name_of
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Scalar, Value, Within
from engine.filters.world import Atlas

__all__ = ["format_number", "quote", "render"]

_SYMBOL: Final = {
    "eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in",
    "not_in": "not in", "contains": "contains", "contains_any": "contains any",
}
_BARE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-.':/+#]*")
_SUFFIXES: Final = (("t", 10**12), ("b", 10**9), ("m", 10**6), ("k", 10**3))


def render(node: Node, atlas: Atlas, names: Mapping[int, str] | None = None) -> str:
    """The text form of a canonical tree.

    ``names`` maps character, corporation and alliance ids to names (e.g. from the names
    cache); ids missing from it print as numbers.
    """
    return _Renderer(atlas, names or {}).node(node)


class _Renderer:
    def __init__(self, atlas: Atlas, names: Mapping[int, str]) -> None:
        self.atlas = atlas
        self.names = names

    def node(self, node: Node) -> str:
        if isinstance(node, Leaf):
            return self.leaf(node)
        if isinstance(node, Not):
            return f"not {self.child(node.child)}"
        joiner = " and " if isinstance(node, AllOf) else " or "
        return joiner.join(self.child(child) for child in node.children)

    def child(self, node: Node) -> str:
        text = self.node(node)
        return f"({text})" if isinstance(node, AllOf | AnyOf) else text

    def leaf(self, leaf: Leaf) -> str:
        spec = FIELDS[leaf.field]
        value = leaf.value
        if isinstance(value, Within):
            return (f"{leaf.field} from {self.scalar(leaf.field, value.origin)} <= "
                    f"{format_number(value.max)}")
        if spec.kind == "bool" and leaf.op == "eq" and value is True:
            return leaf.field
        if leaf.op == "between" and isinstance(value, tuple):
            low, high = value
            return f"{leaf.field} between {self.scalar(leaf.field, low)} and " \
                   f"{self.scalar(leaf.field, high)}"
        return f"{leaf.field} {_SYMBOL[leaf.op]} {self.value(leaf.field, value)}"

    def value(self, field: str, value: Value) -> str:
        if isinstance(value, tuple):
            return "(" + ", ".join(self.scalar(field, v) for v in value) + ")"
        assert not isinstance(value, Within)
        return self.scalar(field, value)

    def scalar(self, field: str, value: Scalar) -> str:
        spec = FIELDS[field]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float) and spec.ids is not None:
            kind = spec.ids
            name = self.names.get(int(value)) if kind in ENTITY_KINDS else None
            if name is None:
                name = name_of(self.atlas, kind, int(value))
            return quote(name) if name is not None else str(value)
        if isinstance(value, int | float):
            return format_number(value, suffix=field == "value")
        return quote(value)


def quote(text: str) -> str:
    """``text`` as one value: bare when it reads back as itself, else double-quoted."""
    if _BARE.fullmatch(text) and text.lower() not in KEYWORDS and not looks_numeric(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def format_number(value: int | float, *, suffix: bool = False) -> str:
    """Plain digits, or with ``suffix`` an exact k/m/b/t form: 1500000000 -> ``1.5b``."""
    if isinstance(value, float):
        return repr(value)
    if suffix:
        for letter, scale in _SUFFIXES:
            if abs(value) >= scale and value % (scale // 1000) == 0:
                shown = Decimal(value) / Decimal(scale)
                if abs(shown) < 1000:
                    return f"{shown.normalize():f}{letter}"
    return str(value)
