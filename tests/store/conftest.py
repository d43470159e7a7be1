"""Store fixtures: each store test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import URL

from engine.store.database import Database
from engine.store.migrate import upgrade

from .support import FakeClock, fresh_postgres_database, sqlite_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[URL]:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def migrated_url(database_url: URL) -> URL:
    await upgrade(database_url)
    return database_url


@pytest.fixture
async def db(migrated_url: URL) -> AsyncIterator[Database]:
    async with Database(migrated_url) as database:
        yield database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
