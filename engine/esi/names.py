"""Names for IDs (the parties of a kill) and IDs for names (what users type), cached twice.

`NameResolver` serves the pipeline: `resolve()` returns the names it can get within a time
budget and never raises, so ESI never holds a kill back; lookups that miss the budget keep
running and fill the caches for the next kill and for `known()`. `IdResolver` serves commands
and the filter language: exact names to IDs.

Both keep a bounded in-memory cache in front of a persistent store behind a protocol
(`NameStore`, `IdStore`), so a restart does not ask ESI again; concurrent requests for the
same key share one lookup and the keys of concurrent callers travel in one ESI batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

from engine.esi.batching import BatchedLookups, Fetched, LookupStats
from engine.esi.errors import EsiError
from engine.model.entities import EntityRef, name_key

__all__ = [
    "IdResolver",
    "IdStore",
    "IdsSource",
    "NameResolver",
    "NameStore",
    "NamesSource",
]

log = logging.getLogger(__name__)

DAY = 86_400.0


class NamesSource(Protocol):
    """Where names come from: `EsiClient` in production."""

    async def names(self, ids: Collection[int]) -> list[EntityRef]: ...


class IdsSource(Protocol):
    """Where IDs for names come from: `EsiClient` in production."""

    async def ids(self, names: Collection[str]) -> dict[str, list[EntityRef]]: ...


class NameStore(Protocol):
    """The persistent side of the names cache (`engine.store.lookups.DatabaseNameStore`)."""

    async def load(self, ids: Collection[int]) -> dict[int, str]: ...

    async def save(
        self, names: Mapping[int, str], categories: Mapping[int, str] | None = None
    ) -> None: ...


class IdStore(Protocol):
    """The persistent side of the name → IDs cache, keyed by `name_key` of the name."""

    async def load(self, keys: Collection[str]) -> dict[str, list[EntityRef]]: ...

    async def save(self, found: Mapping[str, Sequence[EntityRef]]) -> None: ...


class _Health:
    """Logs when ESI starts and stops failing, instead of once per kill."""

    def __init__(self, what: str) -> None:
        self._what = what
        self.failing = False

    def failed(self, exc: Exception) -> None:
        if not self.failing:
            log.warning("%s unavailable, going on without: %s", self._what, exc)
        self.failing = True

    def worked(self) -> None:
        if self.failing:
            log.info("%s available again", self._what)
        self.failing = False


class NameResolver:
    """Entity names for IDs, from memory, the store or ESI, within a time budget.

    ``async with NameResolver(esi, store) as names:``; the block owns the lookups in flight
    and, leaving, gives them `drain` seconds before cancelling them (what they fetched is
    stored as it arrives). IDs ESI says do not exist are not asked again for `miss_ttl`.
    """

    def __init__(
        self,
        source: NamesSource,
        store: NameStore | None = None,
        *,
        max_size: int = 100_000,
        ttl: float = DAY,
        miss_ttl: float = DAY,
        batch_delay: float = 0.005,
        timer: Callable[[], float] = time.monotonic,
        drain: float = 1.0,
    ) -> None:
        self._source = source
        self._store = store
        self._health = _Health("ESI names")
        self._lookups: BatchedLookups[int, str] = BatchedLookups(
            self._fetch,
            max_size=max_size,
            ttl=ttl,
            miss_ttl=miss_ttl,
            batch_delay=batch_delay,
            timer=timer,
            drain=drain,
        )

    async def __aenter__(self) -> Self:
        await self._lookups.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._lookups.close()

    # `timeout` is a budget for a partial answer, not a cancellation: not asyncio.timeout.
    async def resolve(
        self,
        ids: Iterable[int],
        timeout: float = 2.0,  # noqa: ASYNC109
    ) -> dict[int, str]:
        """The names of `ids` that can be had within `timeout` seconds; never raises for ESI.

        IDs left out are still being looked up (a later call or `known()` will have them),
        unknown to ESI, or ESI is down. ``timeout=0`` answers from memory and only starts the
        lookups.
        """
        return await self._lookups.get((i for i in ids if i > 0), timeout)

    def known(self, entity_id: int) -> str | None:
        """The name if it is in memory now: no waiting, no I/O."""
        return self._lookups.known(entity_id)

    def stats(self) -> LookupStats:
        return self._lookups.stats()

    async def _fetch(self, ids: list[int]) -> Fetched[int, str]:
        found: dict[int, str] = {}
        if self._store is not None:
            try:
                found.update(await self._store.load(ids))
            except Exception:
                log.exception("loading %d names from the store failed", len(ids))
        rest = [i for i in ids if i not in found]
        if not rest:
            return Fetched(found)
        try:
            refs = await self._source.names(rest)
        except EsiError as exc:
            self._health.failed(exc)
            return Fetched(found)
        self._health.worked()
        fresh = {ref.id: ref.name for ref in refs}
        found.update(fresh)
        if self._store is not None and fresh:
            try:
                await self._store.save(fresh, {ref.id: ref.category for ref in refs})
            except Exception:
                log.exception("saving %d names to the store failed", len(fresh))
        return Fetched(found, frozenset(rest) - fresh.keys())


class IdResolver:
    """IDs for exact names (case-insensitive), from memory, the store or ESI ``/universe/ids/``.

    Results are keyed by `name_key` of the name; a name may be several things at once (a
    character and a corporation). Names ESI does not know are not asked again for `miss_ttl`.
    ``lookup`` is the filter language's `EntityLookup`.
    """

    def __init__(
        self,
        source: IdsSource,
        store: IdStore | None = None,
        *,
        max_size: int = 50_000,
        ttl: float = DAY,
        miss_ttl: float = 3_600.0,
        batch_delay: float = 0.0,
        timer: Callable[[], float] = time.monotonic,
        drain: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._source = source
        self._store = store
        self._timeout = timeout
        self._health = _Health("ESI ids")
        self._lookups: BatchedLookups[str, tuple[EntityRef, ...]] = BatchedLookups(
            self._fetch,
            max_size=max_size,
            ttl=ttl,
            miss_ttl=miss_ttl,
            batch_delay=batch_delay,
            timer=timer,
            drain=drain,
        )

    async def __aenter__(self) -> Self:
        await self._lookups.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._lookups.close()

    async def resolve(
        self,
        names: Iterable[str],
        timeout: float | None = None,  # noqa: ASYNC109 - a budget, as for NameResolver
    ) -> dict[str, tuple[EntityRef, ...]]:
        """What each name is, for the names known within `timeout` (default: the resolver's)."""
        keys = {key for key in map(name_key, names) if key}
        return await self._lookups.get(keys, self._timeout if timeout is None else timeout)

    async def lookup(self, names: Sequence[str], /) -> dict[str, list[tuple[str, int]]]:
        """``{name_key: [(category, id), ...]}``: the filter language's `EntityLookup`."""
        found = await self.resolve(names)
        return {key: [(ref.category, ref.id) for ref in refs] for key, refs in found.items()}

    def known(self, name: str) -> tuple[EntityRef, ...] | None:
        return self._lookups.known(name_key(name))

    def stats(self) -> LookupStats:
        return self._lookups.stats()

    async def _fetch(self, keys: list[str]) -> Fetched[str, tuple[EntityRef, ...]]:
        found: dict[str, tuple[EntityRef, ...]] = {}
        if self._store is not None:
            try:
                stored = await self._store.load(keys)
            except Exception:
                log.exception("loading %d names' IDs from the store failed", len(keys))
            else:
                found.update((key, tuple(refs)) for key, refs in stored.items() if refs)
        rest = [key for key in keys if key not in found]
        if not rest:
            return Fetched(found)
        try:
            answer = await self._source.ids(rest)
        except EsiError as exc:
            self._health.failed(exc)
            return Fetched(found)
        self._health.worked()
        fresh = {key: tuple(refs) for key, refs in answer.items() if refs and key in rest}
        found.update(fresh)
        if self._store is not None and fresh:
            try:
                await self._store.save(fresh)
            except Exception:
                log.exception("saving %d names' IDs to the store failed", len(fresh))
        return Fetched(found, frozenset(rest) - fresh.keys())
