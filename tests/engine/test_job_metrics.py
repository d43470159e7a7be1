"""/metrics shows each scheduled job: its runs, its failures and when it last worked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.jobs import Jobs
from engine.ops import OpsServer
from engine.store.database import Database
from tests.engine.test_ops import Feeds, Wall, checks_for, get, names, samples, value
from tests.fakes.waiting import until

SUCCESS = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def wall() -> Wall:
    return Wall()


async def test_a_failing_job_shows_its_failures_beside_a_healthy_one(
    wall: Wall, database: Database
) -> None:
    async def retention() -> None:
        return None

    async def sde() -> None:
        raise OSError("developers.eveonline.com unreachable")

    async with Jobs(clock=lambda: SUCCESS) as jobs:
        jobs.add("retention", retention, every=timedelta(hours=1), first_run_now=True)
        jobs.add("sde", sde, every=timedelta(hours=1), first_run_now=True)
        jobs.add("names", retention, every=timedelta(days=1))
        await until(lambda: jobs.runs["retention"] == 1 and jobs.failures["sde"] == 1)
        checks = checks_for(Feeds(wall), database, jobs=jobs.status)
        async with OpsServer("127.0.0.1", 0, checks) as server:
            status, text, _ = await get(server, "/metrics")

    assert status == 200
    found = samples(text)
    assert value(found, "killwatch_job_runs_total", job="retention") == 1
    assert value(found, "killwatch_job_failures_total", job="retention") == 0
    assert value(found, "killwatch_job_last_success_timestamp_seconds", job="retention") == (
        SUCCESS.timestamp()
    )
    assert value(found, "killwatch_job_runs_total", job="sde") == 1
    assert value(found, "killwatch_job_failures_total", job="sde") == 1
    assert value(found, "killwatch_job_runs_total", job="names") == 0
    last = {labels for name, labels in found
            if name == "killwatch_job_last_success_timestamp_seconds"}
    assert last == {frozenset({("job", "retention")})}


async def test_without_jobs_the_page_has_no_job_metrics(wall: Wall, database: Database) -> None:
    async with OpsServer("127.0.0.1", 0, checks_for(Feeds(wall), database)) as server:
        _, text, _ = await get(server, "/metrics")
    assert not {n for n in names(samples(text)) if n.startswith("killwatch_job_")}
