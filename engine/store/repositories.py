"""Repositories: the only code that runs SQL. Each takes a session and returns plain records.

Repositories never commit; the caller owns the transaction::

    async with db.session() as session, session.begin():
        new_ids = await KillmailRepository(session).add_new(kills)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.store.records import StoredKill
from engine.store.tables import KillmailRow, KillParticipantRow, StateRow

__all__ = [
    "Clock",
    "KillmailRepository",
    "StateRepository",
    "UnsupportedDialectError",
    "utc_now",
]

Clock = Callable[[], datetime]

_T = TypeVar("_T")

# SQLite allows 32766 bound parameters per statement and asyncpg 32767; an IN list of this
# many ids stays far below both.
_CHUNK = 1000

_KILLMAILS: Table = KillmailRow.metadata.tables[KillmailRow.__tablename__]
_STATE: Table = StateRow.metadata.tables[StateRow.__tablename__]
_PARTICIPANTS: Table = KillParticipantRow.metadata.tables[KillParticipantRow.__tablename__]

_KILL_COLUMNS = (
    KillmailRow.killmail_id,
    KillmailRow.hash,
    KillmailRow.killmail_time,
    KillmailRow.solar_system_id,
    KillmailRow.value,
    KillmailRow.too_old,
    KillmailRow.labels,
    KillmailRow.points,
    KillmailRow.source,
    KillmailRow.sequence_id,
)


class UnsupportedDialectError(RuntimeError):
    """The session is bound to a database other than SQLite or PostgreSQL."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(session: AsyncSession, table: Table) -> sqlite.Insert | postgresql.Insert:
    # ON CONFLICT is not standard SQL; each dialect ships its own Insert that can render it.
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise UnsupportedDialectError(f"the store supports SQLite and PostgreSQL, not {dialect}")


