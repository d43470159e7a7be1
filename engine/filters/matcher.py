"""The indexed matcher: which subscriptions want a kill, without evaluating all of them.

Each subscription is compiled once and filed under the keys of its :class:`~.plan.Plan`:
inverted indexes per dimension (entity ids, ship types/groups/categories and weapons per role,
systems, constellations, regions, space bands, tags, labels, the npc/solo/awox flags, the
hour; "within N jumps / X ly" sets are expanded into system keys), value thresholds in a
sorted list, and keys guarded by a minimum value (``region = X and value >= Y``) in sorted
lists per key. A kill gathers candidates from the entries its own facts point at, adds the
always-evaluate list (filters with no such promise), and only those predicates run. Adding,
replacing or removing a subscription touches only its own entries.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

import msgspec

from engine.filters.compile import Predicate, compile_tree
from engine.filters.fields import FIELDS
from engine.filters.plan import Plan, plan
from engine.filters.tree import Node
from engine.filters.world import Ranges
from engine.model import EnrichedKill

__all__ = ["Match", "Matcher", "Subscription"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A filter and where its kills go (``"channel:123"``, ``"user:456"``).

    ``tree`` must be canonical: the output of ``validate``/``load``/``text.parse``.
    """

    id: int
    destination: str
    tree: Node


class Match(msgspec.Struct, frozen=True):
    """One post for one destination: every subscription of it that matched, ascending.

    A msgspec struct: one is made per destination per kill, and its init is C.
    """

    destination: str
    subscription_ids: tuple[int, ...]


def _scalar(getter: Callable[[EnrichedKill], Any]) -> Callable[[EnrichedKill], tuple[Any, ...]]:
    return lambda kill: (getter(kill),)


def _dimensions() -> dict[str, Callable[[EnrichedKill], Iterable[Hashable]]]:
    """How a kill's keys are read, per index dimension."""
    readers: dict[str, Callable[[EnrichedKill], Iterable[Hashable]]] = {}
    for spec in FIELDS.values():
        if spec.kind == "party" and len(spec.index) == 1:
            (dimension,) = spec.index
            (readers[dimension],) = spec.getters
    readers["system"] = _scalar(attrgetter("place.system_id"))
    readers["constellation"] = _scalar(attrgetter("place.constellation_id"))
    readers["region"] = _scalar(attrgetter("place.region_id"))
    readers["space"] = _scalar(attrgetter("place.space"))
    for flag in ("npc", "solo", "awox"):
        readers[flag] = _scalar(attrgetter(flag))
    readers["hour"] = _scalar(attrgetter("killmail.time.hour"))
    readers["tags"] = attrgetter("victim_tags")
    readers["labels"] = attrgetter("labels")
    return readers


_READERS: Final = _dimensions()


@dataclass(frozen=True, slots=True)
class _Entry:
    subscription: Subscription
    predicate: Predicate
    plan: Plan | None


class _Thresholds:
    """Subscription ids by a minimum value, ascending: those a value reaches are a prefix."""

    __slots__ = ("ids", "values")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.ids: list[int] = []

    def __bool__(self) -> bool:
        return bool(self.ids)

    def add(self, value: float, sid: int) -> None:
        at = bisect_right(self.values, value)
        self.values.insert(at, value)
        self.ids.insert(at, sid)

    def remove(self, value: float, sid: int) -> None:
        low = bisect_left(self.values, value)
        at = self.ids.index(sid, low, bisect_right(self.values, value))
        del self.values[at]
        del self.ids[at]

    def reached_by(self, value: float) -> list[int]:
        return self.ids[: bisect_right(self.values, value)]


_Reader = Callable[[EnrichedKill], Iterable[Hashable]]


