"""The query commands' reads on a million stored kills. Run: `python -m bench.queries`.

Prints figures; asserts nothing. Builds a synthetic month of kills (`bench.query_corpus`) in a
temporary SQLite file and in a fresh PostgreSQL database (created and dropped here; skipped
with a message when the server cannot be reached), then times each read `/kills`, `/top` and
`/intel` make through `KillQueryRepository`, as the facade calls it: median and p95 over
several runs, each run with other arguments of the same kind (another busy system, another
rare pilot), so that one warm page does not stand for all. `--explain` prints each
statement's plan; the "before" row is the body search the participants index replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from bench.query_corpus import CorpusKill, PostgresLoader, SqliteLoader, World, kills
from engine.enrich.universe import Universe
from engine.queries import ENTITY_SCAN, SYSTEM_SCAN
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.queries import KillQueryRepository as Repo

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
END = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)  # "now" for every query
DAYS = 30
CHUNK = 20_000
SEED = 11

# A query with the run's number, returning how many rows it read.
Query = Callable[[AsyncSession, int], Awaitable[int]]


@dataclass
class Targets:
    """Arguments of each kind, picked from what was generated."""

    busy_systems: list[int] = field(default_factory=list)
    regions: list[tuple[int, ...]] = field(default_factory=list)
    busy_alliances: list[int] = field(default_factory=list)
    rare_characters: list[int] = field(default_factory=list)
    mid_corporations: list[int] = field(default_factory=list)


def _targets(universe: Universe, systems: Counter[int], entities: Counter[int]) -> Targets:
    by_region: dict[int, list[int]] = {}
    for system in universe.systems():
        by_region.setdefault(system.region_id, []).append(system.id)
    regions = sorted(by_region.values(), key=lambda ids: abs(len(ids) - 100))[:5]
    alliances = [e for e, _ in entities.most_common() if 99_000_000 <= e < 99_100_000]
    corporations = [e for e, _ in entities.most_common() if 98_000_000 <= e < 98_100_000]
    characters = [e for e, n in entities.items() if e >= 2_000_000_000 and 2 <= n <= 5]
    return Targets(
        busy_systems=[s for s, _ in systems.most_common(200)][50:200:10],
        regions=[tuple(ids) for ids in regions],
        busy_alliances=alliances[:5],
        rare_characters=random.Random(SEED).sample(characters, min(15, len(characters))),
        mid_corporations=corporations[100:115],
    )


def _queries(t: Targets) -> list[tuple[str, Query]]:
    week, day, month = END - timedelta(days=7), END - timedelta(days=1), END - timedelta(days=DAYS)

    def pick(items: Sequence[Any], run: int) -> Any:
        return items[run % len(items)]

    async def newest(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).newest(10))

    async def in_system(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).newest(10, systems=[pick(t.busy_systems, run)]))

    async def in_region(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).newest(10, systems=pick(t.regions, run)))

    async def top_week(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).most_valuable(week, 10))

    async def top_region(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).most_valuable(week, 10, systems=pick(t.regions, run)))

    async def of_alliance(session: AsyncSession, run: int) -> int:
        alliance = pick(t.busy_alliances, run)
        return len(await Repo(session).newest(10, since=month, mentioning=[alliance]))

    async def of_character(session: AsyncSession, run: int) -> int:
        character = pick(t.rare_characters, run)
        return len(await Repo(session).newest(10, since=month, mentioning=[character]))

    async def alliance_in_region(session: AsyncSession, run: int) -> int:
        return len(await Repo(session).newest(
            10, since=month, systems=pick(t.regions, run),
            mentioning=[pick(t.busy_alliances, run)],
        ))

    def intel(entities: list[int]) -> Query:
        async def fetch(session: AsyncSession, run: int) -> int:
            # What Queries.intel reads: the scan bound, the count, then every kill of it.
            repo = Repo(session)
            floor = await repo.floor(week, ENTITY_SCAN)
            start = week if floor is None else max(week, floor)
            await repo.count(start)
            return len(await repo.newest(None, since=start, mentioning=[pick(entities, run)]))
        return fetch

    async def system_intel(session: AsyncSession, run: int) -> int:
        system, repo = pick(t.busy_systems, run), Repo(session)
        await repo.count(day, systems=[system])
        return len(await repo.newest(SYSTEM_SCAN, since=day, systems=[system]))

    async def count_system(session: AsyncSession, run: int) -> int:
        return await Repo(session).count(day, systems=[pick(t.busy_systems, run)])

    return [
        ("newest 10 anywhere", newest),
        ("newest 10 in a system", in_system),
        ("newest 10 in a region (~100 systems)", in_region),
        ("top 10 by value, last week", top_week),
        ("top 10 in a region, last week", top_region),
        ("newest 10 of a busy alliance", of_alliance),
        ("newest 10 of a rare character", of_character),
        ("newest 10 of a busy alliance in a region", alliance_in_region),
        ("intel fetch, busy alliance, 7 days", intel(t.busy_alliances)),
        ("intel fetch, mid corporation, 7 days", intel(t.mid_corporations)),
        ("system intel fetch, 24 h", system_intel),
        ("count in a system, 24 h", count_system),
    ]


def _before_query(dialect: str, t: Targets) -> tuple[str, Query]:
    """The replaced way: the newest 50,000 kills' bodies searched for the id's bytes."""
    contains = "instr(body, :a) > 0 OR instr(body, :b) > 0" if dialect == "sqlite" else (
        "position(:a IN body) > 0 OR position(:b IN body) > 0"
    )
    statement = text(
        f"SELECT killmail_id FROM (SELECT killmail_id, killmail_time, body FROM killmails "
        f"ORDER BY killmail_time DESC LIMIT {ENTITY_SCAN}) AS newest WHERE {contains} "
        f"ORDER BY killmail_time DESC LIMIT 10"
    )

    async def scan(session: AsyncSession, run: int) -> int:
        entity = t.rare_characters[run % len(t.rare_characters)]
        needles = {"a": b'_id":%d,' % entity, "b": b'_id":%d}' % entity}
        return len((await session.execute(statement, needles)).all())

    return "(before) rare character by body search", scan


@dataclass
class Timing:
    label: str
    rows: int
    ms: list[float]


async def _time(db: Database, query: Query, runs: int) -> tuple[int, list[float]]:
    async with db.session() as session:
        rows = await query(session, 0)  # warm-up, not counted
    samples: list[float] = []
    for run in range(runs):
        async with db.session() as session:
            started = time.perf_counter()
            await query(session, run)
            samples.append((time.perf_counter() - started) * 1000)
    return rows, samples


async def _explain(db: Database, label: str, query: Query) -> None:
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        async with db.session() as session:
            await query(session, 0)
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if db.dialect_name == "sqlite" else "EXPLAIN "
    print(f"  -- {label}")
    async with db.engine.connect() as connection:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            result = await connection.exec_driver_sql(prefix + statement, parameters)
            for row in result:
                line = str(row[-1])
                print("     ", line if len(line) <= 150 else line[:147] + "...")


async def _measure(db: Database, targets: Targets, runs: int, explain: bool) -> list[Timing]:
    queries = [*_queries(targets), _before_query(db.dialect_name, targets)]
    if explain:
        for label, query in queries:
            await _explain(db, label, query)
    timings = []
    for label, query in queries:
        rows, samples = await _time(db, query, runs)
        timings.append(Timing(label, rows, samples))
    return timings


def _report(backend: str, build: str, timings: list[Timing]) -> None:
    print(f"\n{backend}: {build}")
    print(f"  {'query':<44}{'rows':>7}{'median ms':>12}{'p95 ms':>10}")
    for t in timings:
        ordered = sorted(t.ms)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"  {t.label:<44}{t.rows:>7}{statistics.median(t.ms):>12.2f}{p95:>10.2f}")


@contextlib.asynccontextmanager
async def _postgres_database(admin: URL) -> AsyncIterator[URL | None]:
    engine = create_async_engine(
        admin, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    name = f"killwatch_bench_{uuid.uuid4().hex[:12]}"
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, DBAPIError) as exc:
        print(f"PostgreSQL skipped: not reachable at {admin.host}:{admin.port} "
              f"({type(exc).__name__}: {str(exc).splitlines()[0]})")
        await engine.dispose()
        yield None
        return
    try:
        yield admin.set(database=name)
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _build(
    count: int, sqlite_path: Path, postgres: URL | None
) -> tuple[Targets, dict[str, str]]:
    universe = Universe.load()
    world = World(universe, random.Random(SEED))
    await upgrade(f"sqlite+aiosqlite:///{sqlite_path}")
    lite = SqliteLoader(str(sqlite_path))
    pg = None
    if postgres is not None:
        await upgrade(postgres)
        pg = await PostgresLoader.open(_dsn(postgres))
    spent = {"generate": 0.0, "sqlite": 0.0, "postgresql": 0.0}
    systems: Counter[int] = Counter()
    entities: Counter[int] = Counter()
    rows = 0
    stream = kills(world, count, END, DAYS)
    while True:
        started = time.perf_counter()
        batch: list[CorpusKill] = [k for _, k in zip(range(CHUNK), stream, strict=False)]
        if not batch:
            break
        systems.update(k.system for k in batch if k.time >= END - timedelta(days=1))
        entities.update(e for k in batch for e, _ in k.participants)
        rows += sum(len(k.participants) for k in batch)
        middle = time.perf_counter()
        spent["generate"] += middle - started
        lite.add(batch, END)
        spent["sqlite"] += time.perf_counter() - middle
        if pg is not None:
            middle = time.perf_counter()
            await pg.add(batch, END)
            spent["postgresql"] += time.perf_counter() - middle
    started = time.perf_counter()
    size = lite.finish() / 2**20
    spent["sqlite"] += time.perf_counter() - started
    if pg is not None:
        started = time.perf_counter()
        await pg.finish()
        spent["postgresql"] += time.perf_counter() - started
    print(f"{count:,} kills, {rows:,} participant rows ({rows / count:.1f} per kill) over "
          f"{DAYS} days; generated in {spent['generate']:.0f} s")
    builds = {
        "sqlite": f"built in {spent['sqlite']:.0f} s ({size:,.0f} MB file)",
        "postgresql": f"built in {spent['postgresql']:.0f} s (COPY, indexes, VACUUM ANALYZE)",
    }
    return _targets(universe, systems, entities), builds


async def main(count: int, runs: int, postgres: str, explain: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="killwatch-bench-") as directory:
        sqlite_path = Path(directory) / "queries.db"
        async with _postgres_database(make_url(postgres)) as pg_url:
            targets, builds = await _build(count, sqlite_path, pg_url)
            backends = [("sqlite", make_url(f"sqlite+aiosqlite:///{sqlite_path}"))]
            if pg_url is not None:
                backends.append(("postgresql", pg_url))
            for name, url in backends:
                async with Database(url) as db:
                    timings = await _measure(db, targets, runs, explain)
                _report(name, builds[name], timings)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__)
    parser.add_argument("--kills", type=int, default=1_000_000, help="kills to store")
    parser.add_argument("--runs", type=int, default=21, help="timed runs per query")
    parser.add_argument("--postgres", default=POSTGRES, help="server URL (admin database)")
    parser.add_argument("--explain", action="store_true", help="print each query plan")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    asyncio.run(main(arguments.kills, arguments.runs, arguments.postgres, arguments.explain))
