"""Alembic environment for Killwatch.

Two callers reach this file:

* the bot (``killwatch migrate``, via :mod:`engine.store.migrate`) runs Alembic from inside its
  event loop and hands over an open connection in ``config.attributes["connection"]``;
* a developer runs the ``alembic`` CLI with the repository's ``alembic.ini``; no loop is running
  then, so this file opens its own database with ``asyncio.run``.

Sharing the caller's connection is the one approach that works inside a running loop without
a second loop in another thread, and it makes migrations go through the same ``Database``
setup (SQLite pragmas, parent directory) as the bot itself.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import URL
from sqlalchemy.engine import Connection

from engine.store.database import Database, make_url
from engine.store.tables import UTCDateTime, metadata

DEFAULT_URL = "sqlite+aiosqlite:///./data/killwatch.db"

config = context.config

if config.config_file_name is not None:
    # Only the developer CLI has an ini file; the bot keeps its own logging untouched.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> URL:
    raw = (
        os.environ.get("KILLWATCH_DATABASE__URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_URL
    )
    # Same rule as the bot: a password lives in the environment, never in a file.
    return make_url(raw, os.environ.get("KILLWATCH_DATABASE__PASSWORD"))


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Revisions must not import engine code that later changes; in DDL a UTCDateTime is
    # just a timezone-aware timestamp.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table there and is a plain
        # ALTER on PostgreSQL, so one revision serves both.
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        **options,
    )


def run_migrations_offline() -> None:
    _configure(
        url=_database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    async with Database(_database_url()) as database, database.engine.connect() as connection:
        await connection.run_sync(do_run_migrations)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async_migrations())
        return
    raise RuntimeError(
        "Alembic was called inside a running event loop without a connection; use "
        "engine.store.migrate, which passes one in config.attributes['connection']"
    )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