class Matcher:
    """Subscriptions indexed for matching. Single-threaded: use it from one event loop.

    ``clock`` gives "now" in POSIX seconds when :meth:`match` is not told (``age_minutes``).
    """

    def __init__(self, ranges: Ranges, clock: Callable[[], float] = time.time) -> None:
        self._ranges = ranges
        self._clock = clock
        self._entries: dict[int, _Entry] = {}
        self._predicates: dict[int, Predicate] = {}
        self._destinations: dict[int, str] = {}
        # dimension -> key -> ids; and the same for plans guarded by a minimum value.
        self._index: dict[str, dict[Hashable, set[int]]] = {}
        self._guarded: dict[str, dict[Hashable, _Thresholds]] = {}
        self._active: list[tuple[_Reader, dict[Hashable, set[int]]]] = []
        self._active_guarded: list[tuple[_Reader, dict[Hashable, _Thresholds]]] = []
        self._thresholds = _Thresholds()
        self._always: set[int] = set()

    # -- maintenance ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, subscription_id: object) -> bool:
        return subscription_id in self._entries

    def get(self, subscription_id: int) -> Subscription | None:
        entry = self._entries.get(subscription_id)
        return entry.subscription if entry is not None else None

    @property
    def always_evaluated(self) -> int:
        """How many subscriptions have no index key and run for every kill."""
        return len(self._always)

    def add(self, subscription: Subscription) -> None:
        """Add a subscription, or replace the one with the same id."""
        predicate = compile_tree(subscription.tree, self._ranges)
        found = plan(subscription.tree, self._ranges)
        if subscription.id in self._entries:
            self.remove(subscription.id)
        self._entries[subscription.id] = _Entry(subscription, predicate, found)
        sid = subscription.id
        # Flat maps for the hot path: one dict lookup per candidate.
        self._predicates[sid] = predicate
        self._destinations[sid] = subscription.destination
        if found is None:
            self._always.add(sid)
            return
        guard = found.guard
        for dimension, values in found.keys.items():
            if guard is None:
                index = self._index.get(dimension)
                if index is None:
                    index = self._index[dimension] = {}
                    self._refresh_active()
                for value in values:
                    holders = index.get(value)
                    if holders is None:
                        index[value] = {sid}
                    else:
                        holders.add(sid)
            else:
                guarded = self._guarded.get(dimension)
                if guarded is None:
                    guarded = self._guarded[dimension] = {}
                    self._refresh_active()
                for value in values:
                    ranked = guarded.get(value)
                    if ranked is None:
                        ranked = guarded[value] = _Thresholds()
                    ranked.add(guard, sid)
        if found.threshold is not None:
            self._thresholds.add(_floor(found), sid)

    def update(self, subscription: Subscription) -> None:
        """Replace a subscription's filter or destination (same as :meth:`add`)."""
        self.add(subscription)

    def remove(self, subscription_id: int) -> bool:
        """Forget a subscription; False if it was not there."""
        entry = self._entries.pop(subscription_id, None)
        if entry is None:
            return False
        del self._predicates[subscription_id], self._destinations[subscription_id]
        found = entry.plan
        if found is None:
            self._always.discard(subscription_id)
            return True
        emptied = False
        guard = found.guard
        for dimension, values in found.keys.items():
            if guard is None:
                index = self._index[dimension]
                for value in values:
                    holders = index[value]
                    holders.discard(subscription_id)
                    if not holders:
                        del index[value]
                if not index:
                    del self._index[dimension]
                    emptied = True
            else:
                guarded = self._guarded[dimension]
                for value in values:
                    ranked = guarded[value]
                    ranked.remove(guard, subscription_id)
                    if not ranked:
                        del guarded[value]
                if not guarded:
                    del self._guarded[dimension]
                    emptied = True
        if emptied:
            self._refresh_active()
        if found.threshold is not None:
            self._thresholds.remove(_floor(found), subscription_id)
        return True

    def _refresh_active(self) -> None:
        self._active = [(_READERS[d], index) for d, index in self._index.items()]
        self._active_guarded = [(_READERS[d], index) for d, index in self._guarded.items()]

    # -- matching -------------------------------------------------------------------------

    def candidates(self, kill: EnrichedKill) -> set[int]:
        """Subscriptions worth evaluating for ``kill`` (a superset of those that match)."""
        found = set(self._always)
        for read, index in self._active:
            for key in read(kill):
                holders = index.get(key)
                if holders is not None:
                    found.update(holders)
        value = kill.value
        if value is not None:
            for read, guarded in self._active_guarded:
                for key in read(kill):
                    ranked = guarded.get(key)
                    if ranked is not None:
                        found.update(ranked.reached_by(value))
            if self._thresholds:
                found.update(self._thresholds.reached_by(value))
        return found

    def matching(self, kill: EnrichedKill, now: float | None = None) -> list[int]:
        """Ids of the subscriptions whose filter matches ``kill``, ascending."""
        when = self._clock() if now is None else now
        predicates = self._predicates
        return [sid for sid in sorted(self.candidates(kill)) if predicates[sid](kill, when)]

    def match(self, kill: EnrichedKill, now: float | None = None) -> list[Match]:
        """One :class:`Match` per destination wanting ``kill``, in order of their first
        subscription id; each names every subscription of that destination that matched."""
        by_destination: dict[str, list[int]] = {}
        destinations = self._destinations
        for sid in self.matching(kill, now):
            destination = destinations[sid]
            found = by_destination.get(destination)
            if found is None:
                by_destination[destination] = [sid]
            else:
                found.append(sid)
        return [Match(d, tuple(ids)) for d, ids in by_destination.items()]

    def match_linear(self, kill: EnrichedKill, now: float | None = None) -> list[int]:
        """Every predicate on ``kill``, no index: the reference the index must agree with."""
        when = self._clock() if now is None else now
        return [sid for sid, p in sorted(self._predicates.items()) if p(kill, when)]


def _floor(found: Plan) -> float:
    """Where a plan's threshold is filed: a guard can only raise it."""
    assert found.threshold is not None
    return found.threshold if found.guard is None else max(found.threshold, found.guard)
