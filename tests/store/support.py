"""Helpers for the store tests: a hand-moved clock and throwaway databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import URL, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["POSTGRES_URL", "FakeClock", "fresh_postgres_database", "sqlite_url"]

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_URL = make_url(os.environ.get("KILLWATCH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
# CI that promises a server sets this, so a dead server fails the run instead of skipping.
POSTGRES_REQUIRED = os.environ.get("KILLWATCH_TEST_POSTGRES_REQUIRED") == "1"

# Remembered so that only the first PostgreSQL test waits for a dead server.
_postgres_unreachable: list[str] = []


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def _admin(statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(
        POSTGRES_URL,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _skip_postgres(reason: str) -> None:
    if POSTGRES_REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[URL]:
    """A new, empty PostgreSQL database that is dropped afterwards."""
    if _postgres_unreachable:
        _skip_postgres(_postgres_unreachable[0])
    name = f"killwatch_t_{uuid.uuid4().hex[:16]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except (OSError, DBAPIError) as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL.host}:{POSTGRES_URL.port}: {exc}"
        _postgres_unreachable.append(reason)
        _skip_postgres(reason)
    try:
        yield POSTGRES_URL.set(database=name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(directory: Path) -> URL:
    # A subdirectory that does not exist yet: Database must create it.
    return make_url(f"sqlite+aiosqlite:///{directory / 'data' / 'killwatch.db'}")
