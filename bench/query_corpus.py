"""A synthetic month of kills for `bench.queries`, and loading it fast into both backends.

The kills are what the pipeline would store (body, columns, participants as
``participants_of`` lists them), drawn with a seed: about 30 days of time, every system of the
universe with a Zipf-like spread of activity, players in corporations in alliances (sizes and
activity Zipf-like, attackers mostly from one fleet), 1-50 attackers with a heavy tail, some
NPCs with a faction, values log-normal.

Loading skips the ORM: the schema comes from the migrations, the secondary indexes are dropped
for the load and built again from their own DDL afterwards (sorting once is much faster than
keeping them up to date row by row), rows go in through sqlite3 ``executemany`` and
PostgreSQL ``COPY``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from engine.enrich.universe import Universe
from engine.model import Attacker, Item, Killmail, Victim, Zkb
from engine.store.participants import participants_of

__all__ = ["CorpusKill", "PostgresLoader", "SqliteLoader", "World", "kills"]

CHARACTERS, CORPORATIONS, ALLIANCES = 250_000, 25_000, 2_500
NPC_CORPORATION, NPC_FACTION = 1_000_125, 500_001
SHIPS = (587, 24690, 17738, 11993, 29984, 670, 33468, 22456, 16227, 28659, 19720, 23913)
MODULES = (3057, 2488, 16519, 5051, 9247, 2444, 12054, 16375, 3540, 10998)
FIRST_ID = 130_000_000
_KILL_COLUMNS = (
    "killmail_id", "hash", "killmail_time", "solar_system_id", "value", "received_at",
    "too_old", "source", "body",
)
_PARTICIPANT_COLUMNS = ("killmail_id", "entity_id", "role", "killmail_time")


def _zipf(count: int, offset: float, exponent: float = 1.0) -> list[float]:
    """Cumulative weights of ranks 0..count-1: weight 1/(rank + offset)^exponent."""
    return list(itertools.accumulate(1 / (rank + offset) ** exponent for rank in range(count)))


class World:
    """Who flies where: ids in the real ranges, memberships fixed, activity skewed."""

    def __init__(self, universe: Universe, rng: random.Random) -> None:
        self.rng = rng
        self.characters = [2_112_000_000 + i for i in range(CHARACTERS)]
        self.corporations = [98_000_000 + i for i in range(CORPORATIONS)]
        self.alliances = [99_000_000 + i for i in range(ALLIANCES)]
        corp_weights = _zipf(CORPORATIONS, 5)
        alliance_weights = _zipf(ALLIANCES, 3)
        self.alliance_of = {
            corp: self._pick(self.alliances, alliance_weights) if rng.random() < 0.7 else None
            for corp in self.corporations
        }
        self.corporation_of = {
            c: self._pick(self.corporations, corp_weights) for c in self.characters
        }
        members: dict[int, list[int]] = {}
        for character, corp in self.corporation_of.items():
            members.setdefault(corp, []).append(character)
        self.members = members
        # Activity: a few pilots are on thousands of kills, most on a handful.
        self._activity = _zipf(CHARACTERS, 20)
        systems = [s.id for s in universe.systems()]
        rng.shuffle(systems)
        self.systems = systems
        self._system_weights = _zipf(len(systems), 10, 1.1)

    def _pick(self, items: Sequence[int], cumulative: Sequence[float]) -> int:
        point = self.rng.random() * cumulative[-1]
        return items[bisect.bisect_right(cumulative, point)]

    def pilot(self) -> int:
        return self._pick(self.characters, self._activity)

    def system(self) -> int:
        return self._pick(self.systems, self._system_weights)

    def party(self, character: int) -> tuple[int, int, int | None]:
        corp = self.corporation_of[character]
        return character, corp, self.alliance_of[corp]

    def fleet(self, size: int) -> list[int]:
        """Mostly one corporation's pilots (the one of a first, active pilot), some others."""
        corp = self.corporation_of[self.pilot()]
        crew = self.members[corp]
        pilots = {
            self.rng.choice(crew) if self.rng.random() < 0.6 else self.pilot() for _ in range(size)
        }
        return list(pilots)


def _attackers(world: World, rng: random.Random) -> tuple[Attacker, ...]:
    # P(n or more attackers) ~ 1/n: half the kills solo, a mean of about five, 2 % blobs of 50.
    size = min(50, int(1 / (1 - rng.random())))
    attackers = [
        Attacker(*world.party(c), ship_type_id=rng.choice(SHIPS),
                 weapon_type_id=rng.choice(MODULES), damage_done=rng.randrange(1, 20_000))
        for c in world.fleet(size)
    ]
    if rng.random() < 0.05:
        attackers.append(Attacker(None, NPC_CORPORATION, None, NPC_FACTION, damage_done=500))
    best = max(range(len(attackers)), key=lambda i: attackers[i].damage_done)
    attackers[best] = msgspec.structs.replace(attackers[best], final_blow=True)
    return tuple(attackers)


