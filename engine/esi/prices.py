"""Market prices for valuing a kill that zKillboard did not value.

`PriceBook` holds CCP's price list (ESI ``/markets/prices/``) in memory for synchronous
lookups during enrichment. It loads the last list from a store at start-up, so a fresh start
has prices after one fetch ever, and a daily job refreshes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from engine.model.entities import MarketPrice

__all__ = ["PriceBook", "PriceStore", "PricesSource"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PricesSource(Protocol):
    """`EsiClient` in production."""

    async def prices(self) -> list[MarketPrice]: ...


class PriceStore(Protocol):
    """The persistent copy of the price list (`engine.store.lookups.DatabasePriceStore`).

    ``load`` gives the whole stored list and when it was fetched (None: never).
    """

    async def load(self) -> tuple[Sequence[MarketPrice], datetime | None]: ...

    async def save(self, prices: Sequence[MarketPrice], updated_at: datetime) -> None: ...


class PriceBook:
    """``price(type_id)``: the average price, else the adjusted price, else None.

    Prices are swapped in whole (one assignment), so a lookup never sees half of an old list
    and half of a new one.
    """

    def __init__(
        self,
        source: PricesSource,
        store: PriceStore | None = None,
        *,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._source = source
        self._store = store
        self._now = now
        self._prices: Mapping[int, float] = {}
        self.updated_at: datetime | None = None

    def __len__(self) -> int:
        return len(self._prices)

    def price(self, type_id: int) -> float | None:
        """ISK per unit of `type_id`; None for a type nobody trades (no price, not "free")."""
        return self._prices.get(type_id)

    async def load(self) -> int:
        """Take the stored list, if any; returns how many types have a price."""
        if self._store is None:
            return 0
        prices, updated_at = await self._store.load()
        if prices:
            self._swap(prices, updated_at)
            log.info("%d market prices loaded from the store", len(self._prices))
        return len(self._prices)

    async def refresh(self) -> int:
        """Fetch the list from ESI, swap it in, then store it; returns how many have a price.

        An empty list is refused (it would wipe every price); ESI errors propagate so the job
        that called counts the failure, and the prices in use stay as they were.
        """
        fetched = await self._source.prices()
        if not fetched:
            log.warning("ESI sent an empty price list; keeping the %d prices", len(self._prices))
            return len(self._prices)
        updated_at = self._now()
        self._swap(fetched, updated_at)
        log.info("%d market prices refreshed from ESI", len(self._prices))
        if self._store is not None:
            # After the swap: a store failure must not keep fresh prices out of memory.
            await self._store.save(fetched, updated_at)
        return len(self._prices)

    def _swap(self, prices: Sequence[MarketPrice], updated_at: datetime | None) -> None:
        table = {p.type_id: best for p in prices if (best := p.best) is not None}
        self._prices = table
        self.updated_at = updated_at
