"""The names job against a fake ESI: stale names are asked again, ESI down fails one run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.esi.client import EsiClient
from engine.esi.names_refresh import NamesRefresh
from engine.jobs import Jobs
from engine.store.database import Database
from engine.store.lookups import DatabaseNameStore, NamesRepository
from engine.store.migrate import upgrade
from tests.fakes.clock import FakeClock
from tests.fakes.esi import FakeEsi
from tests.fakes.waiting import until

GOONS = 1354830081
NED_CLAN = 1324429368
STRIFE = 992181402
NOT_AN_ENTITY = 2_000_000_000
NOW = datetime(2026, 1, 22, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


class Moment:
    """The time the store stamps saves with; the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    async with Database(url) as db:
        yield db


async def saved(database: Database, when: datetime, names: dict[int, str]) -> None:
    await DatabaseNameStore(database, clock=lambda: when).save(names)


async def stored(database: Database) -> dict[int, str]:
    async with database.session() as session:
        return await NamesRepository(session).get([GOONS, NED_CLAN, STRIFE, NOT_AN_ENTITY])


def refresher(
    client: EsiClient, database: Database, moment: Moment, *, per_run: int = 100, batch: int = 1000
) -> NamesRefresh:
    return NamesRefresh(
        client, DatabaseNameStore(database, clock=moment), max_age=WEEK, per_run=per_run,
        batch=batch, clock=moment,
    )


async def test_names_older_than_the_age_are_asked_again_and_renames_are_kept(
    client: EsiClient, esi: FakeEsi, database: Database
) -> None:
    await saved(database, NOW - timedelta(days=30), {GOONS: "Goonswarm (old name)"})
    await saved(database, NOW - timedelta(days=8), {NED_CLAN: "NED-Clan"})
    await saved(database, NOW - timedelta(days=1), {STRIFE: "Young, left alone"})
    moment = Moment(NOW)

    report = await refresher(client, database, moment).run()

    assert (report.checked, report.renamed, report.unanswered) == (2, 1, 0)
    assert await stored(database) == {
        GOONS: "Goonswarm Federation", NED_CLAN: "NED-Clan", STRIFE: "Young, left alone",
    }
    [asked] = esi.bodies("names")
    assert sorted(asked) == [NED_CLAN, GOONS]
    # Refreshed names count as fresh: the next run has nothing to ask.
    again = await refresher(client, database, moment).run()
    assert again.checked == 0
    assert esi.count("names") == 1


async def test_a_run_is_bounded_and_the_oldest_names_go_first(
    client: EsiClient, esi: FakeEsi, database: Database
) -> None:
    await saved(database, NOW - timedelta(days=9), {NED_CLAN: "NED-Clan"})
    await saved(database, NOW - timedelta(days=30), {GOONS: "Goonswarm (old name)"})
    await saved(database, NOW - timedelta(days=20), {STRIFE: "Strife (old name)"})
    moment = Moment(NOW)

    report = await refresher(client, database, moment, per_run=2, batch=1).run()

    assert report.checked == 2
    assert esi.bodies("names") == [[GOONS], [STRIFE]]
    names = await stored(database)
    assert names[STRIFE] != "Strife (old name)"
    assert names[NED_CLAN] == "NED-Clan"


async def test_an_id_esi_does_not_answer_keeps_its_name_until_the_next_age(
    client: EsiClient, esi: FakeEsi, database: Database
) -> None:
    await saved(database, NOW - timedelta(days=30), {GOONS: "Goonswarm Federation",
                                                     NOT_AN_ENTITY: "Someone long gone"})
    moment = Moment(NOW)

    report = await refresher(client, database, moment).run()

    assert (report.checked, report.unanswered) == (2, 1)
    assert (await stored(database))[NOT_AN_ENTITY] == "Someone long gone"
    asked = esi.count("names")
    assert (await refresher(client, database, moment).run()).checked == 0
    assert esi.count("names") == asked


async def test_esi_down_fails_the_run_the_job_counts_it_and_the_next_run_works(
    client: EsiClient, esi: FakeEsi, database: Database, clock: FakeClock
) -> None:
    await saved(database, NOW - timedelta(days=30), {GOONS: "Goonswarm (old name)"})
    refresh = refresher(client, database, Moment(NOW))
    esi.down = True
    async with Jobs() as jobs:
        jobs.add("names", refresh.run, every=timedelta(days=1), first_run_now=True)
        await until(lambda: jobs.failures["names"] == 1)
        assert jobs.runs["names"] == 0
        assert "EsiUnavailable" in jobs.last_error["names"]
        assert (await stored(database))[GOONS] == "Goonswarm (old name)"

        esi.down = False
        clock.time += 3600  # past the client's circuit-breaker cool-down
        jobs.run_soon("names")
        await until(lambda: jobs.runs["names"] == 1)
    assert jobs.failures["names"] == 1
    assert (await stored(database))[GOONS] == "Goonswarm Federation"


def test_nonsense_bounds_are_refused(client: EsiClient) -> None:
    with pytest.raises(ValueError, match="positive"):
        NamesRefresh(client, DatabaseNameStore(Database("sqlite+aiosqlite://")),
                     max_age=WEEK, per_run=0)
