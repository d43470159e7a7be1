"""The price book: refresh from ESI, average → adjusted fallback, and the stored copy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import pytest
from sqlalchemy import URL, make_url

from engine.esi.client import EsiClient
from engine.esi.errors import EsiUnavailable
from engine.esi.prices import PriceBook
from engine.store.database import Database
from engine.store.lookups import DatabasePriceStore
from engine.store.migrate import upgrade
from tests.fakes.clock import FakeClock
from tests.fakes.esi import PRICES, FakeEsi

from .conftest import make_client

FETCHED_AT = datetime(2026, 11, 24, 11, 5, tzinfo=UTC)


def _recorded() -> list[dict[str, float]]:
    return list(orjson.loads(PRICES.read_bytes()))


@pytest.fixture
async def db_url(tmp_path: Path) -> URL:
    url = make_url(f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}")
    await upgrade(url)
    return url


async def test_refresh_prices_each_type_by_its_average(client: EsiClient) -> None:
    book = PriceBook(client, now=lambda: FETCHED_AT)
    assert book.price(34) is None
    await book.refresh()
    entry = next(e for e in _recorded() if e["type_id"] == 34)
    assert book.price(34) == entry["average_price"]
    assert book.updated_at == FETCHED_AT


async def test_a_type_without_an_average_is_priced_by_its_adjusted_price(
    client: EsiClient,
) -> None:
    book = PriceBook(client)
    await book.refresh()
    no_average = [e for e in _recorded() if "average_price" not in e]
    zero_average = [e for e in _recorded() if e.get("average_price") == 0.0]
    assert no_average
    assert zero_average
    for entry in no_average + zero_average:
        assert book.price(int(entry["type_id"])) == entry["adjusted_price"]


async def test_a_type_nobody_trades_has_no_price(client: EsiClient) -> None:
    book = PriceBook(client)
    await book.refresh()
    assert book.price(670) is None  # the capsule is never on the market
    assert len(book) == len(_recorded())


async def test_a_fresh_start_has_prices_from_the_store_without_asking_esi(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock, db_url: URL
) -> None:
    async with Database(db_url) as db:
        book = PriceBook(make_client(http, esi, clock), DatabasePriceStore(db))
        assert await book.load() == 0  # nothing stored yet
        await book.refresh()
        before = {e["type_id"]: book.price(int(e["type_id"])) for e in _recorded()}

    async with Database(db_url) as db:
        restarted = PriceBook(make_client(http, esi, clock), DatabasePriceStore(db))
        assert await restarted.load() == len(before)
        assert {t: restarted.price(int(t)) for t in before} == before
        assert restarted.updated_at == book.updated_at
    assert esi.count("prices") == 1


async def test_a_failed_refresh_keeps_the_prices_in_use(client: EsiClient, esi: FakeEsi) -> None:
    book = PriceBook(client)
    await book.refresh()
    price = book.price(34)
    esi.fault("prices", "503", "503", "503")
    with pytest.raises(EsiUnavailable):
        await book.refresh()
    assert book.price(34) == price


async def test_an_empty_price_list_is_refused(client: EsiClient, esi: FakeEsi) -> None:
    book = PriceBook(client)
    count = await book.refresh()
    esi.prices = b"[]"
    assert await book.refresh() == count
    assert book.price(34) is not None


async def test_a_refresh_replaces_the_stored_list_whole(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock, db_url: URL
) -> None:
    async with Database(db_url) as db:
        store = DatabasePriceStore(db)
        book = PriceBook(make_client(http, esi, clock), store)
        await book.refresh()
        esi.prices = b'[{"adjusted_price": 5.5, "average_price": 6.25, "type_id": 34}]'
        assert await book.refresh() == 1
        prices, _ = await store.load()
        assert [(p.type_id, p.average_price, p.adjusted_price) for p in prices] == [(34, 6.25, 5.5)]
        assert book.price(35) is None