@dataclass(frozen=True, slots=True)
class CorpusKill:
    killmail_id: int
    time: datetime
    system: int
    value: float | None
    body: bytes
    participants: tuple[tuple[int, str], ...]


def kills(world: World, count: int, end: datetime, days: int) -> Iterator[CorpusKill]:
    """`count` kills spread evenly over the `days` before `end`, ids rising with time."""
    rng = world.rng
    step = timedelta(days=days) / count
    start = end - timedelta(days=days)
    encode = msgspec.json.encode
    for n in range(count):
        when = start + step * n + timedelta(seconds=rng.uniform(-30, 30))
        when = min(when, end).replace(microsecond=0)
        value = None if rng.random() < 0.02 else math.exp(rng.gauss(17.2, 2.0))
        items = tuple(
            Item(rng.choice(MODULES), flag=rng.randrange(11, 35), quantity_destroyed=1)
            for _ in range(rng.randrange(0, 9))
        )
        victim = Victim(rng.choice(SHIPS), *world.party(world.pilot()),
                        damage_taken=rng.randrange(100, 100_000), items=items)
        killmail = Killmail(
            FIRST_ID + n, f"{n:040x}", when, world.system(), victim, _attackers(world, rng),
            Zkb(total_value=value, points=1),
        )
        yield CorpusKill(
            killmail.killmail_id, when, killmail.solar_system_id, value, encode(killmail),
            tuple((p.entity_id, p.role) for p in participants_of(killmail)),
        )


def _sqlite_time(moment: datetime) -> str:
    # As SQLAlchemy's DateTime (under UTCDateTime) writes it on SQLite: naive UTC.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteLoader:
    """Bulk rows into a migrated SQLite file, secondary indexes built at the end."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute("PRAGMA cache_size=-400000")  # 400 MB for the index builds
        self._indexes = [
            sql for (sql,) in self._connection.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('killmails', 'kill_participants')"
            )
        ]
        for (name,) in self._connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('killmails', 'kill_participants')"
        ).fetchall():
            self._connection.execute(f'DROP INDEX "{name}"')

    def add(self, batch: Sequence[CorpusKill], received: datetime) -> None:
        now = _sqlite_time(received)
        connection = self._connection
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO killmails ({', '.join(_KILL_COLUMNS)}) VALUES (?,?,?,?,?,?,0,'bench',?)",
            [
                (k.killmail_id, "0" * 40, _sqlite_time(k.time), k.system, k.value, now, k.body)
                for k in batch
            ],
        )
        connection.executemany(
            f"INSERT INTO kill_participants ({', '.join(_PARTICIPANT_COLUMNS)}) VALUES (?,?,?,?)",
            [
                (k.killmail_id, entity, role, when)
                for k in batch
                for when in (_sqlite_time(k.time),)
                for entity, role in k.participants
            ],
        )
        connection.execute("COMMIT")

    def finish(self) -> int:
        """Build the indexes; the file's size in bytes."""
        for sql in self._indexes:
            self._connection.execute(sql)
        (pages,), = self._connection.execute("PRAGMA page_count")
        (page_size,), = self._connection.execute("PRAGMA page_size")
        self._connection.close()
        return int(pages) * int(page_size)


class PostgresLoader:
    """Bulk rows into a migrated PostgreSQL database by COPY, indexes built at the end."""

    def __init__(self, connection: asyncpg.Connection, indexes: list[tuple[str, str]]) -> None:
        self._connection = connection
        self._indexes = indexes

    @classmethod
    async def open(cls, dsn: str) -> PostgresLoader:
        connection = await asyncpg.connect(dsn)
        rows = await connection.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
            "('killmails', 'kill_participants') AND i.indexname NOT LIKE 'pk\\_%'"
        )
        indexes = [(row["indexname"], row["indexdef"]) for row in rows]
        for name, _ in indexes:
            await connection.execute(f'DROP INDEX "{name}"')
        return cls(connection, indexes)

    async def add(self, batch: Sequence[CorpusKill], received: datetime) -> None:
        await self._connection.copy_records_to_table(
            "killmails",
            columns=_KILL_COLUMNS,
            records=[
                (k.killmail_id, "0" * 40, k.time, k.system, k.value, received, False, "bench",
                 k.body)
                for k in batch
            ],
        )
        await self._connection.copy_records_to_table(
            "kill_participants",
            columns=_PARTICIPANT_COLUMNS,
            records=[
                (k.killmail_id, entity, role, k.time)
                for k in batch
                for entity, role in k.participants
            ],
        )

    async def finish(self) -> None:
        await self._connection.execute("SET maintenance_work_mem = '512MB'")
        for _, sql in self._indexes:
            await self._connection.execute(sql)
        # What autovacuum would have done by the time a month of kills is stored.
        await self._connection.execute("VACUUM ANALYZE")
        await self._connection.close()
