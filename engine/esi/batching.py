"""A cache in front of a slow batch lookup: coalescing, batching, answers within a deadline.

Callers ask for keys and wait at most a timeout. Keys already in memory answer at once; a key
someone else is already looking up joins that lookup instead of starting another; the keys of
callers that arrive together travel in one batch. A lookup that outlives its callers' timeouts
keeps running in the background and fills the cache for the next caller. The lookups run in a
task group the owner enters and exits, so none outlives it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

__all__ = ["BatchedLookups", "Fetched", "LookupStats"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Fetched(Generic[K, V]):
    """What one batch lookup found, and which keys are known not to exist (not just unanswered)."""

    found: dict[K, V]
    absent: frozenset[K] = frozenset()


@dataclass(frozen=True, slots=True)
class LookupStats:
    cached: int  # values in memory
    pending: int  # keys being looked up now
    batches: int  # lookups started
    failed: int  # lookups that ended in an exception
    hits: int = 0  # keys answered from memory (a value, or known not to exist)
    misses: int = 0  # keys that had to be looked up (or joined a lookup in flight)


class BatchedLookups(Generic[K, V]):
    """Memory (TTL + LRU bound), in-flight coalescing and batching around ``fetch``.

    ``fetch`` gets a list of keys nobody has in memory or in flight and should not raise; if it
    does, its keys simply stay unknown. Keys it reports ``absent`` are not asked again for
    ``miss_ttl`` seconds.
    """

    def __init__(
        self,
        fetch: Callable[[list[K]], Awaitable[Fetched[K, V]]],
        *,
        max_size: int,
        ttl: float,
        miss_ttl: float,
        batch_delay: float = 0.0,
        timer: Callable[[], float] = time.monotonic,
        drain: float = 1.0,
    ) -> None:
        self._fetch = fetch
        self._memory: TTLCache[K, V] = TTLCache(max_size, ttl, timer=timer)
        self._misses: TTLCache[K, bool] = TTLCache(max(1, max_size // 10), miss_ttl, timer=timer)
        self._batch_delay = batch_delay
        self._drain = drain
        self._pending: dict[K, asyncio.Future[V | None]] = {}
        self._queue: list[K] = []
        self._flush_scheduled = False
        self._group: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._batches = 0
        self._failed = 0
        self._hits = 0
        self._missed = 0

    # --- life ---

    async def open(self) -> None:
        if self._group is not None:
            raise RuntimeError("already open")
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group

    async def close(self) -> None:
        """Give lookups in flight `drain` seconds to finish (and store), then cancel them."""
        group, self._group = self._group, None
        if group is None:
            return
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._drain)
        for task in self._tasks:
            task.cancel()
        await group.__aexit__(None, None, None)
        # A flush cancelled before it started never answered its keys: answer them now.
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)
        self._pending.clear()
        self._queue.clear()
        self._flush_scheduled = False

    # --- use ---

    def known(self, key: K) -> V | None:
        return self._memory.get(key)

    def remember(self, key: K, value: V) -> None:
        self._memory[key] = value

    def stats(self) -> LookupStats:
        return LookupStats(
            len(self._memory), len(self._pending), self._batches, self._failed,
            self._hits, self._missed,
        )

    # A budget for a partial answer, not a cancellation: asyncio.timeout cannot say that.
    async def get(self, keys: Iterable[K], timeout: float) -> dict[K, V]:  # noqa: ASYNC109
        """The values of ``keys`` that are known within ``timeout`` seconds."""
        found: dict[K, V] = {}
        waiting: dict[K, asyncio.Future[V | None]] = {}
        for key in keys:
            if key in found or key in waiting:
                continue
            value = self._memory.get(key)
            if value is not None:
                found[key] = value
                self._hits += 1
            elif key in self._misses:
                self._hits += 1
            else:
                waiting[key] = self._join(key)
                self._missed += 1
        if self._queue and not self._flush_scheduled:
            self._schedule_flush()
        if waiting:
            await asyncio.wait(set(waiting.values()), timeout=max(0.0, timeout))
            for key, future in waiting.items():
                if future.done() and not future.cancelled():
                    value = future.result()
                    if value is not None:
                        found[key] = value
        return found

    # --- inside ---

    def _join(self, key: K) -> asyncio.Future[V | None]:
        future = self._pending.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[key] = future
            self._queue.append(key)
        return future

    def _schedule_flush(self) -> None:
        if self._group is None:
            raise RuntimeError("open the resolver with `async with` before asking it")
        self._flush_scheduled = True
        task = self._group.create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        # Callers that arrive while we yield join this batch instead of starting their own.
        await asyncio.sleep(self._batch_delay)
        batch, self._queue = self._queue, []
        self._flush_scheduled = False
        self._batches += 1
        fetched: Fetched[K, V] | None = None
        try:
            fetched = await self._fetch(batch)
        except Exception:
            self._failed += 1
            log.exception("a lookup of %d keys failed", len(batch))
        finally:
            found = fetched.found if fetched is not None else {}
            for key, value in found.items():
                self._memory[key] = value
            if fetched is not None:
                for key in fetched.absent:
                    self._misses[key] = True
            for key in batch:
                future = self._pending.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(found.get(key))
