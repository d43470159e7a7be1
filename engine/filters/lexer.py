"""Tokens of the filter text form, each with the column it starts at (1-based).

Words run up to whitespace or one of ``( ) , = ! < > "``; an apostrophe starts a quoted
string only at the start of a token, so ``Sansha's Nation`` needs no quotes. Numbers are words
too (``1.5b``, ``-0.4``, ``30000142``): what a word means depends on the field it is compared to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final, Literal, TypeAlias

from engine.filters.errors import FilterSyntaxError

__all__ = [
    "KEYWORDS",
    "MAX_TEXT",
    "Token",
    "TokenKind",
    "looks_numeric",
    "parse_number",
    "tokenize",
]

TokenKind: TypeAlias = Literal["word", "string", "op", "(", ")", ",", "end"]

MAX_TEXT: Final = 4000
KEYWORDS: Final = frozenset({
    "and", "or", "not", "in", "between", "contains", "any", "from", "within", "true", "false",
    "eq", "ne", "gt", "gte", "lt", "lte", "not_in", "contains_any",
})
_OPERATORS: Final = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_STOP: Final = frozenset(' \t\r\n(),=!<>"')
_NUMBER: Final = re.compile(
    r"[+-]?(?:\d[\d_]*)(?:\.\d+)?(?:e[+-]?\d+)?(?P<suffix>[kmbt])?", re.IGNORECASE
)
_SCALE: Final = {"k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}
_PUNCTUATION: Final[dict[str, TokenKind]] = {"(": "(", ")": ")", ",": ","}
# Beyond this a number is kept as a float: "1e999999" must not build a million-digit int.
_BIG: Final = Decimal("1e18")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written; for strings, the unquoted, unescaped content
    column: int

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_TEXT:
        raise FilterSyntaxError(f"the filter is longer than {MAX_TEXT} characters", text,
                                MAX_TEXT + 1)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        column = i + 1
        punctuation = _PUNCTUATION.get(char)
        if punctuation is not None:
            tokens.append(Token(punctuation, char, column))
            i += 1
            continue
        operator = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if operator is not None:
            tokens.append(Token("op", operator, column))
            i += len(operator)
            continue
        if char == "!":
            raise FilterSyntaxError("`!` must be followed by `=`", text, column)
        if char in "\"'":
            content, i = _string(text, i)
            tokens.append(Token("string", content, column))
            continue
        start = i
        while i < n and text[i] not in _STOP:
            i += 1
        tokens.append(Token("word", text[start:i], column))
    tokens.append(Token("end", "", n + 1))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise FilterSyntaxError(f"this {quote}quoted{quote} name is never closed", text, start + 1)


def looks_numeric(word: str) -> bool:
    return _NUMBER.fullmatch(word) is not None


def parse_number(word: str) -> int | float | None:
    """``1.5b`` -> 1500000000, ``0.5`` -> 0.5; whole results are ints. None if not a number."""
    match = _NUMBER.fullmatch(word)
    if match is None:
        return None
    suffix = match.group("suffix")
    plain = word.lstrip("+-").replace("_", "")
    if plain.isdigit():
        return -int(plain) if word.startswith("-") else int(plain)
    digits = word[: -1] if suffix else word
    try:
        number = Decimal(digits.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None
    if suffix:
        number *= _SCALE[suffix.lower()]
    if abs(number) >= _BIG:
        big = float(number)
        return big if big not in (float("inf"), float("-inf")) else None
    if number == number.to_integral_value():
        return int(number)
    return float(number)
