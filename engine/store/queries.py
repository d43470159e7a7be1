"""Reading stored kills back for the query commands: newest, most valuable, by participant.

Like :mod:`engine.store.repositories`, a repository here takes a session, never commits and
returns plain records (:class:`KillBody`), never ORM rows.

Who took part in a kill is indexed in ``kill_participants`` (one row per entity per kill,
written with the kill): :meth:`KillQueryRepository.newest` with ``mentioning`` reads a range of
its (entity_id, killmail_time, killmail_id) index and joins the kills' rows by key, so the
kills of an entity cost what it has, not what the store holds, and no body is searched.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeAlias

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from engine.store.tables import KillmailRow, KillParticipantRow, NameRow

__all__ = ["MAX_ENTITIES", "MAX_SYSTEMS", "KillBody", "KillQueryRepository", "NameMatch"]

# Far below both drivers' bound-parameter limits; the largest region has about 120 systems.
MAX_SYSTEMS: Final = 2000
# One query per entity: a name matches a handful of them, never this many.
MAX_ENTITIES: Final = 50
_TEXT: Final = 255

_BodyRows: TypeAlias = Select[int, datetime, int, float | None, bytes | None]


@dataclass(frozen=True, slots=True)
class KillBody:
    """A stored kill with its body (the parsed killmail as JSON), to decode and count."""

    killmail_id: int
    killmail_time: datetime
    solar_system_id: int
    value: float | None
    body: bytes


@dataclass(frozen=True, slots=True)
class NameMatch:
    """A name the store holds for an id (as ESI gave it), with its category when known."""

    entity_id: int
    name: str
    category: str | None


class KillQueryRepository:
    """Stored kills by time, place, value and participant; only kills stored with a body."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def newest(
        self,
        limit: int | None,
        *,
        since: datetime | None = None,
        systems: Collection[int] | None = None,
        before: tuple[datetime, int] | None = None,
        mentioning: Collection[int] = (),
    ) -> list[KillBody]:
        """Kills newest first (ties by id, descending), at or after ``since``, in ``systems``,
        strictly older than the ``before`` (time, id) position (the last one of a previous
        page), that one of ``mentioning`` (character, corporation, alliance or faction ids)
        took part in; at most ``limit`` (None: all)."""
        if limit is not None:
            _checked_limit(limit)
        if mentioning:
            ids = sorted(set(mentioning))
            if len(ids) > MAX_ENTITIES:
                raise ValueError(f"at most {MAX_ENTITIES} entities per query, got {len(ids)}")
            return await self._mentioning(ids, limit, since, systems, before)
        statement = self._bodies(since, systems)
        if before is not None:
            statement = statement.where(
                _older(KillmailRow.killmail_time, KillmailRow.killmail_id, before)
            )
        statement = statement.order_by(
            KillmailRow.killmail_time.desc(), KillmailRow.killmail_id.desc()
        )
        if limit is not None:
            statement = statement.limit(limit)
        return await self._run(statement)

    async def _mentioning(
        self,
        ids: Sequence[int],
        limit: int | None,
        since: datetime | None,
        systems: Collection[int] | None,
        before: tuple[datetime, int] | None,
    ) -> list[KillBody]:
        # One index range per entity, merged here: `entity_id IN (...)` would give up the
        # index order and sort every kill of a busy alliance to return its newest ten.
        found: dict[int, KillBody] = {}
        for entity_id in ids:
            for kill in await self._run(self._of(entity_id, limit, since, systems, before)):
                found.setdefault(kill.killmail_id, kill)
        kills = sorted(found.values(), key=lambda k: (k.killmail_time, k.killmail_id))
        kills.reverse()
        return kills if limit is None else kills[:limit]

    @staticmethod
    def _of(
        entity_id: int,
        limit: int | None,
        since: datetime | None,
        systems: Collection[int] | None,
        before: tuple[datetime, int] | None,
    ) -> _BodyRows:
        party = KillParticipantRow
        statement = (
            select(
                KillmailRow.killmail_id,
                party.killmail_time,
                KillmailRow.solar_system_id,
                KillmailRow.value,
                KillmailRow.body,
            )
            .select_from(party)
            .join(KillmailRow, KillmailRow.killmail_id == party.killmail_id)
            .where(party.entity_id == entity_id, KillmailRow.body.is_not(None))
        )
        if since is not None:
            statement = statement.where(party.killmail_time >= since)
        if systems is not None:
            statement = statement.where(KillmailRow.solar_system_id.in_(_checked(systems)))
        if before is not None:
            statement = statement.where(_older(party.killmail_time, party.killmail_id, before))
        statement = statement.order_by(party.killmail_time.desc(), party.killmail_id.desc())
        return statement if limit is None else statement.limit(limit)

    async def most_valuable(
        self, since: datetime, limit: int, *, systems: Collection[int] | None = None
    ) -> list[KillBody]:
        """The ``limit`` kills of highest value at or after ``since``; kills with no value are
        left out, equal values newest first."""
        statement = (
            self._bodies(since, systems)
            .where(KillmailRow.value.is_not(None))
            .order_by(
                KillmailRow.value.desc(),
                KillmailRow.killmail_time.desc(),
                KillmailRow.killmail_id.desc(),
            )
            .limit(_checked_limit(limit))
        )
        return await self._run(statement)

    async def floor(
        self, since: datetime, rows: int, *, systems: Collection[int] | None = None
    ) -> datetime | None:
        """The time of the ``rows``-th newest kill at or after ``since`` (in ``systems``), or
        None when there are fewer: where a scan of at most about ``rows`` kills has to stop.

        Reads only the time index, not the bodies.
        """
        if rows < 1:
            raise ValueError(f"rows must be positive, got {rows}")
        statement = select(KillmailRow.killmail_time).where(KillmailRow.killmail_time >= since)
        if systems is not None:
            statement = statement.where(KillmailRow.solar_system_id.in_(_checked(systems)))
        statement = statement.order_by(KillmailRow.killmail_time.desc()).offset(rows - 1).limit(1)
        result = await self._session.execute(statement)
        return result.scalar_one_or_none()

    async def count(self, since: datetime, *, systems: Collection[int] | None = None) -> int:
        """How many kills are stored at or after ``since`` (in ``systems``), bodies or not."""
        statement = select(func.count()).where(KillmailRow.killmail_time >= since)
        if systems is not None:
            statement = statement.where(KillmailRow.solar_system_id.in_(_checked(systems)))
        result = await self._session.execute(statement)
        return result.scalar_one()

    async def names(self, name: str) -> list[NameMatch]:
        """The ids whose stored name is ``name``, ignoring case (ASCII case on SQLite)."""
        wanted = name.strip().lower()[:_TEXT]
        if not wanted:
            return []
        result = await self._session.execute(
            select(NameRow.entity_id, NameRow.name, NameRow.category)
            .where(func.lower(NameRow.name) == wanted)
            .order_by(NameRow.entity_id)
        )
        return [NameMatch(entity_id, found, category) for entity_id, found, category in result]

    async def names_starting(
        self, prefix: str, limit: int, *, categories: Collection[str] | None = None
    ) -> list[NameMatch]:
        """Stored names beginning with ``prefix`` (ignoring case), alphabetical: for
        autocomplete. ``categories`` keeps only those (names stored without one stay)."""
        escaped = prefix.strip().lower().replace("\\", "\\\\").replace("%", "\\%")
        escaped = escaped.replace("_", "\\_")[:_TEXT]
        statement = select(NameRow.entity_id, NameRow.name, NameRow.category).where(
            func.lower(NameRow.name).like(escaped + "%", escape="\\")
        )
        if categories is not None:
            statement = statement.where(
                or_(NameRow.category.in_(sorted(categories)), NameRow.category.is_(None))
            )
        statement = statement.order_by(NameRow.name, NameRow.entity_id).limit(
            _checked_limit(limit)
        )
        result = await self._session.execute(statement)
        return [NameMatch(entity_id, found, category) for entity_id, found, category in result]

    @staticmethod
    def _bodies(
        since: datetime | None, systems: Collection[int] | None
    ) -> _BodyRows:
        statement = select(
            KillmailRow.killmail_id,
            KillmailRow.killmail_time,
            KillmailRow.solar_system_id,
            KillmailRow.value,
            KillmailRow.body,
        ).where(KillmailRow.body.is_not(None))
        if since is not None:
            statement = statement.where(KillmailRow.killmail_time >= since)
        if systems is not None:
            statement = statement.where(KillmailRow.solar_system_id.in_(_checked(systems)))
        return statement

    async def _run(
        self, statement: _BodyRows
    ) -> list[KillBody]:
        result = await self._session.execute(statement)
        return [
            KillBody(killmail_id, when, system_id, value, body)
            for killmail_id, when, system_id, value, body in result
            if body is not None
        ]


def _older(
    time: InstrumentedAttribute[datetime],
    killmail_id: InstrumentedAttribute[int],
    before: tuple[datetime, int],
) -> ColumnElement[bool]:
    moment, last_id = before
    # The first term repeats what the OR implies so that both planners start the index
    # range at `moment` instead of filtering from the newest kill down on every page.
    return and_(
        time <= moment,
        or_(time < moment, and_(time == moment, killmail_id < last_id)),
    )


def _checked(systems: Collection[int]) -> Sequence[int]:
    wanted = sorted(set(systems))
    if len(wanted) > MAX_SYSTEMS:
        raise ValueError(f"at most {MAX_SYSTEMS} systems per query, got {len(wanted)}")
    return wanted


def _checked_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    return limit
