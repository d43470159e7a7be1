"""Per-server settings rows: who manages Killwatch in a server, its log channel, the options its
new subscriptions start with, and whether the whole server is paused.

Like the other repositories it takes a session, never commits and returns plain records. A
server without a row has the defaults of :class:`StoredGuildSettings` (nothing configured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.store.repositories import Clock, _insert, utc_now
from engine.store.tables import GuildSettingsRow

__all__ = ["SERVER_PAUSED_REASON", "GuildSettingsRepository", "StoredGuildSettings"]

SERVER_PAUSED_REASON: Final = "the whole server is paused (/killwatch pause)"
"""The pause reason of the subscriptions a server pause stopped: resuming the server resumes
exactly those, and leaves the ones paused for another reason (by a member, a lost channel)."""

_GUILD_SETTINGS: Table = GuildSettingsRow.metadata.tables[GuildSettingsRow.__tablename__]


@dataclass(frozen=True, slots=True)
class StoredGuildSettings:
    guild_id: int
    manager_role_id: int | None = None
    log_channel_id: int | None = None
    default_style: str | None = None
    default_max_age_minutes: int | None = None
    default_min_value: float | None = None
    paused: bool = False
    paused_reason: str | None = None
    updated_at: datetime | None = None  # None: never stored


_FIELDS: Final = tuple(StoredGuildSettings.__dataclass_fields__)
_COLUMNS: Final = tuple(_GUILD_SETTINGS.c[name] for name in _FIELDS)
_EDITABLE: Final = frozenset(_FIELDS) - {"guild_id", "updated_at"}


def _record(row: Sequence[Any]) -> StoredGuildSettings:
    return StoredGuildSettings(*row)


class GuildSettingsRepository:
    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def get(self, guild_id: int) -> StoredGuildSettings:
        """The server's settings; the defaults (``updated_at`` None) when none are stored."""
        result = await self._session.execute(
            select(*_COLUMNS).where(_GUILD_SETTINGS.c.guild_id == guild_id)
        )
        row = result.one_or_none()
        return StoredGuildSettings(guild_id) if row is None else _record(row)

    async def put(self, guild_id: int, **changes: Any) -> StoredGuildSettings:
        """Set the given columns (the others keep their value, or their default for a server
        seen for the first time). ``TypeError`` for a column that does not exist."""
        unknown = sorted(set(changes) - _EDITABLE)
        if unknown:
            raise TypeError(f"cannot set guild setting(s) {', '.join(unknown)}")
        values = {**changes, "updated_at": self._clock()}
        statement = _insert(self._session, _GUILD_SETTINGS).values(guild_id=guild_id, **values)
        result = await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[_GUILD_SETTINGS.c.guild_id],
                set_={name: statement.excluded[name] for name in values},
            ).returning(*_COLUMNS)
        )
        return _record(result.one())
