"""The outbox: one row per (destination, kill) owed, written in the kill's own transaction.

A row is *pending* until the destination accepted the post (*sent*, with the message id),
or until it can never be posted (*failed*: the channel is gone; *skipped*: too old by the time
it could be sent). The unique (destination, killmail) pair is what makes "posted once" hold
across crashes and feeds: a kill matched twice owes one post.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.store.repositories import Clock, _insert, utc_now
from engine.store.tables import OutboxRow

__all__ = ["OutboxEntry", "OutboxRepository", "Owed"]

_OUTBOX: Table = OutboxRow.metadata.tables[OutboxRow.__tablename__]


@dataclass(frozen=True, slots=True)
class Owed:
    """A post to make: the destination, the kill, and every subscription that wanted it."""

    destination: str
    killmail_id: int
    subscription_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    destination: str
    killmail_id: int
    subscription_ids: tuple[int, ...]
    state: str
    attempts: int
    created_at: datetime


class OutboxRepository:
    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def enqueue(self, owed: Sequence[Owed]) -> list[OutboxEntry]:
        """Add what is not owed yet; returns the rows created (a repeat creates none)."""
        if not owed:
            return []
        now = self._clock()
        rows = [
            {
                "destination": item.destination,
                "killmail_id": item.killmail_id,
                "subscription_ids": list(item.subscription_ids),
                "state": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for item in owed
        ]
        statement = (
            _insert(self._session, _OUTBOX)
            .on_conflict_do_nothing(index_elements=[_OUTBOX.c.destination, _OUTBOX.c.killmail_id])
            .returning(_OUTBOX.c.id, _OUTBOX.c.destination, _OUTBOX.c.killmail_id)
        )
        result = await self._session.execute(statement, rows)
        created = {(dest, kill): row_id for row_id, dest, kill in result}
        return [
            OutboxEntry(
                created[(item.destination, item.killmail_id)],
                item.destination,
                item.killmail_id,
                item.subscription_ids,
                "pending",
                0,
                now,
            )
            for item in owed
            if (item.destination, item.killmail_id) in created
        ]

    async def pending(self, limit: int = 10_000, after_id: int = 0) -> list[OutboxEntry]:
        """Unsent rows in the order they were owed."""
        result = await self._session.execute(
            select(OutboxRow)
            .where(OutboxRow.state == "pending", OutboxRow.id > after_id)
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        return [_entry(row) for row in result.scalars()]

    async def mark_sent(self, ids: Sequence[int], message_id: int | None) -> None:
        await self._session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(list(ids)))
            .values(
                state="sent",
                message_id=message_id,
                sent_at=self._clock(),
                attempts=_OUTBOX.c.attempts + 1,
                error=None,
            )
        )

    async def mark_attempt(self, ids: Sequence[int], error: str) -> None:
        """A try that failed but may work later: the rows stay pending."""
        await self._session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(list(ids)))
            .values(attempts=_OUTBOX.c.attempts + 1, error=error)
        )

    async def close(self, ids: Sequence[int], state: str, reason: str) -> None:
        """Give up on rows for good: ``failed`` (cannot be posted) or ``skipped`` (no point)."""
        if state not in ("failed", "skipped"):
            raise ValueError(f"rows close as failed or skipped, not {state!r}")
        await self._session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(list(ids))).values(state=state, error=reason)
        )

    async def counts(self) -> dict[str, int]:
        result = await self._session.execute(
            select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
        )
        return {state: count for state, count in result}

    async def get(self, destination: str, killmail_id: int) -> OutboxEntry | None:
        result = await self._session.execute(
            select(OutboxRow).where(
                OutboxRow.destination == destination, OutboxRow.killmail_id == killmail_id
            )
        )
        row = result.scalar_one_or_none()
        return None if row is None else _entry(row)


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        row.id,
        row.destination,
        row.killmail_id,
        tuple(row.subscription_ids),
        row.state,
        row.attempts,
        row.created_at,
    )
