"""The weekly "top kills" digest: which channels opted in, when it is due, who already got it.

A server manager opts a channel in or out (``/killwatch digest on|off``). :class:`WeeklySlot`
is the time of the week the digest goes out (UTC); a week's digest is named by its slot
(``2026-W05``). Each channel remembers the last week it was given, so a restart, a catch-up
run after downtime or a run repeated by hand never posts a week twice.

Kept in the state table: ``digest:channel:<channel id>`` holds the channel's server id while
it is opted in, ``digest:posted:<channel id>`` the last week posted there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from engine.store.database import Database
from engine.store.repositories import Clock, StateRepository, utc_now

__all__ = ["DigestChannel", "DigestChannels", "WeeklySlot"]

_CHANNEL: Final = "digest:channel:"
_POSTED: Final = "digest:posted:"
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                    "Sunday")


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """A time of the week in UTC: `weekday` 0 (Monday) to 6, `hour` 0 to 23."""

    weekday: int = 0
    hour: int = 12

    def __post_init__(self) -> None:
        if not (0 <= self.weekday <= 6 and 0 <= self.hour <= 23):
            raise ValueError("weekday is 0 (Monday) to 6 and hour 0 to 23")

    def latest(self, now: datetime) -> datetime:
        """The last slot at or before `now` (aware)."""
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        slot = midnight + timedelta(days=self.weekday - now.weekday(), hours=self.hour)
        return slot if slot <= now else slot - timedelta(days=7)

    @staticmethod
    def week(slot: datetime) -> str:
        """The name of the digest week a slot starts: its ISO week, ``2026-W05``."""
        year, week, _ = slot.isocalendar()
        return f"{year}-W{week:02d}"

    def describe(self) -> str:
        return f"every {_WEEKDAYS[self.weekday]} at {self.hour:02d}:00 UTC"


@dataclass(frozen=True, slots=True)
class DigestChannel:
    channel_id: int
    guild_id: int


class DigestChannels:
    """The channels opted in to the digest, and the last week each was given."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def opt_in(self, channel_id: int, guild_id: int) -> bool:
        """True when the channel was not opted in yet."""
        async with self._database.session() as session, session.begin():
            state = StateRepository(session, clock=self._clock)
            before = await state.get(_CHANNEL + str(channel_id))
            await state.set(_CHANNEL + str(channel_id), str(guild_id))
        return before is None

    async def opt_out(self, channel_id: int) -> bool:
        """True when the channel was opted in. The last week posted stays remembered, so
        opting out and in again within a week does not post that week twice."""
        async with self._database.session() as session, session.begin():
            state = StateRepository(session, clock=self._clock)
            before = await state.get(_CHANNEL + str(channel_id))
            await state.delete(_CHANNEL + str(channel_id))
        return before is not None

    async def forget(self, channel_id: int) -> None:
        """A channel that is gone: opted out, and its marks dropped."""
        async with self._database.session() as session, session.begin():
            state = StateRepository(session, clock=self._clock)
            await state.delete(_CHANNEL + str(channel_id))
            await state.delete(_POSTED + str(channel_id))

    async def opted_in(self, guild_id: int | None = None) -> list[DigestChannel]:
        """Every opted-in channel (of one server when `guild_id` is given), by channel id."""
        async with self._database.session() as session:
            found = await StateRepository(session).with_prefix(_CHANNEL)
        channels = [
            DigestChannel(int(key.removeprefix(_CHANNEL)), int(value))
            for key, value in found.items()
            if key.removeprefix(_CHANNEL).isdigit() and value.isdigit()
        ]
        return sorted(
            (c for c in channels if guild_id is None or c.guild_id == guild_id),
            key=lambda c: c.channel_id,
        )

    async def due(self, week: str) -> list[DigestChannel]:
        """The opted-in channels not given `week`'s digest yet."""
        async with self._database.session() as session:
            posted = await StateRepository(session).with_prefix(_POSTED)
        return [
            channel for channel in await self.opted_in()
            if posted.get(_POSTED + str(channel.channel_id)) != week
        ]

    async def mark_posted(self, channel_id: int, week: str) -> None:
        async with self._database.session() as session, session.begin():
            await StateRepository(session, clock=self._clock).set(
                _POSTED + str(channel_id), week
            )