class KillmailRepository:
    """Killmails already seen, so each one is processed and posted once."""

    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def add_new(self, kills: Sequence[StoredKill]) -> set[int]:
        """Store the kills not stored yet and return the ids of those that were new.

        If an id appears twice in ``kills`` the first occurrence is kept. Safe against a
        concurrent writer: the database, not a prior read, decides what is new. The
        participants of each new kill are stored with it (``kill_participants``).
        """
        unique: dict[int, StoredKill] = {}
        for kill in kills:
            unique.setdefault(kill.killmail_id, kill)
        if not unique:
            return set()
        received_at = self._clock()
        rows = [
            {
                "killmail_id": kill.killmail_id,
                "hash": kill.hash,
                "killmail_time": kill.killmail_time,
                "solar_system_id": kill.solar_system_id,
                "value": kill.value,
                "received_at": received_at,
                "too_old": kill.too_old,
                "labels": list(kill.labels),
                "points": kill.points,
                "source": kill.source,
                "sequence_id": kill.sequence_id,
                "body": kill.body,
            }
            for kill in unique.values()
        ]
        statement = (
            _insert(self._session, _KILLMAILS)
            .on_conflict_do_nothing(index_elements=[_KILLMAILS.c.killmail_id])
            .returning(_KILLMAILS.c.killmail_id)
        )
        # A list of parameter sets makes SQLAlchemy's "insertmanyvalues" render one multi-row
        # INSERT (split into pages only for batches beyond the drivers' parameter limits) and
        # gather the RETURNING rows of every page, on both dialects.
        result = await self._session.execute(statement, rows)
        new = set(result.scalars())
        await self._add_participants([kill for kill in unique.values() if kill.killmail_id in new])
        return new

    async def _add_participants(self, kills: Sequence[StoredKill]) -> None:
        rows = [
            {
                "killmail_id": kill.killmail_id,
                "entity_id": participant.entity_id,
                "role": participant.role,
                "killmail_time": kill.killmail_time,
            }
            for kill in kills
            for participant in kill.participants
        ]
        if not rows:
            return
        # Only kills this call inserted get here; ignoring duplicates still keeps a record
        # that lists an entity twice from failing the whole batch.
        statement = _insert(self._session, _PARTICIPANTS).on_conflict_do_nothing(
            index_elements=[_PARTICIPANTS.c.killmail_id, _PARTICIPANTS.c.entity_id]
        )
        await self._session.execute(statement, rows)

    async def known(self, ids: Collection[int]) -> set[int]:
        """The subset of ``ids`` already stored."""
        wanted = sorted(set(ids))
        found: set[int] = set()
        for chunk in _chunks(wanted):
            result = await self._session.scalars(
                select(KillmailRow.killmail_id).where(KillmailRow.killmail_id.in_(chunk))
            )
            found.update(result)
        return found

    async def get(self, killmail_id: int) -> StoredKill | None:
        result = await self._session.execute(
            select(*_KILL_COLUMNS).where(KillmailRow.killmail_id == killmail_id)
        )
        row = result.one_or_none()
        return None if row is None else _stored(row)

    async def update_value(self, killmail_id: int, value: float | None) -> bool:
        """Set the ISK value of a stored kill; ``False`` if no such kill is stored."""
        result = await self._session.execute(
            update(_KILLMAILS)
            .where(_KILLMAILS.c.killmail_id == killmail_id)
            .values(value=value)
            .returning(_KILLMAILS.c.killmail_id)
        )
        return result.scalar_one_or_none() is not None

    async def recent(self, limit: int, since: datetime | None = None) -> list[StoredKill]:
        """Up to ``limit`` kills, newest ``killmail_time`` first, at or after ``since``."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        statement = (
            select(*_KILL_COLUMNS)
            # The id breaks ties between kills of the same second, so pages are stable.
            .order_by(KillmailRow.killmail_time.desc(), KillmailRow.killmail_id.desc())
            .limit(limit)
        )
        if since is not None:
            statement = statement.where(KillmailRow.killmail_time >= since)
        result = await self._session.execute(statement)
        return [_stored(row) for row in result]

    async def bodies(self, ids: Collection[int]) -> dict[int, bytes]:
        """The stored killmail bodies of `ids` (kills stored without one are left out)."""
        wanted = sorted(set(ids))
        found: dict[int, bytes] = {}
        for chunk in _chunks(wanted):
            result = await self._session.execute(
                select(KillmailRow.killmail_id, KillmailRow.body).where(
                    KillmailRow.killmail_id.in_(chunk), KillmailRow.body.is_not(None)
                )
            )
            found.update({k: body for k, body in result if body is not None})
        return found

    async def update_zkb(
        self, killmail_id: int, value: float | None, labels: Sequence[str], points: int | None
    ) -> bool:
        """zKillboard republished a kill (a late label, a corrected value): keep the news.

        ``False`` if no such kill is stored.
        """
        result = await self._session.execute(
            update(_KILLMAILS)
            .where(_KILLMAILS.c.killmail_id == killmail_id)
            .values(value=value, labels=list(labels), points=points)
            .returning(_KILLMAILS.c.killmail_id)
        )
        return result.scalar_one_or_none() is not None

    async def count(self) -> int:
        result = await self._session.execute(select(func.count()).select_from(_KILLMAILS))
        return result.scalar_one()


def _stored(row: Sequence[Any]) -> StoredKill:
    (killmail_id, hash_, time, system_id, value, too_old, labels, points, source, sequence) = row
    return StoredKill(
        killmail_id,
        hash_,
        time,
        system_id,
        value,
        bool(too_old),
        tuple(labels or ()),
        points,
        source,
        sequence,
    )


class StateRepository:
    """Small named values that must survive a restart, such as feed cursors."""

    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def get(self, key: str) -> str | None:
        result = await self._session.execute(select(StateRow.value).where(StateRow.key == key))
        return result.scalar_one_or_none()

    async def set(self, key: str, value: str) -> None:
        statement = _insert(self._session, _STATE).values(
            key=key, value=value, updated_at=self._clock()
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[_STATE.c.key],
                set_={
                    "value": statement.excluded["value"],
                    "updated_at": statement.excluded["updated_at"],
                },
            )
        )

    async def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every key starting with `prefix` (such as all feed positions) and its value."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = select(StateRow.key, StateRow.value).where(
            StateRow.key.like(escaped + "%", escape="\\")
        )
        result = await self._session.execute(statement)
        return {key: value for key, value in result}

    async def delete(self, key: str) -> None:
        await self._session.execute(delete(_STATE).where(_STATE.c.key == key))
