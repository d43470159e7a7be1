"""The scheduled jobs of a running Killwatch, in one place: what runs, when, on which parts.

- ``prices``: ESI's market prices, every ``esi.prices_refresh_hours`` (``runtime``, since the
  enricher needs the price book before the engine is built);
- ``retention``: daily, kills and finished outbox rows past their days
  (:mod:`engine.store.retention`);
- ``names``: daily with ESI, stored names past ``esi.names_refresh_days`` asked again
  (:mod:`engine.esi.names_refresh`);
- ``sde``: daily, a newer SDE logged and, with ``engine.sde_auto_update``, installed
  (:mod:`engine.enrich.sde.check`);
- ``digest``: in bot mode, weekly at ``discord.digest_weekday``/``digest_hour``, the week's
  top kills to the channels that opted in (:mod:`bot.digest`).

The daily jobs keep their last success in the store (:class:`engine.job_marks.JobMarks`): a
process restarted more often than daily still runs them daily, and one down for longer runs
them shortly after it starts.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from engine.digests import WeeklySlot
from engine.enrich.sde.check import SdeCheck, build_in_use
from engine.esi.names_refresh import NamesRefresh
from engine.job_marks import JobMarks
from engine.jobs import Jobs, Run
from engine.store.lookups import DatabaseNameStore
from engine.store.retention import RetentionPolicy, purge

if TYPE_CHECKING:  # runtime imports this module to schedule the jobs
    from bot.config import Settings
    from bot.runtime import Parts

__all__ = [
    "DAILY",
    "DIGEST_CATCH_UP",
    "START_DELAY",
    "digest_slot",
    "schedule_digest",
    "schedule_maintenance",
    "scheduled_digest",
]

DAILY: Final = timedelta(days=1)
# An overdue daily job waits this long after start: the feeds catch up first.
START_DELAY: Final = timedelta(minutes=2)
# A process started this soon after the digest's time posts it at once (to the channels that
# did not get it yet).
DIGEST_CATCH_UP: Final = timedelta(hours=12)
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def schedule_maintenance(parts: Parts, jobs: Jobs) -> None:
    """Retention, the names refresh (with ESI) and the SDE check, each daily."""
    settings = parts.settings
    marks = JobMarks(parts.database)
    policy = RetentionPolicy(
        kill_days=settings.engine.retention_days,
        outbox_days=settings.engine.outbox_retention_days,
    )
    await _daily(jobs, marks, "retention", functools.partial(purge, parts.database, policy))
    if parts.names is not None:
        refresh = NamesRefresh(
            parts.context.esi,
            DatabaseNameStore(parts.database),
            max_age=timedelta(days=settings.esi.names_refresh_days),
            per_run=settings.esi.names_refresh_per_run,
        )
        await _daily(jobs, marks, "names", refresh.run)
    if settings.engine.sde_check:
        check = SdeCheck(
            parts.context.session,
            settings.engine.data_dir,
            build_in_use(parts.universe.source),
            version_url=settings.engine.sde_version_url,
            apply=settings.engine.sde_auto_update,
            user_agent=parts.context.user_agent,
        )
        await _daily(jobs, marks, "sde", check.run)


def digest_slot(settings: Settings) -> WeeklySlot:
    discord = settings.discord
    return WeeklySlot(_WEEKDAYS.index(discord.digest_weekday), discord.digest_hour)


def schedule_digest(jobs: Jobs, post: Run, slot: WeeklySlot, now: datetime) -> None:
    """The weekly digest (`bot.digest.DigestPoster.run`) at `slot`; at once too when the
    process starts just after a slot (channels given that week's digest are skipped)."""
    jobs.add_cron(
        "digest",
        post,
        day_of_week=slot.weekday,
        hour=slot.hour,
        first_run_now=now - slot.latest(now) <= DIGEST_CATCH_UP,
    )


@contextlib.asynccontextmanager
async def scheduled_digest(
    jobs: Jobs, post: Run, slot: WeeklySlot, now: datetime
) -> AsyncIterator[None]:
    """The digest job for the block: it posts through the sender, which closes after it."""
    schedule_digest(jobs, post, slot, now)
    try:
        yield
    finally:
        await jobs.remove("digest")


async def _daily(jobs: Jobs, marks: JobMarks, name: str, run: Run) -> None:
    first = await marks.first_run(name, DAILY, delay=START_DELAY)
    jobs.add(name, marks.marking(name, run), every=DAILY, first_run_at=first)
