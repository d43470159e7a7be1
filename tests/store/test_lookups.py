"""The ESI lookup caches in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from engine.model.entities import EntityRef, MarketPrice
from engine.store.database import Database
from engine.store.lookups import (
    DatabaseIdStore,
    DatabaseNameStore,
    DatabasePriceStore,
    EntityIdsRepository,
    NamesRepository,
    PricesRepository,
)
from engine.store.tables import NameRow

from .support import FakeClock

GOONS = EntityRef("alliance", 1354830081, "Goonswarm Federation")
FRAT = EntityRef("alliance", 99003581, "Fraternity.")
FRAT_PILOT = EntityRef("character", 95000001, "Fraternity.")


async def test_names_are_stored_and_found_by_id(db: Database, clock: FakeClock) -> None:
    async with db.session() as session, session.begin():
        await NamesRepository(session, clock=clock).put(
            {1354830081: "Goonswarm Federation", 1324429368: "NED-Clan"},
            {1354830081: "alliance"},
        )
    async with db.session() as session:
        repository = NamesRepository(session)
        assert await repository.get([1354830081, 1324429368, 42]) == {
            1354830081: "Goonswarm Federation",
            1324429368: "NED-Clan",
        }
        assert await repository.count() == 2


async def test_saving_a_name_again_updates_it_and_keeps_its_category(
    db: Database, clock: FakeClock
) -> None:
    store = DatabaseNameStore(db, clock=clock)
    await store.save({98000001: "Old Corp Name"}, {98000001: "corporation"})
    clock.advance(timedelta(days=1))
    await store.save({98000001: "New Corp Name"})
    assert await store.load([98000001]) == {98000001: "New Corp Name"}
    async with db.session() as session:
        row = await session.get(NameRow, 98000001)
        assert row is not None
        assert row.category == "corporation"
        assert row.updated_at == clock.now


async def test_many_names_are_loaded_in_chunks(db: Database) -> None:
    store = DatabaseNameStore(db)
    names = {90_000_000 + n: f"Pilot {n}" for n in range(2500)}
    await store.save(names)
    assert await store.load([*names, 1]) == names


async def test_ids_for_names_round_trip_with_several_entities_per_name(db: Database) -> None:
    store = DatabaseIdStore(db)
    await store.save({"fraternity.": [FRAT, FRAT_PILOT], "goonswarm federation": [GOONS]})
    assert await store.load(["fraternity.", "goonswarm federation", "nobody"]) == {
        "fraternity.": [FRAT, FRAT_PILOT],
        "goonswarm federation": [GOONS],
    }


async def test_saving_a_name_again_replaces_what_it_was(db: Database) -> None:
    store = DatabaseIdStore(db)
    await store.save({"fraternity.": [FRAT, FRAT_PILOT]})
    await store.save({"fraternity.": [FRAT]})
    async with db.session() as session:
        assert await EntityIdsRepository(session).get(["fraternity."]) == {"fraternity.": [FRAT]}


async def test_prices_are_replaced_whole_and_loaded_with_their_date(
    db: Database, clock: FakeClock
) -> None:
    store = DatabasePriceStore(db)
    assert await store.load() == ([], None)
    first = [MarketPrice(34, 3.9, 3.06), MarketPrice(587, None, 557747.16)]
    await store.save(first, clock.now)
    clock.advance(timedelta(days=1))
    second = [MarketPrice(34, 4.1, 3.2), MarketPrice(35, 8.0, 7.5), MarketPrice(35, 8.0, 7.5)]
    await store.save(second, clock.now)
    prices, updated_at = await store.load()
    assert sorted(prices, key=lambda p: p.type_id) == [
        MarketPrice(34, 4.1, 3.2),
        MarketPrice(35, 8.0, 7.5),
    ]
    assert updated_at == clock.now
    async with db.session() as session:
        assert await PricesRepository(session).count() == 2
