"""Reading stored kills back for the query commands: newest, most valuable, by participant.

Like :mod:`engine.store.repositories`, a repository here takes a session, never commits and
returns plain records (:class:`KillBody`), never ORM rows.

A participant (a character, corporation or alliance) has no column of its own: who took part is
in the stored body. :meth:`KillQueryRepository.newest` with ``mentioning`` filters inside the
database on the body's bytes (``"..._id":<id>,`` or ``}``), so only candidate bodies travel;
the caller decodes them and checks the ids exactly (a value elsewhere in the body could match).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeAlias

from sqlalchemy import Boolean, ColumnElement, LargeBinary, Select, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from engine.store.tables import KillmailRow, NameRow

__all__ = ["MAX_SYSTEMS", "KillBody", "KillQueryRepository", "NameMatch", "body_needles"]

# Far below both drivers' bound-parameter limits; the largest region has about 120 systems.
MAX_SYSTEMS: Final = 2000
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


class _BytesContain(FunctionElement[bool]):
    """``haystack`` contains ``needle``, both binary: instr() on SQLite, position() on
    PostgreSQL (neither spelling works on the other)."""

    type = Boolean()
    inherit_cache = True
    name = "bytes_contain"


@compiles(_BytesContain, "sqlite")
def _contain_sqlite(element: _BytesContain, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"(instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)}) > 0)"


@compiles(_BytesContain, "postgresql")
def _contain_postgresql(element: _BytesContain, compiler: SQLCompiler, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return (
        f"(position({compiler.process(needle, **kw)} IN {compiler.process(haystack, **kw)}) > 0)"
    )


def body_needles(entity_id: int) -> tuple[bytes, bytes]:
    """What a stored body holds where ``entity_id`` is a character, corporation or alliance
    id: msgspec writes ``"character_id":123,`` (or ``}`` after a struct's last field)."""
    return (b'_id":%d,' % entity_id, b'_id":%d}' % entity_id)


def _mentions(ids: Collection[int]) -> ColumnElement[bool]:
    needles = [needle for entity_id in sorted(set(ids)) for needle in body_needles(entity_id)]
    return or_(
        *(_BytesContain(KillmailRow.body, literal(n, LargeBinary())) for n in needles)
    )


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
        page), whose body mentions one of ``mentioning``; at most ``limit`` (None: all)."""
        statement = self._bodies(since, systems)
        if before is not None:
            moment, killmail_id = before
            statement = statement.where(
                or_(
                    KillmailRow.killmail_time < moment,
                    and_(
                        KillmailRow.killmail_time == moment,
                        KillmailRow.killmail_id < killmail_id,
                    ),
                )
            )
        if mentioning:
            statement = statement.where(_mentions(mentioning))
        statement = statement.order_by(
            KillmailRow.killmail_time.desc(), KillmailRow.killmail_id.desc()
        )
        if limit is not None:
            statement = statement.limit(_checked_limit(limit))
        return await self._run(statement)

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


def _checked(systems: Collection[int]) -> Sequence[int]:
    wanted = sorted(set(systems))
    if len(wanted) > MAX_SYSTEMS:
        raise ValueError(f"at most {MAX_SYSTEMS} systems per query, got {len(wanted)}")
    return wanted


def _checked_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    return limit
