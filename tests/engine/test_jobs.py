"""Recurring jobs: failures are counted and isolated, schedules kept, runs cancelled on exit."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from engine.jobs import Jobs
from tests.fakes.waiting import until

QUICK = timedelta(milliseconds=20)


async def test_a_failing_job_is_counted_and_keeps_its_schedule_beside_a_healthy_one() -> None:
    calls = {"bad": 0, "good": 0}

    async def bad() -> None:
        calls["bad"] += 1
        raise RuntimeError("ESI is down")

    async def good() -> None:
        calls["good"] += 1

    async with Jobs() as jobs:
        jobs.add("bad", bad, every=QUICK, first_run_now=True)
        jobs.add("good", good, every=QUICK, first_run_now=True)
        await until(lambda: jobs.failures["bad"] >= 3 and jobs.runs["good"] >= 3, within=5)
        assert jobs.runs["bad"] == 0
        assert jobs.failures["good"] == 0
        assert jobs.last_error["bad"] == "RuntimeError: ESI is down"
    assert calls["bad"] >= 3


async def test_without_first_run_now_the_first_run_waits_a_whole_interval() -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    async with Jobs() as jobs:
        jobs.add("daily", job, every=timedelta(days=1))
        await asyncio.sleep(0.05)
        assert not ran.is_set()
        next_run = jobs.next_run("daily")
        assert next_run is not None
        assert next_run - datetime.now(UTC) > timedelta(hours=23)
        jobs.run_soon("daily")
        await asyncio.wait_for(ran.wait(), 5)


async def test_leaving_cancels_a_run_in_progress() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    begin = time.monotonic()
    async with Jobs() as jobs:
        jobs.add("slow", slow, every=timedelta(hours=1), first_run_now=True)
        await asyncio.wait_for(started.wait(), 5)
    assert cancelled.is_set()
    assert time.monotonic() - begin < 2
    assert jobs.failures["slow"] == 0  # a shutdown is not a failure


async def test_only_one_run_of_a_job_at_a_time() -> None:
    running = 0
    most = 0

    async def job() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.08)
        running -= 1

    async with Jobs() as jobs:
        jobs.add("overlapping", job, every=QUICK, first_run_now=True)
        await until(lambda: jobs.runs["overlapping"] >= 2, within=5)
    assert most == 1


async def test_jobs_must_be_opened_first() -> None:
    async def job() -> None:
        return None

    with pytest.raises(RuntimeError, match="async with"):
        Jobs().add("x", job, every=QUICK)
    async with Jobs() as jobs:
        with pytest.raises(ValueError, match="positive"):
            jobs.add("x", job, every=timedelta(0))


async def test_a_weekly_cron_job_waits_for_its_time_of_the_week_and_can_run_now() -> None:
    ran = asyncio.Event()

    async def digest() -> None:
        ran.set()

    async with Jobs() as jobs:
        jobs.add_cron("digest", digest, day_of_week=0, hour=12)
        next_run = jobs.next_run("digest")
        assert next_run is not None
        assert (next_run.weekday(), next_run.hour, next_run.minute) == (0, 12, 0)
        assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=7)
        await asyncio.sleep(0.05)
        assert not ran.is_set()
        jobs.run_soon("digest")
        await asyncio.wait_for(ran.wait(), 5)


async def test_a_cron_job_that_fails_is_counted_like_any_other() -> None:
    async def bad() -> None:
        raise RuntimeError("Discord is down")

    async with Jobs() as jobs:
        jobs.add_cron("digest", bad, day_of_week="mon", hour=12, first_run_now=True)
        await until(lambda: jobs.failures["digest"] == 1, within=5)
    assert jobs.last_error["digest"] == "RuntimeError: Discord is down"


async def test_status_has_each_job_with_its_counts_and_last_success_on_its_clock() -> None:
    moment = datetime(2026, 1, 22, 12, 0, tzinfo=UTC)

    async def good() -> None:
        return None

    async def bad() -> None:
        raise ValueError("no")

    async with Jobs(clock=lambda: moment) as jobs:
        jobs.add("good", good, every=timedelta(hours=1), first_run_now=True)
        jobs.add("bad", bad, every=timedelta(hours=1), first_run_now=True)
        jobs.add("later", good, every=timedelta(hours=1))
        await until(lambda: jobs.runs["good"] == 1 and jobs.failures["bad"] == 1, within=5)
        status = {job.name: job for job in jobs.status()}
    assert list(status) == ["good", "bad", "later"]
    assert (status["good"].succeeded, status["good"].failed) == (1, 0)
    assert status["good"].last_success == moment
    assert (status["bad"].succeeded, status["bad"].failed) == (0, 1)
    assert status["bad"].last_success is None
    assert status["bad"].last_error == "ValueError: no"
    assert status["later"].next_run is not None


async def test_a_first_run_at_a_given_time_and_one_in_the_past_runs_now() -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    async with Jobs() as jobs:
        later = datetime.now(UTC) + timedelta(hours=3)
        jobs.add("later", job, every=timedelta(days=1), first_run_at=later)
        assert jobs.next_run("later") == later
        jobs.add("overdue", job, every=timedelta(days=1),
                 first_run_at=datetime.now(UTC) - timedelta(days=2))
        await asyncio.wait_for(ran.wait(), 5)
        assert jobs.runs["overdue"] == 1


async def test_removing_a_job_unschedules_it_and_cancels_its_run() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with Jobs() as jobs:
        jobs.add("slow", slow, every=timedelta(hours=1), first_run_now=True)
        await asyncio.wait_for(started.wait(), 5)
        await jobs.remove("slow")
        assert cancelled.is_set()
        assert jobs.next_run("slow") is None
        await jobs.remove("slow")  # twice is harmless
