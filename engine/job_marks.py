"""When each scheduled job last succeeded, kept in the store so a restart keeps the rhythm.

A daily job scheduled "a day after start" never runs in a process restarted more often than
daily; one scheduled "at start" runs at every restart. :class:`JobMarks` remembers the last
success of each job in the state table (``job:<name>:last_success``), so the first run of a
process comes a whole interval after the last one, or soon after start when that is overdue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

from engine.store.database import Database
from engine.store.repositories import Clock, StateRepository, utc_now

__all__ = ["JobMarks", "mark_key"]

_PREFIX: Final = "job:"


def mark_key(name: str) -> str:
    return f"{_PREFIX}{name}:last_success"


class JobMarks:
    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def last(self, name: str) -> datetime | None:
        async with self._database.session() as session:
            raw = await StateRepository(session).get(mark_key(name))
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None  # a hand-edited value: start counting again

    async def mark(self, name: str, when: datetime | None = None) -> None:
        moment = self._clock() if when is None else when
        async with self._database.session() as session, session.begin():
            await StateRepository(session, clock=self._clock).set(
                mark_key(name), moment.isoformat()
            )

    async def first_run(self, name: str, every: timedelta, *, delay: timedelta) -> datetime:
        """When this process should first run the job: `every` after its last success, but
        not before `delay` from now. A job never run before starts counting now (and says so
        in the store), so a fresh install waits one interval, as a restarted one does."""
        now = self._clock()
        last = await self.last(name)
        if last is None:
            await self.mark(name, now)
            return now + every
        return max(last + every, now + delay)

    def marking(
        self, name: str, run: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        """`run`, then the mark of its success (a failed run leaves the old mark)."""

        async def run_and_mark() -> None:
            await run()
            await self.mark(name)

        return run_and_mark
