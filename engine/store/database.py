"""The process-wide database handle: one async engine and the factory for its sessions."""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import URL, event, text
from sqlalchemy import make_url as parse_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["Database", "DatabaseNotOpenError", "make_url"]

log = logging.getLogger(__name__)

SQLITE_PRAGMAS: tuple[str, ...] = (
    # WAL lets the dashboard read while the pipeline writes.
    "PRAGMA journal_mode=WAL",
    # SQLite ignores declared foreign keys unless asked, per connection.
    "PRAGMA foreign_keys=ON",
    # Wait for a competing writer instead of failing at once with "database is locked".
    "PRAGMA busy_timeout=5000",
    # Durable across application crashes in WAL mode; only an OS crash can lose the last commit.
    "PRAGMA synchronous=NORMAL",
)


class DatabaseNotOpenError(RuntimeError):
    """The database was used before ``async with Database(...)`` opened it or after it closed."""


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


def make_url(url: str | URL, password: str | None) -> URL:
    """Parse ``url`` and put ``password`` into it.

    Passwords come from the environment, never from the config file, so the one in the
    environment wins over anything written in the URL. ``None`` or an empty string leaves the
    URL as it is.
    """
    parsed = parse_url(url)
    if not password:
        return parsed
    if parsed.password is not None:
        log.warning(
            "the database URL %s carries a password; the one from the environment replaces it",
            parsed.render_as_string(hide_password=True),
        )
    return parsed.set(password=password)


def _set_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _create_sqlite_directory(url: URL) -> None:
    database = url.database
    # In-memory and URI-style databases have no plain path whose parent we could create.
    if not database or database == ":memory:" or url.query.get("uri") == "true":
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


class Database:
    """Owns the one :class:`AsyncEngine` of the process and hands out sessions.

    Use as ``async with Database(url) as db:``; leaving the block disposes the engine. A
    ``Database`` opens once; using it before or after raises :class:`DatabaseNotOpenError`.
    One session per task: ``async with db.session() as session, session.begin(): ...``.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self._url = parse_url(url)
        self._echo = echo
        self._state = _State.NEW
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form of it that may be logged."""
        return self._url.render_as_string(hide_password=True)

    @property
    def dialect_name(self) -> str:
        return self._url.get_backend_name()

    @property
    def is_open(self) -> bool:
        return self._state is _State.OPEN

    @property
    def engine(self) -> AsyncEngine:
        """The engine, for work that needs a bare connection (migrations, inspection)."""
        engine, _ = self._require_open()
        return engine

    def session(self) -> AsyncSession:
        """A new session; the caller uses it as an async context manager and commits."""
        _, sessions = self._require_open()
        return sessions()

    async def open(self) -> None:
        if self._state is _State.OPEN:
            raise RuntimeError(f"database {self.display_url} is already open")
        if self._state is _State.CLOSED:
            raise DatabaseNotOpenError(
                f"database {self.display_url} has been closed; a Database opens only once"
            )
        engine = self._create_engine()
        try:
            # Connect now so a wrong URL or an unreachable server fails at start-up, not on
            # the first killmail.
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._state = _State.OPEN
        log.info("database %s opened", self.display_url)

    async def close(self) -> None:
        """Dispose the engine; closing twice, or a database never opened, is harmless."""
        engine = self._engine
        self._engine = None
        self._sessions = None
        self._state = _State.CLOSED
        if engine is not None:
            await engine.dispose()
            log.info("database %s closed", self.display_url)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<Database {self.display_url} {self._state.value}>"

    def _create_engine(self) -> AsyncEngine:
        if self.dialect_name == "sqlite":
            _create_sqlite_directory(self._url)
            engine = create_async_engine(self._url, echo=self._echo)
            event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
            return engine
        # A long-running bot outlives server restarts; a stale pooled connection would
        # otherwise fail the first query after one.
        return create_async_engine(self._url, echo=self._echo, pool_pre_ping=True)

    def _require_open(self) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
        if self._engine is None or self._sessions is None:
            hint = (
                "use `async with Database(url) as db:` first"
                if self._state is _State.NEW
                else "it has been closed"
            )
            raise DatabaseNotOpenError(f"database {self.display_url} is not open: {hint}")
        return self._engine, self._sessions
