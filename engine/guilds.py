"""Per-server settings, as ``/killwatch config``, ``pause`` and ``resume`` change them.

:class:`GuildSettings` is the facade: a server's manager role, log channel and the defaults its
new subscriptions take (the subscriptions facade reads those itself when it creates one), and
the pause of a whole server, which goes through the subscriptions facade so that the matcher
stays exact. It also remembers which notices about a lost channel were given, so that a
server is told once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from engine.filters import FilterError
from engine.store.database import Database
from engine.store.guilds import (
    SERVER_PAUSED_REASON,
    GuildSettingsRepository,
    StoredGuildSettings,
)
from engine.store.repositories import Clock, StateRepository, utc_now
from engine.subscriptions import UNSET, Subscriptions
from engine.subscriptions.facade import Unset
from engine.subscriptions.options import check_options

__all__ = ["SERVER_PAUSED_REASON", "GuildSettings", "ServerPause", "ServerSettings"]

log = logging.getLogger(__name__)

_NOTICE_PREFIX: Final = "notice:"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """One server's settings; a server never configured has all of them unset."""

    guild_id: int
    manager_role_id: int | None = None
    log_channel_id: int | None = None
    default_style: str | None = None  # None: "full"
    default_max_age: int | None = None  # minutes
    default_min_value: float | None = None  # ISK
    paused: bool = False
    paused_reason: str | None = None
    updated_at: datetime | None = None  # None: never configured


@dataclass(frozen=True, slots=True)
class ServerPause:
    """What pausing or resuming a server did to its subscriptions."""

    settings: ServerSettings
    changed: tuple[int, ...]  # the subscriptions paused (or resumed) now
    left_paused: tuple[int, ...] = ()  # resume only: paused by the server, filter now invalid


def _settings(stored: StoredGuildSettings) -> ServerSettings:
    return ServerSettings(
        guild_id=stored.guild_id,
        manager_role_id=stored.manager_role_id,
        log_channel_id=stored.log_channel_id,
        default_style=stored.default_style,
        default_max_age=stored.default_max_age_minutes,
        default_min_value=stored.default_min_value,
        paused=stored.paused,
        paused_reason=stored.paused_reason,
        updated_at=stored.updated_at,
    )


def _notice_key(destination: str, reason: str) -> str:
    # Reasons are sentences; a digest keeps the key short and stable.
    digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
    return f"{_NOTICE_PREFIX}{destination}:{digest}"


class GuildSettings:
    """Servers' settings in the store; pauses go through ``subscriptions``.

    Changes to one server are serialised (a pause and a resume cannot interleave).
    """

    def __init__(
        self, database: Database, subscriptions: Subscriptions, *, clock: Clock = utc_now
    ) -> None:
        self._database = database
        self._subscriptions = subscriptions
        self._clock = clock
        self._lock = asyncio.Lock()

    async def get(self, guild_id: int) -> ServerSettings:
        """The server's settings (all unset for a server never configured)."""
        async with self._database.session() as session:
            return _settings(await GuildSettingsRepository(session).get(guild_id))

    async def set(
        self,
        guild_id: int,
        *,
        manager_role_id: int | Unset | None = UNSET,
        log_channel_id: int | Unset | None = UNSET,
        default_style: str | Unset | None = UNSET,
        default_max_age: int | Unset | None = UNSET,
        default_min_value: float | Unset | None = UNSET,
    ) -> ServerSettings:
        """Change the given settings (:data:`UNSET` keeps one, None clears it). The defaults
        are checked as a subscription's options are: :class:`InvalidOption` says what is
        allowed."""
        current = await self.get(guild_id)
        style = current.default_style if default_style is UNSET else default_style
        max_age = current.default_max_age if default_max_age is UNSET else default_max_age
        min_value = current.default_min_value if default_min_value is UNSET else default_min_value
        check_options(False, style or "full", None, 0, max_age, min_value)
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("manager_role_id", manager_role_id),
                ("log_channel_id", log_channel_id),
                ("default_style", default_style),
                ("default_max_age_minutes", default_max_age),
                ("default_min_value", default_min_value),
            )
            if value is not UNSET
        }
        async with self._lock:
            stored = await self._put(guild_id, **changes)
        log.info("server %d settings changed: %s", guild_id, ", ".join(sorted(changes)) or "-")
        return _settings(stored)

    async def pause(self, guild_id: int, reason: str | None = None) -> ServerPause:
        """Pause every active subscription of the server's channels, and the server itself:
        subscriptions made while it is paused start paused. Pausing twice is harmless."""
        async with self._lock:
            # The server first, so that a subscription made meanwhile starts paused.
            stored = await self._put(guild_id, paused=True, paused_reason=reason)
            views = await self._subscriptions.list_guild(guild_id)
            changed: list[int] = []
            for destination in sorted({v.destination for v in views if not v.paused}):
                changed += await self._subscriptions.pause_destination(
                    destination, SERVER_PAUSED_REASON
                )
        log.info("server %d paused (%d subscriptions)", guild_id, len(changed))
        return ServerPause(_settings(stored), tuple(sorted(changed)))

    async def resume(self, guild_id: int) -> ServerPause:
        """Resume exactly the subscriptions the server's pause stopped; those paused by a
        member or for a lost channel stay paused. One whose filter no longer validates stays
        paused too (``left_paused``)."""
        async with self._lock:
            stored = await self._put(guild_id, paused=False, paused_reason=None)
            views = await self._subscriptions.list_guild(guild_id)
            changed: list[int] = []
            left: list[int] = []
            for view in views:
                if not view.paused or view.pause_reason != SERVER_PAUSED_REASON:
                    continue
                try:
                    await self._subscriptions.resume(view.id, guild_id=guild_id)
                except FilterError as exc:
                    log.warning("subscription %d stays paused, its filter is invalid: %s",
                                view.id, exc)
                    left.append(view.id)
                else:
                    changed.append(view.id)
        log.info("server %d resumed (%d subscriptions)", guild_id, len(changed))
        return ServerPause(_settings(stored), tuple(changed), tuple(left))

    async def first_notice(self, destination: str, reason: str) -> bool:
        """True the first time it is asked about this destination and reason (and remembers
        it, across restarts): a server is told once that a channel stopped taking posts."""
        key = _notice_key(destination, reason)
        async with self._lock, self._database.session() as session, session.begin():
            state = StateRepository(session, clock=self._clock)
            if await state.get(key) is not None:
                return False
            await state.set(key, self._clock().isoformat())
        return True

    async def forget_notices(self, destination: str) -> int:
        """Forget the notices given about a destination (it works again: should it fail
        again, say so again). Returns how many were forgotten."""
        prefix = f"{_NOTICE_PREFIX}{destination}:"
        async with self._lock, self._database.session() as session, session.begin():
            state = StateRepository(session, clock=self._clock)
            keys = await state.with_prefix(prefix)
            for key in keys:
                await state.delete(key)
        return len(keys)

    async def _put(self, guild_id: int, **changes: Any) -> StoredGuildSettings:
        async with self._database.session() as session, session.begin():
            return await GuildSettingsRepository(session, clock=self._clock).put(
                guild_id, **changes
            )
