"""Case-insensitive name lookup and prefix completion over a sorted list (bisect, no scans)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["NameIndex", "fold_name"]

_T = TypeVar("_T")


def fold_name(name: str) -> str:
    """The comparison key for names: surrounding whitespace dropped, case folded.

    ``casefold`` rather than ``lower`` so that e.g. "ß" matches "SS"; what users type in a
    Discord option rarely matches the SDE's capitalisation.
    """
    return name.strip().casefold()


class NameIndex(Generic[_T]):
    """Items sorted by folded name, for exact lookup and autocomplete.

    Several items may share a name (about a thousand type names repeat): :meth:`find` returns
    the first of them in the order the items were given, and completion lists them all in that
    order.
    """

    __slots__ = ("_items", "_keys")

    def __init__(self, items: Iterable[_T], name: Callable[[_T], str]) -> None:
        """Index ``items``, given in order of preference: among equal names the earlier wins."""
        ranked = list(items)
        keys = [fold_name(n) for n in map(name, ranked)]
        # Sort positions by key with a C-level key function; the sort is stable, so equal names
        # keep the caller's order. Parallel lists let bisect compare plain strings.
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._keys: list[str] = [keys[i] for i in order]
        self._items: list[_T] = [ranked[i] for i in order]

    def __len__(self) -> int:
        return len(self._items)

    def find(self, name: str) -> _T | None:
        """The item named ``name`` (case-insensitive, exact), or None."""
        key = fold_name(name)
        i = bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            return self._items[i]
        return None

    def complete(
        self, prefix: str, limit: int = 25, where: Callable[[_T], bool] | None = None
    ) -> tuple[_T, ...]:
        """Up to ``limit`` items whose name starts with ``prefix``, sorted by name.

        ``where`` filters candidates; the walk stops at the end of the prefix range, so its cost
        is bounded by the number of names sharing the prefix, never the whole index. An empty
        prefix gives the first names alphabetically (what an empty autocomplete box shows).
        """
        if limit <= 0:
            return ()
        key = fold_name(prefix)
        keys = self._keys
        found: list[_T] = []
        for i in range(bisect_left(keys, key), len(keys)):
            if not keys[i].startswith(key):
                break
            item = self._items[i]
            if where is None or where(item):
                found.append(item)
                if len(found) >= limit:
                    break
        return tuple(found)
