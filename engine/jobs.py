"""Recurring background work (prices, retention, names, the SDE check, the weekly digest) on
APScheduler 3.

``async with Jobs() as jobs: jobs.add("prices", book.refresh, every=timedelta(days=1))``, or
``jobs.add_cron("digest", post, day_of_week="mon", hour=12)`` for a fixed time of the week. A
run that raises is logged and counted in ``jobs.failures[name]``; the job keeps its schedule.
`status()` is what `/metrics` shows. Leaving the block shuts the scheduler down and cancels
runs still going.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

__all__ = ["JobStatus", "Jobs", "Run"]

log = logging.getLogger(__name__)

Run = Callable[[], Awaitable[object]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job as `/metrics` shows it."""

    name: str
    succeeded: int
    failed: int
    last_success: datetime | None
    last_error: str | None
    next_run: datetime | None


class Jobs:
    """Named coroutine functions run every so often; one run of each at a time.

    `clock` dates the last success of each job (tests pin it); the schedule itself runs on
    the real time of APScheduler.
    """

    def __init__(self, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self._scheduler: Any = None
        self._running: dict[asyncio.Task[Any], str] = {}  # a run in progress -> its job
        self._clock = clock
        self._names: list[str] = []
        self.runs: Counter[str] = Counter()  # runs that succeeded
        self.failures: Counter[str] = Counter()
        self.last_error: dict[str, str] = {}
        self.last_success: dict[str, datetime] = {}

    async def __aenter__(self) -> Self:
        if self._scheduler is not None:
            raise RuntimeError("Jobs is already open")
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        self._scheduler.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        scheduler.shutdown(wait=False)
        running = set(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def add(
        self,
        name: str,
        run: Run,
        *,
        every: timedelta,
        first_run_now: bool = False,
        first_run_at: datetime | None = None,
    ) -> None:
        """Run `run` every `every`; first at once when `first_run_now`, at `first_run_at` when
        given (a time already past means now), else after `every`."""
        self._require_open()
        if every <= timedelta(0):
            raise ValueError("every must be positive")
        if first_run_now:
            first_run_at = datetime.now(UTC)
        self._schedule(
            name, run, IntervalTrigger(seconds=every.total_seconds(), timezone=UTC), first_run_at
        )

    def add_cron(
        self,
        name: str,
        run: Run,
        *,
        day_of_week: str | int | None = None,
        hour: int | None = None,
        minute: int = 0,
        first_run_now: bool = False,
    ) -> None:
        """Run `run` at fixed times (UTC), as cron would: `day_of_week` ``"mon"``..``"sun"`` or
        0 (Monday)..6, None for every day; `hour` None for every hour. `first_run_now`: once
        at once as well (a run the process was down for)."""
        self._require_open()
        trigger = CronTrigger(day_of_week=day_of_week, hour=hour, minute=minute, timezone=UTC)
        self._schedule(name, run, trigger, datetime.now(UTC) if first_run_now else None)

    def _require_open(self) -> None:
        if self._scheduler is None:
            raise RuntimeError("open Jobs with `async with` before adding jobs")

    def _schedule(self, name: str, run: Run, trigger: Any, first_run_at: datetime | None) -> None:
        options: dict[str, Any] = {}
        if first_run_at is not None:
            # Only when asked: APScheduler reads an explicit None as "paused".
            options["next_run_time"] = max(first_run_at, datetime.now(UTC))
        self._scheduler.add_job(
            self._run,
            trigger,
            args=(name, run),
            id=name,
            name=name,
            # One run at a time; runs missed while busy or asleep collapse into one.
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
            **options,
        )
        if name not in self._names:
            self._names.append(name)

    async def remove(self, name: str) -> None:
        """Unschedule `name` and cancel a run of it in progress (what it needs is closing).
        Its counts stay in `status()`."""
        if self._scheduler is not None and self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)
        running = [task for task, job in self._running.items() if job == name]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def run_soon(self, name: str) -> None:
        """Move the next run of `name` to now (a command asking for fresh prices)."""
        if self._scheduler is None:
            raise RuntimeError("Jobs is not open")
        self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def next_run(self, name: str) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(name)
        return None if job is None else job.next_run_time

    def status(self) -> tuple[JobStatus, ...]:
        """Every job added, in the order added, with its counts (for `/metrics`)."""
        return tuple(
            JobStatus(
                name=name,
                succeeded=self.runs[name],
                failed=self.failures[name],
                last_success=self.last_success.get(name),
                last_error=self.last_error.get(name),
                next_run=self.next_run(name),
            )
            for name in self._names
        )

    async def _run(self, name: str, run: Run) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running[task] = name
        try:
            await run()
        except Exception as exc:
            self.failures[name] += 1
            self.last_error[name] = f"{type(exc).__name__}: {exc}"
            # An outside service being down is the common case and says it all in one line;
            # the traceback is there for whoever turns on DEBUG.
            log.error("job %s failed (%s); it runs again on schedule", name,
                      self.last_error[name])
            log.debug("job %s failure", name, exc_info=True)
        else:
            self.runs[name] += 1
            self.last_success[name] = self._clock()
        finally:
            if task is not None:
                self._running.pop(task, None)
