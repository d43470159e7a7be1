from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import URL, text

from engine.store.database import Database, DatabaseNotOpenError, make_url
from engine.store.migrate import upgrade

from .support import sqlite_url

SECRET = "hunter2%s3cret"


async def test_sqlite_creates_the_missing_parent_directory(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert not (tmp_path / "data").exists()
    async with Database(url):
        assert (tmp_path / "data" / "killwatch.db").is_file()


async def test_every_sqlite_connection_has_wal_foreign_keys_and_busy_timeout(
    tmp_path: Path,
) -> None:
    # Two connections held at once: the pragmas are per connection, not per file.
    async with (
        Database(sqlite_url(tmp_path)) as db,
        db.engine.connect() as first,
        db.engine.connect() as second,
    ):
        for connection in (first, second):
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
            assert pragmas == {
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 5000,
                "synchronous": 1,  # NORMAL
            }


async def test_sessions_see_the_pragmas_too(tmp_path: Path) -> None:
    async with Database(sqlite_url(tmp_path)) as db, db.session() as session:
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1


async def test_database_is_open_only_inside_its_block(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path))
    assert database.is_open is False
    with pytest.raises(DatabaseNotOpenError, match="async with Database"):
        database.session()

    async with database as db:
        assert db is database
        assert db.is_open is True
        async with db.session() as session:
            assert (await session.execute(text("SELECT 41 + 1"))).scalar_one() == 42

    assert database.is_open is False
    with pytest.raises(DatabaseNotOpenError, match="has been closed"):
        database.session()
    with pytest.raises(DatabaseNotOpenError, match="has been closed"):
        _ = database.engine
    with pytest.raises(DatabaseNotOpenError, match="opens only once"):
        await database.open()


async def test_opening_twice_is_refused(tmp_path: Path) -> None:
    async with Database(sqlite_url(tmp_path)) as db:
        with pytest.raises(RuntimeError, match="already open"):
            await db.open()
        assert db.is_open is True


async def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path))
    await db.open()
    await db.close()
    await db.close()
    assert db.is_open is False


async def test_unreachable_server_fails_on_open_not_on_first_query() -> None:
    # Port 1 on localhost refuses at once.
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    with pytest.raises(OSError, match=r"Connect call failed|refused"):
        await asyncio.wait_for(db.open(), timeout=10)
    assert db.is_open is False


def test_make_url_puts_the_environment_password_into_the_url() -> None:
    url = make_url("postgresql+asyncpg://killwatch@db.example:5432/killwatch", "p%@ss:/w")
    assert url.password == "p%@ss:/w"
    assert url.username == "killwatch"
    assert url.database == "killwatch"
    assert url.render_as_string(hide_password=True) == (
        "postgresql+asyncpg://killwatch:***@db.example:5432/killwatch"
    )


def test_make_url_without_password_leaves_the_url_alone() -> None:
    raw = "postgresql+asyncpg://killwatch@db.example/killwatch"
    assert (
        make_url(raw, None)
        == make_url(raw, "")
        == URL.create(
            "postgresql+asyncpg", username="killwatch", host="db.example", database="killwatch"
        )
    )


def test_environment_password_wins_over_one_in_the_config(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.store.database"):
        url = make_url("postgresql+asyncpg://killwatch:from-config@db.example/kw", SECRET)
    assert url.password == SECRET
    assert "from-config" not in caplog.text
    assert SECRET not in caplog.text
    assert "replaces it" in caplog.text


def test_unopened_database_never_shows_its_password() -> None:
    db = Database(make_url("postgresql+asyncpg://killwatch@db.example/kw", SECRET))
    for shown in (repr(db), str(db), db.display_url):
        assert SECRET not in shown
        assert "***" in shown
    assert db.display_url == "postgresql+asyncpg://killwatch:***@db.example/kw"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_open_database_never_logs_or_shows_its_password(
    database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(database_url, SECRET)
    with caplog.at_level(logging.DEBUG):
        await upgrade(url)
        async with Database(url, echo=True) as db:
            shown = [repr(db), str(db), db.display_url, repr(db.engine), str(db.engine.url)]
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
    assert caplog.records, "opening, migrating and closing should have logged something"
    assert "***" in db.display_url
    for text_ in [*shown, caplog.text, *(str(r.args) for r in caplog.records)]:
        assert SECRET not in text_
