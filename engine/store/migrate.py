"""Schema migrations run from code: Alembic without an ``alembic.ini`` at run time.

Alembic's commands are synchronous. They run through ``AsyncConnection.run_sync`` on a
connection this module opens, and ``migrations/env.py`` picks that connection up from
``config.attributes["connection"]`` instead of starting an event loop of its own, which it
could not do inside the bot's running loop. The URL never enters Alembic's configparser-based
config, so a ``%`` in a password cannot be mangled by interpolation and is never written out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL
from sqlalchemy.engine import Connection

import migrations
from engine.store.database import Database

__all__ = [
    "MIGRATIONS_DIRECTORY",
    "SchemaOutOfDate",
    "SchemaStatus",
    "alembic_config",
    "downgrade",
    "require_current_schema",
    "schema_status",
    "upgrade",
]

log = logging.getLogger(__name__)

# The installed package, not the working directory: the bot may run from anywhere.
MIGRATIONS_DIRECTORY = Path(migrations.__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where the database's schema stands against the migrations shipped with this code."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


class SchemaOutOfDate(Exception):
    """The database schema is not the one this version of Killwatch needs."""

    def __init__(self, status: SchemaStatus) -> None:
        self.status = status
        current = status.current or "none (empty database)"
        super().__init__(
            f"database schema is at revision {current}, this Killwatch needs {status.head}; "
            "run `killwatch migrate` to upgrade it"
        )


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the installed migrations, optionally bound to a connection."""
    config = Config()
    # configparser treats '%' as interpolation; a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(url: str | URL, revision: str = "head") -> None:
    """Upgrade the schema of the database at ``url`` to ``revision``."""
    await _run_command(url, f"upgrade to {revision}", lambda c: command.upgrade(c, revision))


async def downgrade(url: str | URL, revision: str) -> None:
    """Downgrade the schema of the database at ``url`` to ``revision`` (``"base"``: empty)."""
    await _run_command(url, f"downgrade to {revision}", lambda c: command.downgrade(c, revision))


async def schema_status(url: str | URL) -> SchemaStatus:
    """The revision the database is at and the newest one this code ships."""
    async with Database(url) as database, database.engine.connect() as connection:
        current = await connection.run_sync(_current_revision)
    return SchemaStatus(current=current, head=_head_revision())


async def require_current_schema(url: str | URL) -> SchemaStatus:
    """Raise :class:`SchemaOutOfDate` unless the database is at the head revision."""
    status = await schema_status(url)
    if not status.up_to_date:
        raise SchemaOutOfDate(status)
    return status


async def _run_command(url: str | URL, what: str, action: Callable[[Config], None]) -> None:
    async with Database(url) as database:
        log.info("schema migration of %s: %s", database.display_url, what)
        # One transaction around the whole command: PostgreSQL rolls back a failed revision
        # completely instead of leaving half a schema behind.
        async with database.engine.begin() as connection:
            await connection.run_sync(lambda sync: action(alembic_config(sync)))


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIRECTORY}")
    return head
