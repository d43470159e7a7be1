"""What goes wrong with a filter, said so that a user can fix it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FilterError", "FilterInvalid", "FilterSyntaxError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault: where in the tree (``$.all[1].value``), what is wrong, how to fix it."""

    path: str
    message: str
    suggestion: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}; {self.suggestion}"


class FilterError(ValueError):
    """Any reason a filter cannot be used; ``str()`` is fit to show the user."""


class FilterInvalid(FilterError):
    """The tree is malformed or asks for something impossible; ``problems`` lists each fault."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(map(str, self.problems)) or "invalid filter")


class FilterSyntaxError(FilterError):
    """The text form could not be read; ``column`` (1-based) points at the fault.

    ``str()`` gives the message, then the text and a caret under the column.
    """

    def __init__(self, message: str, text: str, column: int) -> None:
        self.message = message
        self.text = text
        self.column = max(1, min(column, len(text) + 1))
        super().__init__(f"{message} (column {self.column})\n{self.caret}")

    @property
    def caret(self) -> str:
        """Two lines: the filter text, and ``^`` under the faulty column."""
        # Tabs and newlines would shift the caret: show them as spaces.
        flat = self.text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        return f"{flat}\n{' ' * (self.column - 1)}^"
