"""Subscriptions: the rows saying which kills a channel or a member's DMs want.

Like the other repositories it takes a session, never commits, and returns plain
:class:`~engine.store.records.StoredSubscription` records. Whether a caller may touch a row,
and whether its filter is valid, is decided above the store (``engine.subscriptions``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

from sqlalchemy import delete, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.store.records import StoredSubscription
from engine.store.repositories import Clock, _chunks, utc_now
from engine.store.tables import SubscriptionRow

__all__ = ["SubscriptionRepository", "dm_destination"]

_SUBSCRIPTIONS: Table = SubscriptionRow.metadata.tables[SubscriptionRow.__tablename__]
_COLUMNS: Final = tuple(_SUBSCRIPTIONS.c[f] for f in StoredSubscription.__dataclass_fields__)
# What update() may change: identity and creation time are not editable.
_EDITABLE: Final = frozenset(StoredSubscription.__dataclass_fields__) - {
    "id",
    "created_at",
    "updated_at",
}


def dm_destination(user_id: int) -> str:
    """The destination of a member's DMs."""
    return f"user:{user_id}"


def _record(row: Sequence[Any]) -> StoredSubscription:
    return StoredSubscription(*row)


class SubscriptionRepository:
    """Subscription rows; every list comes back in ascending id (creation) order."""

    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def add(
        self,
        *,
        destination: str,
        guild_id: int | None,
        owner_id: int,
        filter: dict[str, Any],
        text: str | None = None,
        preset: str | None = None,
        style: str = "full",
        mention: str | None = None,
        mention_cooldown_seconds: int = 900,
        max_age_minutes: int | None = None,
        min_value: float | None = None,
        paused: bool = False,
        pause_reason: str | None = None,
    ) -> StoredSubscription:
        """Insert a subscription; its id comes from the database."""
        now = self._clock()
        result = await self._session.execute(
            _SUBSCRIPTIONS.insert()
            .values(
                destination=destination,
                guild_id=guild_id,
                owner_id=owner_id,
                filter=filter,
                text=text,
                preset=preset,
                style=style,
                mention=mention,
                mention_cooldown_seconds=mention_cooldown_seconds,
                max_age_minutes=max_age_minutes,
                min_value=min_value,
                paused=paused,
                pause_reason=pause_reason,
                created_at=now,
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
        return _record(result.one())

    async def get(self, subscription_id: int) -> StoredSubscription | None:
        result = await self._session.execute(
            select(*_COLUMNS).where(_SUBSCRIPTIONS.c.id == subscription_id)
        )
        row = result.one_or_none()
        return None if row is None else _record(row)

    async def get_many(self, ids: Collection[int]) -> dict[int, StoredSubscription]:
        """The subscriptions among ``ids`` that exist, by id."""
        found: dict[int, StoredSubscription] = {}
        for chunk in _chunks(sorted(set(ids))):
            result = await self._session.execute(
                select(*_COLUMNS).where(_SUBSCRIPTIONS.c.id.in_(chunk))
            )
            found.update((record.id, record) for record in map(_record, result))
        return found

    async def for_destination(self, destination: str) -> list[StoredSubscription]:
        return await self._where(_SUBSCRIPTIONS.c.destination == destination)

    async def for_guild(self, guild_id: int) -> list[StoredSubscription]:
        """Every subscription of the server's channels (DMs have no guild)."""
        return await self._where(_SUBSCRIPTIONS.c.guild_id == guild_id)

    async def for_owner_dms(self, user_id: int) -> list[StoredSubscription]:
        """The member's DM subscriptions (destination ``user:<id>``)."""
        return await self.for_destination(dm_destination(user_id))

    async def all_active(self) -> list[StoredSubscription]:
        """Every subscription not paused: what the matcher should hold."""
        return await self._where(_SUBSCRIPTIONS.c.paused == false())

    async def destinations(self) -> dict[str, int | None]:
        """Every destination any subscription (paused or not) posts to, with its guild (None
        for DMs): which process of several owns a destination's outbox rows."""
        result = await self._session.execute(
            select(_SUBSCRIPTIONS.c.destination, _SUBSCRIPTIONS.c.guild_id).distinct()
        )
        return {destination: guild_id for destination, guild_id in result}

    async def update(self, subscription_id: int, **changes: Any) -> StoredSubscription | None:
        """Set the given columns (and ``updated_at``); None if there is no such id.

        Raises ``TypeError`` for a column that does not exist or may not change.
        """
        unknown = sorted(set(changes) - _EDITABLE)
        if unknown:
            raise TypeError(f"cannot update subscription column(s) {', '.join(unknown)}")
        result = await self._session.execute(
            update(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.id == subscription_id)
            .values(**changes, updated_at=self._clock())
            .returning(*_COLUMNS)
        )
        row = result.one_or_none()
        return None if row is None else _record(row)

    async def delete(self, subscription_id: int) -> bool:
        """Forget a subscription; False if there was none with this id."""
        result = await self._session.execute(
            delete(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.id == subscription_id)
            .returning(_SUBSCRIPTIONS.c.id)
        )
        return result.scalar_one_or_none() is not None

    async def pause(self, target: Collection[int] | str, reason: str | None) -> list[int]:
        """Pause the subscriptions with these ids, or every one of a destination.

        Returns the ids that were active and are paused now, ascending; those already paused
        keep their first reason (a member's own pause is not overwritten by a later cause).
        """
        active = _SUBSCRIPTIONS.c.paused == false()
        if isinstance(target, str):
            chunks: list[Any] = [_SUBSCRIPTIONS.c.destination == target]
        else:
            chunks = [_SUBSCRIPTIONS.c.id.in_(c) for c in _chunks(sorted(set(target)))]
        paused: list[int] = []
        now = self._clock()
        for condition in chunks:
            result = await self._session.execute(
                update(_SUBSCRIPTIONS)
                .where(condition, active)
                .values(paused=True, pause_reason=reason, updated_at=now)
                .returning(_SUBSCRIPTIONS.c.id)
            )
            paused.extend(result.scalars())
        return sorted(paused)

    async def resume(self, subscription_id: int) -> StoredSubscription | None:
        """Unpause (and clear the reason); None if there is no such id."""
        return await self.update(subscription_id, paused=False, pause_reason=None)

    async def count_for_owner_dms(self, user_id: int) -> int:
        return await self.count_for_destination(dm_destination(user_id))

    async def count_for_destination(self, destination: str) -> int:
        result = await self._session.execute(
            select(func.count())
            .select_from(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.destination == destination)
        )
        return result.scalar_one()

    async def _where(self, condition: Any) -> list[StoredSubscription]:
        result = await self._session.execute(
            select(*_COLUMNS).where(condition).order_by(_SUBSCRIPTIONS.c.id)
        )
        return [_record(row) for row in result]
