"""Which jobs a running Killwatch schedules, and when they first run."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.jobs_wiring import DAILY, START_DELAY, digest_slot, schedule_digest
from bot.runtime import open_parts
from engine.digests import WeeklySlot
from engine.job_marks import JobMarks
from engine.jobs import Jobs
from engine.store.database import Database
from engine.store.migrate import upgrade
from tests.fakes.esi import FakeEsi

SLACK = timedelta(minutes=1)


async def _settings(tmp_path: Path, **sections: Any) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp_path}/kw.db"
    await upgrade(url)
    return Settings(
        database={"url": url},
        engine={"data_dir": str(tmp_path), **sections.pop("engine", {})},
        **sections,
    )


async def _jobs(
    settings: Settings, *, online: bool = True, maintenance: bool = True
) -> dict[str, datetime | None]:
    async with AsyncExitStack() as stack:
        parts = await open_parts(
            stack, settings, settings.database.url, [], online=online, maintenance=maintenance
        )
        return {job.name: job.next_run for job in parts.jobs.status()}


async def test_a_first_start_schedules_every_daily_job_a_day_out_and_prices_at_once(
    tmp_path: Path,
) -> None:
    async with FakeEsi() as esi:
        settings = await _settings(tmp_path, esi={"url": esi.url})
        started = datetime.now(UTC)
        jobs = await _jobs(settings)
    assert list(jobs) == ["prices", "retention", "names", "sde"]
    for name in ("retention", "names", "sde"):
        when = jobs[name]
        assert when is not None
        assert abs(when - (started + DAILY)) < SLACK


async def test_without_esi_there_is_no_names_job_and_the_sde_check_can_be_turned_off(
    tmp_path: Path,
) -> None:
    settings = await _settings(tmp_path, esi={"enabled": False}, engine={"sde_check": False})
    assert list(await _jobs(settings)) == ["retention"]


async def test_a_replay_schedules_nothing(tmp_path: Path) -> None:
    settings = await _settings(tmp_path)
    assert await _jobs(settings, online=False) == {}


async def test_a_process_beside_the_ingester_leaves_maintenance_to_it(tmp_path: Path) -> None:
    settings = await _settings(tmp_path, esi={"enabled": False})
    assert await _jobs(settings, maintenance=False) == {}


async def test_a_restart_keeps_the_rhythm_and_an_overdue_job_runs_soon_after_start(
    tmp_path: Path,
) -> None:
    settings = await _settings(tmp_path, esi={"enabled": False})
    async with Database(settings.database.url) as database:
        marks = JobMarks(database)
        now = datetime.now(UTC)
        await marks.mark("retention", now - timedelta(days=3))
        await marks.mark("sde", now - timedelta(hours=20))
    jobs = await _jobs(settings)
    retention, sde = jobs["retention"], jobs["sde"]
    assert retention is not None
    assert sde is not None
    assert abs(retention - (now + START_DELAY)) < SLACK
    assert abs(sde - (now + timedelta(hours=4))) < SLACK


async def test_the_digest_runs_at_its_slot_and_at_once_when_started_just_after_it() -> None:
    ran = asyncio.Event()

    async def post() -> None:
        ran.set()

    now = datetime.now(UTC)
    just_passed = WeeklySlot(now.weekday(), now.hour)  # this hour: minutes ago at most
    long_passed = WeeklySlot((now.weekday() + 3) % 7, now.hour)
    async with Jobs() as jobs:
        schedule_digest(jobs, post, long_passed, now)
        await asyncio.sleep(0.05)
        assert not ran.is_set()
        next_run = jobs.next_run("digest")
        assert next_run is not None
        assert (next_run.weekday(), next_run.hour) == (long_passed.weekday, long_passed.hour)
        schedule_digest(jobs, post, just_passed, now)
        await asyncio.wait_for(ran.wait(), 5)


def test_the_configured_weekday_and_hour_make_the_slot() -> None:
    settings = Settings(discord={"digest_weekday": "fri", "digest_hour": 18})
    assert digest_slot(settings) == WeeklySlot(4, 18)
