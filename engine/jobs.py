"""Recurring background work (the daily price refresh, later retention) on APScheduler 3.

``async with Jobs() as jobs: jobs.add("prices", book.refresh, every=timedelta(days=1))``. A
run that raises is logged and counted in ``jobs.failures[name]``; the job keeps its schedule.
Leaving the block shuts the scheduler down and cancels runs still going.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

__all__ = ["Jobs"]

log = logging.getLogger(__name__)


class Jobs:
    """Named coroutine functions run every so often; one run of each at a time."""

    def __init__(self) -> None:
        self._scheduler: Any = None
        self._running: set[asyncio.Task[Any]] = set()
        self.runs: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.last_error: dict[str, str] = {}

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
        run: Callable[[], Awaitable[object]],
        *,
        every: timedelta,
        first_run_now: bool = False,
    ) -> None:
        """Run `run` every `every`; first at once when `first_run_now`, else after `every`."""
        if self._scheduler is None:
            raise RuntimeError("open Jobs with `async with` before adding jobs")
        if every <= timedelta(0):
            raise ValueError("every must be positive")
        options: dict[str, Any] = {}
        if first_run_now:
            # Only when asked: APScheduler reads an explicit None as "paused".
            options["next_run_time"] = datetime.now(UTC)
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
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

    async def _run(self, name: str, run: Callable[[], Awaitable[object]]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
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
        finally:
            if task is not None:
                self._running.discard(task)
