"""Recorded kills stored with their bodies, moved in time (and space), for the query tests.

Each stored kill keeps the recorded ESI JSON beside it (``Placed.raw``), so that tests compute
what a query should answer from the recording itself, not through the engine's own structs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson

from engine.enrich.universe import Universe
from engine.model import Killmail, KillmailRejected, parse_killmail
from engine.store.database import Database
from engine.store.lookups import NamesRepository
from engine.store.migrate import upgrade
from engine.store.participants import participants_of
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository
from tests.conftest import KILLMAILS

__all__ = ["NOW", "Placed", "migrated", "place", "recorded", "store", "store_names", "universe"]

NOW = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)  # a Wednesday


@functools.cache
def universe() -> Universe:
    return Universe.load()


@functools.cache
def recorded() -> tuple[tuple[Killmail, Mapping[str, Any]], ...]:
    """Every recorded kill the parser accepts, with its recorded JSON, in file order."""
    found: list[tuple[Killmail, Mapping[str, Any]]] = []
    for line in KILLMAILS.read_bytes().splitlines():
        with contextlib.suppress(KillmailRejected):
            found.append((parse_killmail(line), orjson.loads(line)))
    return tuple(found)


@dataclass(frozen=True)
class Placed:
    killmail: Killmail  # as stored: moved to `time` (and `system`)
    esi: Mapping[str, Any]  # the recorded ESI killmail
    value: float | None  # zKillboard's totalValue, as recorded

    @property
    def id(self) -> int:
        return self.killmail.killmail_id

    @property
    def time(self) -> datetime:
        return self.killmail.time

    @property
    def system(self) -> int:
        return self.killmail.solar_system_id


def place(index: int, when: datetime, system: int | None = None) -> Placed:
    """The `index`-th recorded kill, happening at `when` (in `system`, when given)."""
    killmail, record = recorded()[index]
    changes: dict[str, Any] = {"time": when}
    if system is not None:
        changes["solar_system_id"] = system
    zkb = record.get("zkb") or {}
    return Placed(
        msgspec.structs.replace(killmail, **changes), record["esi"], zkb.get("totalValue")
    )


async def store(database: Database, kills: Sequence[Placed]) -> None:
    """As the pipeline stores them: columns, and the parsed killmail as the body."""
    rows = [
        StoredKill(
            p.id, p.killmail.hash or "", p.time, p.system, p.value, source="test",
            body=msgspec.json.encode(p.killmail), participants=participants_of(p.killmail),
        )
        for p in kills
    ]
    async with database.session() as session, session.begin():
        await KillmailRepository(session).add_new(rows)


async def store_names(database: Database, names: Mapping[int, tuple[str, str | None]]) -> None:
    """Names as the names resolver saves them: id -> (name, category)."""
    async with database.session() as session, session.begin():
        await NamesRepository(session).put(
            {i: n for i, (n, _) in names.items()},
            {i: c for i, (_, c) in names.items() if c is not None},
        )


@contextlib.asynccontextmanager
async def migrated(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'queries.db'}"
    await upgrade(url)
    async with Database(url) as database:
        yield database
