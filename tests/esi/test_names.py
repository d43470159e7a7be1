"""Names and IDs: caches, coalescing, batching, deadlines, and the store across restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import URL, make_url

from engine.esi.client import EsiClient
from engine.esi.limits import RetryPolicy
from engine.esi.names import IdResolver, NameResolver
from engine.model.entities import EntityRef
from engine.store.database import Database
from engine.store.lookups import DatabaseIdStore, DatabaseNameStore
from engine.store.migrate import upgrade
from tests.fakes.clock import FakeClock
from tests.fakes.esi import FakeEsi
from tests.fakes.waiting import until

from .conftest import make_client

GOONS = 1354830081
NED_CLAN = 1324429368
STRIFE = 992181402
NOT_AN_ENTITY = 2_000_000_000


@pytest.fixture
async def names(client: EsiClient) -> AsyncIterator[NameResolver]:
    async with NameResolver(client, batch_delay=0) as resolver:
        yield resolver


@pytest.fixture
async def ids(client: EsiClient) -> AsyncIterator[IdResolver]:
    async with IdResolver(client) as resolver:
        yield resolver


@pytest.fixture
async def db_url(tmp_path: Path) -> URL:
    url = make_url(f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}")
    await upgrade(url)
    return url


# --- names: memory, coalescing, batching ---


async def test_names_resolve_and_are_then_known_from_memory(
    names: NameResolver, esi: FakeEsi
) -> None:
    assert await names.resolve([GOONS, NED_CLAN]) == {
        GOONS: "Goonswarm Federation",
        NED_CLAN: "NED-Clan",
    }
    assert names.known(GOONS) == "Goonswarm Federation"
    assert await names.resolve([NED_CLAN, GOONS]) == {
        GOONS: "Goonswarm Federation",
        NED_CLAN: "NED-Clan",
    }
    assert esi.count("names") == 1


async def test_concurrent_requests_for_one_id_make_one_esi_call(
    names: NameResolver, esi: FakeEsi
) -> None:
    esi.hold("names")
    first = asyncio.create_task(names.resolve([GOONS]))
    await until(lambda: esi.count("names") == 1)
    # The lookup is in flight at ESI; everyone else asking for GOONS joins it.
    others = [asyncio.create_task(names.resolve([GOONS])) for _ in range(10)]
    await asyncio.sleep(0.05)
    esi.release()
    results = await asyncio.gather(first, *others)
    assert results == [{GOONS: "Goonswarm Federation"}] * 11
    assert esi.count("names") == 1


async def test_ids_of_concurrent_callers_travel_in_one_batch(
    names: NameResolver, esi: FakeEsi
) -> None:
    results = await asyncio.gather(
        names.resolve([GOONS]), names.resolve([NED_CLAN]), names.resolve([STRIFE, GOONS])
    )
    assert results == [
        {GOONS: "Goonswarm Federation"},
        {NED_CLAN: "NED-Clan"},
        {STRIFE: "Strife Senior", GOONS: "Goonswarm Federation"},
    ]
    assert esi.bodies("names") == [sorted([GOONS, NED_CLAN, STRIFE])]


# --- names: deadlines and failures ---


async def test_resolve_returns_within_its_timeout_while_esi_hangs_and_the_name_comes_later(
    names: NameResolver, esi: FakeEsi
) -> None:
    esi.hold("names")
    started = time.monotonic()
    assert await names.resolve([GOONS, NED_CLAN], timeout=0.05) == {}
    assert time.monotonic() - started < 0.5
    assert names.known(GOONS) is None
    esi.release()
    # The lookup went on in the background and filled the cache for the next kill.
    await until(lambda: names.known(GOONS) == "Goonswarm Federation")
    assert names.known(NED_CLAN) == "NED-Clan"
    assert await names.resolve([GOONS], timeout=0) == {GOONS: "Goonswarm Federation"}
    assert esi.count("names") == 1


async def test_resolve_with_no_time_only_starts_the_lookup(
    names: NameResolver, esi: FakeEsi
) -> None:
    assert await names.resolve([GOONS], timeout=0) == {}
    await until(lambda: names.known(GOONS) is not None)


async def test_resolve_never_raises_when_esi_is_down_and_gives_what_it_has(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock
) -> None:
    client = make_client(http, esi, clock, retry=RetryPolicy(attempts=1))
    async with NameResolver(client, batch_delay=0) as names:
        await names.resolve([GOONS])
        esi.down = True
        assert await names.resolve([GOONS, NED_CLAN]) == {GOONS: "Goonswarm Federation"}
        for _ in range(10):  # the breaker opens: later kills cost ESI nothing
            assert await names.resolve([NED_CLAN]) == {}
        assert esi.count("names") == 1 + 5
        assert client.status().breaker == "open"


async def test_an_id_esi_does_not_know_is_not_asked_again(
    names: NameResolver, esi: FakeEsi
) -> None:
    assert await names.resolve([NOT_AN_ENTITY, GOONS]) == {GOONS: "Goonswarm Federation"}
    calls = esi.count("names")
    assert await names.resolve([NOT_AN_ENTITY]) == {}
    assert await names.resolve([NOT_AN_ENTITY, NED_CLAN]) == {NED_CLAN: "NED-Clan"}
    assert esi.bodies("names")[calls:] == [[NED_CLAN]]


async def test_names_expire_from_memory_after_their_ttl(client: EsiClient, esi: FakeEsi) -> None:
    now = [0.0]
    async with NameResolver(client, batch_delay=0, ttl=60, timer=lambda: now[0]) as names:
        await names.resolve([GOONS])
        now[0] = 61
        assert names.known(GOONS) is None
        assert await names.resolve([GOONS]) == {GOONS: "Goonswarm Federation"}
    assert esi.count("names") == 2


async def test_leaving_the_block_cancels_lookups_esi_is_sitting_on(
    client: EsiClient, esi: FakeEsi
) -> None:
    started = time.monotonic()
    async with NameResolver(client, batch_delay=0, drain=0.05) as names:
        esi.hold("names")
        await names.resolve([GOONS], timeout=0.01)
    assert time.monotonic() - started < 1.0
    assert names.stats().pending == 0


async def test_resolving_outside_the_block_is_an_error(client: EsiClient) -> None:
    resolver = NameResolver(client)
    with pytest.raises(RuntimeError, match="async with"):
        await resolver.resolve([GOONS])


# --- names: the store ---


async def test_names_survive_a_restart_without_asking_esi_again(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock, db_url: URL
) -> None:
    async with (
        Database(db_url) as db,
        NameResolver(make_client(http, esi, clock), DatabaseNameStore(db)) as names,
    ):
        await names.resolve([GOONS, NED_CLAN, STRIFE])
    assert esi.count("names") == 1

    # A new process: new database handle, new client, new resolver, empty memory.
    async with (
        Database(db_url) as db,
        NameResolver(make_client(http, esi, clock), DatabaseNameStore(db)) as names,
    ):
        assert await names.resolve([GOONS, NED_CLAN, STRIFE]) == {
            GOONS: "Goonswarm Federation",
            NED_CLAN: "NED-Clan",
            STRIFE: "Strife Senior",
        }
        # Only what the store lacks goes to ESI.
        assert await names.resolve([GOONS, 99003581]) == {
            GOONS: "Goonswarm Federation",
            99003581: "Fraternity.",
        }
    assert esi.bodies("names") == [sorted([GOONS, NED_CLAN, STRIFE]), [99003581]]


async def test_a_broken_store_does_not_stop_names(client: EsiClient, db_url: URL) -> None:
    never_opened = Database(db_url)
    async with NameResolver(client, DatabaseNameStore(never_opened), batch_delay=0) as names:
        assert await names.resolve([GOONS]) == {GOONS: "Goonswarm Federation"}


# --- ids for typed names ---


async def test_ids_resolve_by_case_insensitive_name(ids: IdResolver, esi: FakeEsi) -> None:
    found = await ids.resolve(["GOONSWARM Federation", "  ned-clan ", "Nobody Here At All"])
    assert found == {
        "goonswarm federation": (EntityRef("alliance", GOONS, "Goonswarm Federation"),),
        "ned-clan": (EntityRef("corporation", NED_CLAN, "NED-Clan"),),
    }
    assert ids.known("Goonswarm Federation") is not None
    await ids.resolve(["goonswarm federation", "Nobody Here At All"])
    assert esi.count("ids") == 1  # the known one from memory, the unknown one not asked again


async def test_ids_answer_the_filter_languages_entity_lookup(ids: IdResolver) -> None:
    assert await ids.lookup(["Pandemic Horde", "Strife Senior"]) == {
        "pandemic horde": [("alliance", 99005338)],
        "strife senior": [("character", STRIFE)],
    }


async def test_concurrent_lookups_of_one_name_make_one_call(ids: IdResolver, esi: FakeEsi) -> None:
    results = await asyncio.gather(*(ids.resolve(["Goonswarm Federation"]) for _ in range(5)))
    assert len({tuple(r) for r in results}) == 1
    assert esi.count("ids") == 1


async def test_ids_survive_a_restart_without_asking_esi_again(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock, db_url: URL
) -> None:
    async with (
        Database(db_url) as db,
        IdResolver(make_client(http, esi, clock), DatabaseIdStore(db)) as ids,
    ):
        first = await ids.resolve(["Goonswarm Federation", "Jita"])
    async with (
        Database(db_url) as db,
        IdResolver(make_client(http, esi, clock), DatabaseIdStore(db)) as ids,
    ):
        assert await ids.resolve(["goonswarm federation", "JITA"]) == first
    assert esi.count("ids") == 1
    assert first["jita"] == (EntityRef("system", 30000142, "Jita"),)
