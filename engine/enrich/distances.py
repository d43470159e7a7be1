"""Distances between systems: stargate jumps and light years, and "systems within" sets.

``jumps(a, b)`` is a breadth-first search over the stargate graph, kept per origin (bounded
LRU), so every later question about the same origin is a dict lookup. The "within" sets are
frozensets, also cached (bounded LRU), because the filter matcher indexes subscriptions on
them: a proximity watch becomes "the kill's system is one of these". A "within N jumps" set
searches only N jumps deep; a light-year set scans only the systems whose x is in range.

Light years are only measured between systems of the same coordinate frame. The SDE places
k-space (ids 30xxxxxx, Pochven and Zarzakh included), J-space (31xxxxxx), Abyssal pockets
(32xxxxxx) and the other instanced ranges in separate frames whose coordinates happen to
overlap; a distance across frames means nothing (no jump drive crosses it), so it is infinite.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Final, Generic, TypeVar

from engine.enrich.space import LIGHT_YEAR_M
from engine.enrich.universe import SolarSystem, Universe

__all__ = ["Distances"]

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")

_FRAME: Final = 1_000_000  # system id // _FRAME names its coordinate frame


class _Lru(Generic[_K, _V]):
    """A small LRU map; cachetools would do, but this keeps the hot path to two dict calls."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class _Frame:
    """One coordinate frame's systems as (id, x, y, z), ascending x, with the xs apart."""

    __slots__ = ("rows", "xs")

    def __init__(self, rows: list[tuple[int, float, float, float]]) -> None:
        self.rows = sorted(rows, key=lambda row: row[1])
        self.xs = [row[1] for row in self.rows]


class Distances:
    """Jumps and light years over one universe. Not thread-safe; one per event loop is enough.

    ``origins`` bounds the cached breadth-first searches (each ~5,000 entries for k-space);
    ``sets`` bounds the cached "within" sets.
    """

    def __init__(self, universe: Universe, *, origins: int = 64, sets: int = 4096) -> None:
        self._universe = universe
        self._bfs: _Lru[int, Mapping[int, int]] = _Lru(origins)
        self._within_jumps: _Lru[tuple[int, int], frozenset[int]] = _Lru(sets)
        self._within_ly: _Lru[tuple[int, float], frozenset[int]] = _Lru(sets)
        # Coordinates by frame, sorted by x, so a light-year query scans only a slab.
        frames: dict[int, list[tuple[int, float, float, float]]] = {}
        for s in universe.systems():
            frames.setdefault(s.id // _FRAME, []).append((s.id, s.x, s.y, s.z))
        self._frames = {frame: _Frame(rows) for frame, rows in frames.items()}

    def jumps(self, a: int, b: int) -> int | None:
        """Fewest stargate jumps from ``a`` to ``b``; None when unknown or unreachable."""
        if self._universe.system(a) is None or self._universe.system(b) is None:
            return None
        return self._distances_from(a).get(b)

    def lightyears(self, a: int, b: int) -> float:
        """Straight-line light years; ``inf`` across coordinate frames.

        Raises ``KeyError`` for a system id the universe does not know.
        """
        first, second = self._system(a), self._system(b)
        if first.id // _FRAME != second.id // _FRAME:
            return math.inf
        return math.dist((first.x, first.y, first.z), (second.x, second.y, second.z)) / LIGHT_YEAR_M

    def within_jumps(self, origin: int, jumps: int) -> frozenset[int]:
        """Systems at most ``jumps`` stargate jumps from ``origin`` (itself included).

        Empty for an unknown origin or a negative count; a system without gates is within
        0 jumps of itself only. The search stops at ``jumps``: a 5-jump set costs what is
        within 5 jumps, not the whole graph.
        """
        if jumps < 0 or self._universe.system(origin) is None:
            return frozenset()
        key = (origin, jumps)
        cached = self._within_jumps.get(key)
        if cached is None:
            full = self._bfs.get(origin)
            if full is not None:
                cached = frozenset(system for system, d in full.items() if d <= jumps)
            else:
                cached = frozenset(self._search(origin, jumps))
            self._within_jumps.put(key, cached)
        return cached

    def within_lightyears(self, origin: int, lightyears: float) -> frozenset[int]:
        """Systems at most ``lightyears`` from ``origin`` in its coordinate frame (itself too).

        Empty for an unknown origin or a negative distance.
        """
        system = self._universe.system(origin)
        if system is None or lightyears < 0 or math.isnan(lightyears):
            return frozenset()
        key = (origin, float(lightyears))
        cached = self._within_ly.get(key)
        if cached is None:
            limit = lightyears * LIGHT_YEAR_M
            limit_sq = limit * limit
            x, y, z = system.x, system.y, system.z
            frame = self._frames[origin // _FRAME]
            # Systems sorted by x: only the slab |dx| <= limit needs the full distance.
            low = bisect_left(frame.xs, x - limit)
            high = bisect_right(frame.xs, x + limit)
            cached = frozenset(
                sid
                for sid, sx, sy, sz in frame.rows[low:high]
                if (sx - x) ** 2 + (sy - y) ** 2 + (sz - z) ** 2 <= limit_sq
            )
            self._within_ly.put(key, cached)
        return cached

    def _system(self, system_id: int) -> SolarSystem:
        system = self._universe.system(system_id)
        if system is None:
            raise KeyError(f"unknown solar system {system_id}")
        return system

    def _distances_from(self, origin: int) -> Mapping[int, int]:
        cached = self._bfs.get(origin)
        if cached is None:
            cached = self._search(origin, None)
            self._bfs.put(origin, cached)
        return cached

    def _search(self, origin: int, limit: int | None) -> dict[int, int]:
        """Breadth-first over stargates, to ``limit`` jumps (None: everywhere reachable)."""
        neighbours = self._universe.neighbours
        distance = {origin: 0}
        frontier = [origin]
        step = 0
        while frontier and (limit is None or step < limit):
            step += 1
            reached = []
            for here in frontier:
                for there in neighbours(here):
                    if there not in distance:
                        distance[there] = step
                        reached.append(there)
            frontier = reached
        return distance
