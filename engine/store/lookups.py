"""Persistent caches of ESI lookups: names for ids, ids for typed names, market prices.

Repositories take a session, like those of :mod:`engine.store.repositories`, and never
commit. The ``Database*Store`` adapters implement the store protocols of ``engine.esi``
(``NameStore``, ``IdStore``, ``PriceStore``) on a :class:`Database`, each call in its own
session and transaction, so the resolvers can be handed them directly.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from engine.model.entities import EntityRef, MarketPrice
from engine.store.database import Database
from engine.store.repositories import Clock, _chunks, _insert, utc_now
from engine.store.tables import EntityIdRow, NameRow, PriceRow

__all__ = [
    "DatabaseIdStore",
    "DatabaseNameStore",
    "DatabasePriceStore",
    "EntityIdsRepository",
    "NamesRepository",
    "PricesRepository",
]

_NAMES: Table = NameRow.metadata.tables[NameRow.__tablename__]
_PRICES: Table = PriceRow.metadata.tables[PriceRow.__tablename__]
_ENTITY_IDS: Table = EntityIdRow.metadata.tables[EntityIdRow.__tablename__]

_TEXT = 255  # the width of the name columns; EVE names are far shorter


class NamesRepository:
    """Names of characters, corporations, alliances... by id."""

    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def get(self, ids: Collection[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in _chunks(sorted(set(ids))):
            result = await self._session.execute(
                select(NameRow.entity_id, NameRow.name).where(NameRow.entity_id.in_(chunk))
            )
            found.update((entity_id, name) for entity_id, name in result)
        return found

    async def put(
        self, names: Mapping[int, str], categories: Mapping[int, str] | None = None
    ) -> None:
        """Insert or update the names (and categories, when known)."""
        if not names:
            return
        now = self._clock()
        rows = [
            {
                "entity_id": entity_id,
                "name": name[:_TEXT],
                "category": (categories or {}).get(entity_id),
                "updated_at": now,
            }
            for entity_id, name in sorted(names.items())
        ]
        statement = _insert(self._session, _NAMES)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[_NAMES.c.entity_id],
                set_={
                    "name": statement.excluded["name"],
                    # A save without a category must not erase one stored earlier.
                    "category": func.coalesce(statement.excluded["category"], _NAMES.c.category),
                    "updated_at": statement.excluded["updated_at"],
                },
            ),
            rows,
        )

    async def stale(self, before: datetime, limit: int) -> dict[int, str]:
        """Up to `limit` names stored before `before`, the longest unrefreshed first."""
        result = await self._session.execute(
            select(NameRow.entity_id, NameRow.name)
            .where(NameRow.updated_at < before)
            .order_by(NameRow.updated_at, NameRow.entity_id)
            .limit(limit)
        )
        return {entity_id: name for entity_id, name in result}

    async def count(self) -> int:
        result = await self._session.execute(select(func.count()).select_from(_NAMES))
        return result.scalar_one()


class EntityIdsRepository:
    """What typed names turned out to be, keyed by the folded name (`name_key`)."""

    def __init__(self, session: AsyncSession, *, clock: Clock = utc_now) -> None:
        self._session = session
        self._clock = clock

    async def get(self, keys: Collection[str]) -> dict[str, list[EntityRef]]:
        found: dict[str, list[EntityRef]] = {}
        for chunk in _chunks(sorted(set(keys))):
            result = await self._session.execute(
                select(
                    EntityIdRow.name_key,
                    EntityIdRow.category,
                    EntityIdRow.entity_id,
                    EntityIdRow.name,
                )
                .where(EntityIdRow.name_key.in_(chunk))
                .order_by(EntityIdRow.name_key, EntityIdRow.category, EntityIdRow.entity_id)
            )
            for key, category, entity_id, name in result:
                found.setdefault(key, []).append(EntityRef(category, entity_id, name))
        return found

    async def put(self, found: Mapping[str, Sequence[EntityRef]]) -> None:
        """Replace what is stored for each key by what ESI answered now."""
        if not found:
            return
        keys = sorted(found)
        for chunk in _chunks(keys):
            await self._session.execute(
                delete(_ENTITY_IDS).where(_ENTITY_IDS.c.name_key.in_(chunk))
            )
        now = self._clock()
        rows = [
            {
                "name_key": key[:_TEXT],
                "entity_id": ref.id,
                "category": ref.category,
                "name": ref.name[:_TEXT],
                "updated_at": now,
            }
            for key in keys
            for ref in {(r.category, r.id): r for r in found[key]}.values()
        ]
        if rows:
            await self._session.execute(_ENTITY_IDS.insert(), rows)


class PricesRepository:
    """The one price list: replaced whole at each refresh."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> tuple[list[MarketPrice], datetime | None]:
        """Every stored price and when the list was fetched (None when empty)."""
        result = await self._session.execute(
            select(PriceRow.type_id, PriceRow.average, PriceRow.adjusted, PriceRow.updated_at)
        )
        prices: list[MarketPrice] = []
        updated_at: datetime | None = None
        for type_id, average, adjusted, when in result:
            prices.append(MarketPrice(type_id, average, adjusted))
            if updated_at is None or when > updated_at:
                updated_at = when
        return prices, updated_at

    async def replace(self, prices: Sequence[MarketPrice], updated_at: datetime) -> None:
        await self._session.execute(delete(_PRICES))
        unique = {p.type_id: p for p in prices}
        rows = [
            {
                "type_id": p.type_id,
                "average": p.average_price,
                "adjusted": p.adjusted_price,
                "updated_at": updated_at,
            }
            for p in unique.values()
        ]
        if rows:
            await self._session.execute(_PRICES.insert(), rows)

    async def count(self) -> int:
        result = await self._session.execute(select(func.count()).select_from(_PRICES))
        return result.scalar_one()


class DatabaseNameStore:
    """`engine.esi.NameStore` on a database."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def load(self, ids: Collection[int]) -> dict[int, str]:
        async with self._database.session() as session:
            return await NamesRepository(session).get(ids)

    async def save(
        self, names: Mapping[int, str], categories: Mapping[int, str] | None = None
    ) -> None:
        async with self._database.session() as session, session.begin():
            await NamesRepository(session, clock=self._clock).put(names, categories)

    async def stale(self, before: datetime, limit: int) -> dict[int, str]:
        """`engine.esi.names_refresh.StaleNameStore`: names saved before `before`."""
        async with self._database.session() as session:
            return await NamesRepository(session).stale(before, limit)


class DatabaseIdStore:
    """`engine.esi.IdStore` on a database."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def load(self, keys: Collection[str]) -> dict[str, list[EntityRef]]:
        async with self._database.session() as session:
            return await EntityIdsRepository(session).get(keys)

    async def save(self, found: Mapping[str, Sequence[EntityRef]]) -> None:
        async with self._database.session() as session, session.begin():
            await EntityIdsRepository(session, clock=self._clock).put(found)


class DatabasePriceStore:
    """`engine.esi.PriceStore` on a database: the list is replaced in one transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self) -> tuple[list[MarketPrice], datetime | None]:
        async with self._database.session() as session:
            return await PricesRepository(session).all()

    async def save(self, prices: Sequence[MarketPrice], updated_at: datetime) -> None:
        async with self._database.session() as session, session.begin():
            await PricesRepository(session).replace(prices, updated_at)
