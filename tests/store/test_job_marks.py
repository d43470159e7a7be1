"""Job marks: a daily job keeps its rhythm across restarts, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.job_marks import JobMarks, mark_key
from engine.store.database import Database
from engine.store.repositories import StateRepository

from .support import FakeClock

DAY = timedelta(days=1)
DELAY = timedelta(minutes=2)


async def test_a_job_never_run_starts_counting_now_and_waits_a_whole_interval(
    db: Database, clock: FakeClock
) -> None:
    marks = JobMarks(db, clock=clock)

    assert await marks.first_run("retention", DAY, delay=DELAY) == clock.now + DAY
    assert await marks.last("retention") == clock.now
    # A restart an hour later keeps the same rhythm instead of waiting another day.
    start = clock.now
    clock.advance(timedelta(hours=1))
    assert await marks.first_run("retention", DAY, delay=DELAY) == start + DAY


async def test_a_success_moves_the_next_first_run_and_an_overdue_job_runs_soon_after_start(
    db: Database, clock: FakeClock
) -> None:
    marks = JobMarks(db, clock=clock)
    calls: list[str] = []

    async def job() -> None:
        calls.append("ran")

    await marks.marking("names", job)()
    assert calls == ["ran"]
    assert await marks.last("names") == clock.now
    ran_at = clock.now
    clock.advance(timedelta(hours=5))
    assert await marks.first_run("names", DAY, delay=DELAY) == ran_at + DAY
    clock.advance(timedelta(days=3))  # down for days
    assert await marks.first_run("names", DAY, delay=DELAY) == clock.now + DELAY


async def test_a_failed_run_leaves_the_last_success_as_it_was(
    db: Database, clock: FakeClock
) -> None:
    marks = JobMarks(db, clock=clock)
    await marks.mark("sde")
    before = clock.now
    clock.advance(DAY)

    async def broken() -> None:
        raise RuntimeError("CCP is down")

    with pytest.raises(RuntimeError):
        await marks.marking("sde", broken)()
    assert await marks.last("sde") == before


async def test_a_mark_that_cannot_be_read_starts_counting_again(
    db: Database, clock: FakeClock
) -> None:
    async with db.session() as session, session.begin():
        await StateRepository(session).set(mark_key("retention"), "yesterday-ish")
    marks = JobMarks(db, clock=clock)
    assert await marks.last("retention") is None
    assert await marks.first_run("retention", DAY, delay=DELAY) == clock.now + DAY
