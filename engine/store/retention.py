"""Retention: kills and finished outbox rows older than configured ages, deleted in batches.

Each batch is its own short transaction (at most `RetentionPolicy.batch` rows), so the
pipeline's writes go on between batches instead of waiting behind one long delete; a run
stops after `max_batches` batches per table and the next run goes on from there.

- Outbox rows go once finished (sent, failed or skipped) and older (by when they were owed)
  than `outbox_days`. Pending rows are never deleted: they are posts still owed.
- Kills go once their killmail time is older than `kill_days`, with the rows of every table
  that belongs to a kill (:data:`_OWNED_BY_KILL`), except a kill a pending outbox row still
  needs to be posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.store.database import Database
from engine.store.repositories import Clock, utc_now
from engine.store.tables import KillmailRow, KillParticipantRow, OutboxRow

__all__ = ["FINISHED_STATES", "RetentionPolicy", "RetentionReport", "RetentionRepository", "purge"]

log = logging.getLogger(__name__)

_KILLMAILS: Table = KillmailRow.metadata.tables[KillmailRow.__tablename__]
_OUTBOX: Table = OutboxRow.metadata.tables[OutboxRow.__tablename__]

# Outbox states that are final (engine.store.outbox); "pending" is the only other one.
FINISHED_STATES: Final = ("sent", "failed", "skipped")

# Tables whose rows belong to one killmail, keyed by a `killmail_id` column: deleted with the
# kill, in the same transaction. A new such table is one more entry here.
_OWNED_BY_KILL: Final[tuple[Table, ...]] = (
    KillParticipantRow.metadata.tables[KillParticipantRow.__tablename__],
)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long to keep what; 0 days keeps it forever."""

    kill_days: int = 90
    outbox_days: int = 7
    batch: int = 5_000  # rows per transaction
    max_batches: int = 200  # per table and run: a million rows a run at most

    def __post_init__(self) -> None:
        if self.kill_days < 0 or self.outbox_days < 0:
            raise ValueError("retention days must not be negative")
        if self.batch < 1 or self.max_batches < 1:
            raise ValueError("batch and max_batches must be positive")


@dataclass(frozen=True, slots=True)
class RetentionReport:
    kills: int  # kills deleted
    outbox: int  # outbox rows deleted
    finished: bool  # False when the per-run cap stopped it with more to delete


class RetentionRepository:
    """The deletes of one batch; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def delete_finished_outbox(self, before: datetime, limit: int) -> int:
        """Up to `limit` finished outbox rows owed before `before`, oldest first."""
        oldest = (
            select(_OUTBOX.c.id)
            .where(_OUTBOX.c.state.in_(FINISHED_STATES), _OUTBOX.c.created_at < before)
            .order_by(_OUTBOX.c.id)
            .limit(limit)
        )
        ids = list((await self._session.scalars(oldest)).all())
        if not ids:
            return 0
        result = await self._session.execute(
            delete(_OUTBOX)
            # The state again: a row cannot be pending by now, but a delete must never be
            # the reason a post owed is lost.
            .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.state.in_(FINISHED_STATES))
            .returning(_OUTBOX.c.id)
        )
        return len(result.all())

    async def delete_old_kills(self, before: datetime, limit: int) -> int:
        """Up to `limit` kills with a killmail time before `before`, oldest first, and what
        belongs to them; kills a pending outbox row still owes are kept."""
        owed = select(_OUTBOX.c.killmail_id).where(_OUTBOX.c.state == "pending")
        oldest = (
            select(_KILLMAILS.c.killmail_id)
            .where(_KILLMAILS.c.killmail_time < before, _KILLMAILS.c.killmail_id.not_in(owed))
            .order_by(_KILLMAILS.c.killmail_time)
            .limit(limit)
        )
        ids = list((await self._session.scalars(oldest)).all())
        if not ids:
            return 0
        result = await self._session.execute(
            delete(_KILLMAILS)
            .where(_KILLMAILS.c.killmail_id.in_(ids), _KILLMAILS.c.killmail_id.not_in(owed))
            .returning(_KILLMAILS.c.killmail_id)
        )
        # Only what belongs to the kills actually deleted: one owed meanwhile keeps its rows.
        deleted = list(result.scalars())
        for table in _OWNED_BY_KILL:
            await self._session.execute(delete(table).where(table.c.killmail_id.in_(deleted)))
        return len(deleted)


async def purge(
    database: Database, policy: RetentionPolicy, *, clock: Clock = utc_now
) -> RetentionReport:
    """Delete what `policy` no longer keeps, batch by batch (the retention job)."""
    now = clock()
    outbox, outbox_done = 0, True
    if policy.outbox_days:
        owed_before = now - timedelta(days=policy.outbox_days)
        outbox, outbox_done = await _in_batches(
            database, policy,
            lambda repository: repository.delete_finished_outbox(owed_before, policy.batch),
        )
    kills, kills_done = 0, True
    if policy.kill_days:
        killed_before = now - timedelta(days=policy.kill_days)
        kills, kills_done = await _in_batches(
            database, policy,
            lambda repository: repository.delete_old_kills(killed_before, policy.batch),
        )
    report = RetentionReport(kills, outbox, outbox_done and kills_done)
    if kills or outbox:
        log.info(
            "retention: deleted %d kills older than %d days and %d finished outbox rows older "
            "than %d days%s",
            kills, policy.kill_days, outbox, policy.outbox_days,
            "" if report.finished else " (more left for the next run)",
        )
    return report


async def _in_batches(
    database: Database,
    policy: RetentionPolicy,
    one_batch: Callable[[RetentionRepository], Awaitable[int]],
) -> tuple[int, bool]:
    """(rows deleted, whether none is left)."""
    deleted = 0
    for _ in range(policy.max_batches):
        async with database.session() as session, session.begin():
            count = await one_batch(RetentionRepository(session))
        deleted += count
        if count < policy.batch:
            return deleted, True
        await asyncio.sleep(0)  # let the pipeline's writes in between batches
    return deleted, False
