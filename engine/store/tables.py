"""Schema of the store: the metadata Alembic compares against and the ORM rows.

ORM rows are an implementation detail of ``engine.store``; repositories turn them into the
plain records of :mod:`engine.store.records` before anything leaves the package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "EntityIdRow",
    "GuildSettingsRow",
    "KillParticipantRow",
    "KillmailRow",
    "NameRow",
    "OutboxRow",
    "PriceRow",
    "StateRow",
    "SubscriptionRow",
    "UTCDateTime",
    "metadata",
]

# Deterministic constraint names let Alembic drop or alter constraints by name, which batch
# mode on SQLite depends on; without them PostgreSQL and SQLite would invent different names.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is always stored and returned in UTC.

    SQLite has no timezone-aware type and hands back naive values, so UTC is stored naive
    there and re-attached on the way out; PostgreSQL keeps ``timestamptz`` and the value is
    only normalised to UTC. Naive input is rejected instead of guessed at: a naive time is a
    bug at the edge that parsed it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a timezone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Identical naive UTC strings keep SQLite's text comparison in time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class KillmailRow(Base):
    __tablename__ = "killmails"
    # Named by the "ix" convention: ix_killmails_solar_system_id_killmail_time, and
    # ix_killmails_value for the most valuable kills of a period.
    __table_args__ = (Index(None, "solar_system_id", "killmail_time"), Index(None, "value"))

    # INTEGER (not BIGINT) on SQLite makes the key an alias of the 64-bit rowid instead of a
    # second B-tree; ids come from CCP, so neither backend may generate them.
    killmail_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[str] = mapped_column(String(64))
    killmail_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    solar_system_id: Mapped[int] = mapped_column(Integer())
    value: Mapped[float | None] = mapped_column(Float())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Stored for queries and dedupe, but older than the notify limit when it arrived.
    too_old: Mapped[bool] = mapped_column(Boolean(), server_default=false())
    labels: Mapped[list[str] | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    points: Mapped[int | None] = mapped_column(Integer())
    source: Mapped[str | None] = mapped_column(String(64))
    sequence_id: Mapped[int | None] = mapped_column(BigInteger())
    # The killmail as parsed (msgspec JSON of engine.model.Killmail): enough to enrich it
    # again after a restart (unsent notifications) and to answer queries.
    body: Mapped[bytes | None] = mapped_column(LargeBinary())


class KillParticipantRow(Base):
    """One entity (character, corporation, alliance, faction) on one kill, and on which side.

    ``killmail_time`` is copied from the kill so that "the newest kills of X (since T)" is a
    range of the (entity_id, killmail_time, killmail_id) index, read backwards, with no join
    before the LIMIT. No foreign key: on SQLite a batch migration of ``killmails`` drops and
    recreates it, which would cascade; retention deletes these rows with their kills.
    """

    __tablename__ = "kill_participants"
    __table_args__ = (
        Index(None, "entity_id", "killmail_time", "killmail_id"),
        # On SQLite the primary key is then the table itself: one B-tree fewer per row.
        {"sqlite_with_rowid": False},
    )

    killmail_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    entity_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    role: Mapped[str] = mapped_column(String(8))  # "attacker", "victim" or "both"
    killmail_time: Mapped[datetime] = mapped_column(UTCDateTime())


class StateRow(Base):
    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NameRow(Base):
    """A name ESI gave for an id, so that a restart does not ask again."""

    __tablename__ = "names"

    entity_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PriceRow(Base):
    """CCP's price estimates for one type, as last fetched from ESI."""

    __tablename__ = "prices"

    type_id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    average: Mapped[float | None] = mapped_column(Float())
    adjusted: Mapped[float | None] = mapped_column(Float())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EntityIdRow(Base):
    """What a typed name turned out to be: one row per (folded name, entity) ESI matched."""

    __tablename__ = "entity_ids"

    name_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    entity_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    category: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SubscriptionRow(Base):
    """Which kills one destination (a channel, a member's DMs) wants, and how to post them."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index(None, "destination"), Index(None, "guild_id"), Index(None, "owner_id"))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    guild_id: Mapped[int | None] = mapped_column(BigInteger())  # None for a member's DMs
    destination: Mapped[str] = mapped_column(String(64))  # "channel:<id>" or "user:<id>"
    owner_id: Mapped[int] = mapped_column(BigInteger())  # who created it
    filter: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    text: Mapped[str | None] = mapped_column(Text())  # as typed, when typed
    preset: Mapped[str | None] = mapped_column(String(32))
    style: Mapped[str] = mapped_column(String(16), server_default="full")
    mention: Mapped[str | None] = mapped_column(String(64))  # "here", "everyone", "role:<id>"
    mention_cooldown_seconds: Mapped[int] = mapped_column(Integer(), server_default="900")
    max_age_minutes: Mapped[int | None] = mapped_column(Integer())
    min_value: Mapped[float | None] = mapped_column(Float())
    paused: Mapped[bool] = mapped_column(Boolean(), server_default=false())
    pause_reason: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    """One kill owed to one destination: written with the kill, marked once Discord has it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("destination", "killmail_id"),
        Index(None, "state", "id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    destination: Mapped[str] = mapped_column(String(64))
    killmail_id: Mapped[int] = mapped_column(BigInteger())
    subscription_ids: Mapped[list[int]] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer(), server_default="0")
    message_id: Mapped[int | None] = mapped_column(BigInteger())
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GuildSettingsRow(Base):
    """One server's Killwatch settings: who may manage it, where it reports, the options new
    subscriptions start with, and whether the whole server is paused."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    manager_role_id: Mapped[int | None] = mapped_column(BigInteger())
    log_channel_id: Mapped[int | None] = mapped_column(BigInteger())
    default_style: Mapped[str | None] = mapped_column(String(16))
    default_max_age_minutes: Mapped[int | None] = mapped_column(Integer())
    default_min_value: Mapped[float | None] = mapped_column(Float())
    paused: Mapped[bool] = mapped_column(Boolean(), server_default=false())
    paused_reason: Mapped[str | None] = mapped_column(Text())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
