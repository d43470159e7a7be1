"""What most engine tests share: a migrated SQLite store in the test's own directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.store.database import Database
from engine.store.migrate import upgrade


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path}/kw.db"
    await upgrade(url)
    async with Database(url) as db:
        yield db
