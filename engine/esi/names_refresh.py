"""Refreshing stored names: corporations and alliances get renamed, and their tickers change.

The names cache keeps a name once ESI gave it. :class:`NamesRefresh` (the daily "names" job)
asks ESI ``/universe/names/`` again for the names stored longest ago, older than `max_age`,
in batches of ESI's 1,000, at most `per_run` a run, through the shared client and so within
its error budget and circuit breaker. A run that meets ESI down raises (the job counts the
failure); what it refreshed before that is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from engine.esi.client import NAMES_BATCH
from engine.esi.names import NamesSource

__all__ = ["NamesRefresh", "RefreshReport", "StaleNameStore"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StaleNameStore(Protocol):
    """`engine.store.lookups.DatabaseNameStore`: saving a name stamps it as fresh."""

    async def stale(self, before: datetime, limit: int) -> dict[int, str]: ...

    async def save(
        self, names: Mapping[int, str], categories: Mapping[int, str] | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class RefreshReport:
    checked: int  # stale names asked for
    renamed: int  # of those, names ESI now gives differently
    unanswered: int  # IDs ESI gave no name for: kept as they were, asked again next time


class NamesRefresh:
    def __init__(
        self,
        source: NamesSource,
        store: StaleNameStore,
        *,
        max_age: timedelta,
        per_run: int,
        batch: int = NAMES_BATCH,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_age <= timedelta(0) or per_run < 1 or batch < 1:
            raise ValueError("max_age, per_run and batch must be positive")
        self._source = source
        self._store = store
        self._max_age = max_age
        self._per_run = per_run
        self._batch = batch
        self._clock = clock

    async def run(self) -> RefreshReport:
        before = self._clock() - self._max_age
        checked = renamed = unanswered = 0
        while checked < self._per_run:
            asked = min(self._batch, self._per_run - checked)
            stale = await self._store.stale(before, asked)
            if not stale:
                break
            refs = await self._source.names(stale)
            fresh = {ref.id: ref.name for ref in refs if ref.id in stale}
            # Saved again unchanged, so that IDs ESI no longer answers for do not stand at
            # the head of every later run.
            kept = {i: name for i, name in stale.items() if i not in fresh}
            await self._store.save({**kept, **fresh}, {ref.id: ref.category for ref in refs})
            checked += len(stale)
            renamed += sum(1 for i, name in fresh.items() if stale[i] != name)
            unanswered += len(kept)
            if len(stale) < asked:
                break
        if checked:
            log.info("names: %d stored names refreshed from ESI, %d changed, %d unanswered",
                     checked, renamed, unanswered)
        return RefreshReport(checked, renamed, unanswered)
