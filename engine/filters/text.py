"""The readable text form: parse it to the canonical tree, naming the column of any fault.

```
victim.alliance in ("Goonswarm Federation", 1354830081) and value >= 1b and not npc
attacker.ship_group in (Titan, Supercarrier) and lightyears from 1DQ1-A <= 7
region = Delve and jumps from 1DQ1-A <= 5
```
Grammar (keywords case-insensitive; ``and`` binds tighter than ``or``)::

    expr      := conj ("or" conj)*
    conj      := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | condition
    condition := FIELD                                   -- a true/false field: npc
               | FIELD (= != < <= > >= eq ne gt gte lt lte contains) value
               | FIELD ("in" | "not in" | "contains any") list
               | FIELD "between" value "and" value
               | ("jumps" | "lightyears") "from" value ("<=" | "within") value
    list      := "(" value ("," value)* ")" | value
    value     := "quoted string" | WORD | WORD+          -- names: words joined, The Forge

Numbers take k/m/b/t (``1.5b``). A bare word or quoted string where an id belongs is a name:
systems, constellations, regions, types, groups, categories, factions and NPC corporations
resolve from the universe; characters, corporations and alliances through an
:class:`~engine.filters.world.EntityLookup`. A quoted string is always a name, never a number.

Parsing is two-phase so that the one network call happens between pure steps:
:func:`parse_syntax` (sync) reads the text, :meth:`Syntax.entity_names` lists the names to look
up, :func:`build` (sync) makes the validated tree. :func:`parse` does all three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn, TypeAlias

from engine.filters.errors import FilterInvalid, FilterSyntaxError
from engine.filters.fields import FIELDS, OPS, FieldSpec
from engine.filters.lexer import KEYWORDS, Token, parse_number, tokenize
from engine.filters.names import ENTITY_KINDS, describe, find_id, suggest_name
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Scalar, Value, Within
from engine.filters.validate import field_hint, validate
from engine.filters.world import Atlas, EntityLookup

__all__ = ["Operand", "Syntax", "build", "parse", "parse_syntax"]

_WORD_OPS: Final = {
    "=": "eq", "==": "eq", "eq": "eq", "!=": "ne", "<>": "ne", "ne": "ne",
    ">": "gt", "gt": "gt", ">=": "gte", "gte": "gte", "<": "lt", "lt": "lt",
    "<=": "lte", "lte": "lte", "contains": "contains",
}
_MAX_NESTING: Final = 32  # parentheses and `not`s: a bound on recursion, far above MAX_DEPTH


@dataclass(frozen=True, slots=True)
class Operand:
    """A value as written: ``quoted`` strings are names; ``column`` is where it starts."""

    text: str
    quoted: bool
    column: int


@dataclass(frozen=True, slots=True)
class _Cond:
    spec: FieldSpec
    op: str
    operands: tuple[Operand, ...]
    column: int


@dataclass(frozen=True, slots=True)
class _Group:
    kind: str  # "all" | "any"
    children: tuple[_Syntax, ...]


@dataclass(frozen=True, slots=True)
class _Negation:
    child: _Syntax


_Syntax: TypeAlias = _Cond | _Group | _Negation


@dataclass(frozen=True, slots=True)
class Syntax:
    """The text read into conditions; names are not resolved yet."""

    text: str
    root: _Syntax

    def entity_names(self) -> list[str]:
        """Names that only the entity lookup can resolve (characters, corporations,
        alliances), deduplicated, in order of appearance."""
        seen: dict[str, str] = {}
        for cond in _conds(self.root):
            if cond.spec.ids in ENTITY_KINDS and cond.spec.kind == "party":
                for operand in cond.operands:
                    if operand.quoted or parse_number(operand.text) is None:
                        seen.setdefault(operand.text.casefold(), operand.text)
        return list(seen.values())


def _conds(node: _Syntax) -> list[_Cond]:
    if isinstance(node, _Cond):
        return [node]
    if isinstance(node, _Negation):
        return _conds(node.child)
    return [c for child in node.children for c in _conds(child)]


async def parse(text: str, atlas: Atlas, entities: EntityLookup | None = None) -> Node:
    """Text to the canonical, validated tree; :class:`FilterSyntaxError` on any fault.

    Without ``entities`` (offline), character, corporation and alliance names are refused
    with a hint to use the id; NPC corporations still resolve from the universe.
    """
    syntax = parse_syntax(text)
    wanted = syntax.entity_names()
    found: Mapping[str, Sequence[tuple[str, int]]] = {}
    if wanted and entities is not None:
        found = await entities.lookup(wanted)
    return build(syntax, atlas, found, online=entities is not None)


def parse_syntax(text: str) -> Syntax:
    """Read the text (no lookups); :class:`FilterSyntaxError` points at the column."""
    parser = _Parser(text, tokenize(text))
    root = parser.expr(0)
    token = parser.peek()
    if token.kind != "end":
        parser.fail(token, f"expected `and`, `or` or the end, found {_describe(token)}")
    return Syntax(text, root)


# -- phase 1: text to syntax ------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.position = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.position += 1
        return token

    def fail(self, token: Token, message: str) -> NoReturn:
        raise FilterSyntaxError(message, self.text, token.column)

    def expr(self, nesting: int) -> _Syntax:
        parts = [self.conj(nesting)]
        while self.peek().is_keyword("or"):
            self.take()
            parts.append(self.conj(nesting))
        return parts[0] if len(parts) == 1 else _Group("any", tuple(parts))

    def conj(self, nesting: int) -> _Syntax:
        parts = [self.unary(nesting)]
        while self.peek().is_keyword("and"):
            self.take()
            parts.append(self.unary(nesting))
        return parts[0] if len(parts) == 1 else _Group("all", tuple(parts))

    def unary(self, nesting: int) -> _Syntax:
        token = self.peek()
        if nesting > _MAX_NESTING:
            self.fail(token, f"nested more than {_MAX_NESTING} levels deep")
        if token.is_keyword("not"):
            self.take()
            return _Negation(self.unary(nesting + 1))
        if token.kind == "(":
            self.take()
            inner = self.expr(nesting + 1)
            closing = self.peek()
            if closing.kind != ")":
                self.fail(closing, f"expected `)`, found {_describe(closing)}")
            self.take()
            return inner
        return self.condition()

    def condition(self) -> _Cond:
        token = self.take()
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            self.fail(token, f"expected a field, found {_describe(token)}")
        spec = FIELDS.get(token.text.lower())
        if spec is None:
            self.fail(token, f"unknown field `{token.text}`; {field_hint(token.text.lower())}")
        if spec.kind == "range":
            return self.within(spec, token)
        following = self.peek()
        if spec.kind == "bool" and self._ends_condition(following):
            return _Cond(spec, "eq", (Operand("true", False, token.column),), token.column)
        op = self.operator(spec)
        names = spec.ids is not None
        if op in ("in", "not_in", "contains_any"):
            operands = self.list(names)
        elif op == "between":
            low = self.value()
            if not self.peek().is_keyword("and"):
                self.fail(self.peek(), f"expected `and` in `between … and …`, found "
                          f"{_describe(self.peek())}")
            self.take()
            operands = (low, self.value())
        else:
            operands = (self.value(names),)
        return _Cond(spec, op, operands, token.column)

    def within(self, spec: FieldSpec, field: Token) -> _Cond:
        if not self.peek().is_keyword("from"):
            self.fail(self.peek(), f"write `{spec.name} from SYSTEM <= N`, found "
                      f"{_describe(self.peek())}")
        self.take()
        origin = self.value(names=True)
        token = self.take()
        if not (token.kind == "op" and token.text == "<=") and not token.is_keyword("within"):
            self.fail(token, f"expected `<=` after the system, found {_describe(token)}")
        return _Cond(spec, "within", (origin, self.value()), field.column)

    def operator(self, spec: FieldSpec) -> str:
        token = self.take()
        word = token.text.lower() if token.kind in ("op", "word") else ""
        op: str | None = _WORD_OPS.get(word)
        if word in ("in", "between", "not_in", "contains_any"):
            op = word
        elif word == "not" and self.peek().is_keyword("in"):
            self.take()
            op = "not_in"
        elif word == "contains" and self.peek().is_keyword("any"):
            self.take()
            op = "contains_any"
        if op is None:
            self.fail(token, f"expected an operator after `{spec.name}` "
                      f"(=, !=, <, <=, >, >=, in, not in, between, contains), found "
                      f"{_describe(token)}")
        if op not in spec.ops:
            allowed = ", ".join(_show_op(o) for o in OPS if o in spec.ops)
            self.fail(token, f"`{spec.name}` does not take `{_show_op(op)}`; it takes {allowed}")
        return op

    def list(self, names: bool) -> tuple[Operand, ...]:
        if self.peek().kind != "(":
            return (self.value(names),)
        self.take()
        items = [self.value(names)]
        while self.peek().kind == ",":
            self.take()
            if self.peek().kind == ")":
                break  # a trailing comma
            items.append(self.value(names))
        closing = self.peek()
        if closing.kind != ")":
            self.fail(closing, f"expected `,` or `)` in the list, found {_describe(closing)}")
        self.take()
        return tuple(items)

    def value(self, names: bool = False) -> Operand:
        """One value; with ``names``, bare words run together into one ("The Forge") up to
        a keyword or punctuation. Numbers, flags, bands and labels are single words."""
        token = self.peek()
        if token.kind == "string":
            self.take()
            return Operand(token.text, True, token.column)
        if token.kind != "word" or token.text.lower() in ("and", "or"):
            self.fail(token, f"expected a value, found {_describe(token)}")
        words = [self.take()]
        while names and self.peek().kind == "word" and self.peek().text.lower() not in KEYWORDS:
            words.append(self.take())
        return Operand(" ".join(w.text for w in words), False, token.column)

    @staticmethod
    def _ends_condition(token: Token) -> bool:
        return token.kind in (")", "end") or token.is_keyword("and", "or")


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the filter"
    if token.kind == "string":
        return f'"{token.text}"'
    return f"`{token.text}`"


def _show_op(op: str) -> str:
    return {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
            "not_in": "not in", "contains_any": "contains any"}.get(op, op)


# -- phase 2: syntax to tree ------------------------------------------------------------------


def build(
    syntax: Syntax,
    atlas: Atlas,
    entities: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    *,
    online: bool = True,
) -> Node:
    """Resolve names and validate; ``entities`` is what the entity lookup answered.

    ``online`` False says no lookup was possible, which changes the hint for entity names.
    """
    builder = _Builder(syntax.text, atlas, entities or {}, online)
    tree = builder.node(syntax.root, "$")
    try:
        return validate(tree, atlas)
    except FilterInvalid as exc:
        problem = exc.problems[0]
        column = builder.column_for(problem.path)
        raise FilterSyntaxError(f"{problem.message}; {problem.suggestion}", syntax.text,
                                column) from None


class _Builder:
    def __init__(
        self,
        text: str,
        atlas: Atlas,
        entities: Mapping[str, Sequence[tuple[str, int]]],
        online: bool,
    ) -> None:
        self.text = text
        self.atlas = atlas
        self.entities = {name.casefold(): found for name, found in entities.items()}
        self.online = online
        self.columns: dict[str, int] = {}  # tree path -> column, to place validation faults

    def column_for(self, path: str) -> int:
        best = ""
        for known in self.columns:
            if (path == known or path.startswith((known + ".", known + "["))) and len(
                known
            ) > len(best):
                best = known
        return self.columns.get(best, 1)

    def fail(self, message: str, column: int) -> NoReturn:
        raise FilterSyntaxError(message, self.text, column)

    def node(self, node: _Syntax, path: str) -> Node:
        if isinstance(node, _Negation):
            return Not(self.node(node.child, f"{path}.not"))
        if isinstance(node, _Group):
            children = tuple(
                self.node(child, f"{path}.{node.kind}[{i}]")
                for i, child in enumerate(node.children)
            )
            return AllOf(children) if node.kind == "all" else AnyOf(children)
        self.columns[path] = node.column
        return Leaf(node.spec.name, node.op, self.value(node, f"{path}.value"))

    def value(self, cond: _Cond, path: str) -> Value:
        spec, operands = cond.spec, cond.operands
        if cond.op == "within":
            origin, limit = operands
            self.columns[f"{path}.from"] = origin.column
            self.columns[f"{path}.max"] = limit.column
            return Within(self.identifier(spec, origin), self.number(spec, limit))
        values = []
        for i, operand in enumerate(operands):
            self.columns[f"{path}[{i}]" if len(operands) > 1 or _is_list(cond.op)
                         else path] = operand.column
            values.append(self.scalar(spec, operand))
        if _is_list(cond.op) or cond.op == "between":
            return tuple(values)
        return values[0]

    def scalar(self, spec: FieldSpec, operand: Operand) -> Scalar:
        if spec.kind in ("party", "place"):
            return self.identifier(spec, operand)
        if spec.kind == "number":
            return self.number(spec, operand)
        if spec.kind == "bool":
            word = operand.text.lower()
            if operand.quoted or word not in ("true", "false"):
                self.fail(f"`{spec.name}` is true or false, found {_quote(operand)}",
                          operand.column)
            return word == "true"
        if spec.kind == "space":
            return operand.text.lower()
        return operand.text

    def number(self, spec: FieldSpec, operand: Operand) -> int | float:
        number = None if operand.quoted else parse_number(operand.text)
        if number is None:
            self.fail(f"`{spec.name}` takes a number (like 5, 2.5 or 1.5b), found "
                      f"{_quote(operand)}", operand.column)
        return number

    def identifier(self, spec: FieldSpec, operand: Operand) -> int:
        kind = spec.ids or "system"
        if not operand.quoted:
            number = parse_number(operand.text)
            if isinstance(number, int):
                return number
        local = find_id(self.atlas, kind, operand.text)
        if local is not None:
            return local
        if kind in ENTITY_KINDS:
            return self.entity(kind, operand)
        close = suggest_name(self.atlas, kind, operand.text)
        hint = f"did you mean `{close}`?" if close else "check the spelling, or use the id"
        self.fail(f"no {describe(kind)} named {_quote(operand)}; {hint}", operand.column)

    def entity(self, kind: str, operand: Operand) -> int:
        if not self.online:
            self.fail(f"cannot look up the {kind} {_quote(operand)} offline; use its id",
                      operand.column)
        for category, entity_id in self.entities.get(operand.text.casefold(), ()):
            if category.lower().rstrip("s") == kind:
                return entity_id
        self.fail(f"no {kind} named {_quote(operand)}; check the exact spelling, or use the id",
                  operand.column)


def _is_list(op: str) -> bool:
    return op in ("in", "not_in", "contains_any")


def _quote(operand: Operand) -> str:
    return f'"{operand.text}"' if operand.quoted else f"`{operand.text}`"
