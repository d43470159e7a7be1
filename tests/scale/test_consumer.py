"""A bot process's stream consumer on real Redis and PostgreSQL: it owes each kill to its
subscribers in the outbox, acknowledges only what is written, and a crash loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from engine.delivery import Dispatcher
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Subscription, parse
from engine.scale.consumer import StreamConsumer
from engine.scale.stream import KillStream, encode_kill
from engine.store.database import Database
from engine.store.outbox import OutboxRepository, Owed
from tests.scale.support import (
    RecordingSender,
    enriched_kills,
    kill_stream,
    migrated_postgres,
    redis_client,
)

GROUP = "bot:0-0of1"


@dataclass
class World:
    database: Database
    stream: KillStream
    matcher: Matcher
    sender: RecordingSender
    enricher: Enricher

    def consumer(self, **options: object) -> StreamConsumer:
        dispatcher = Dispatcher(self.database, self.enricher, self.sender, max_age=None)
        return StreamConsumer(
            self.stream, group=GROUP, database=self.database, matcher=self.matcher,
            dispatcher=dispatcher, block=0.05, drain_timeout=5.0, **options,  # type: ignore[arg-type]
        )


@contextlib.asynccontextmanager
async def world() -> AsyncIterator[World]:
    universe = Universe.load()
    matcher = Matcher(Distances(universe))
    # Every kill has an attacker: channel:1 wants them all; channel:2 the small gangs only.
    matcher.add(Subscription(1, "channel:1", await parse("attackers >= 1", universe)))
    matcher.add(Subscription(2, "channel:2", await parse("attackers < 3", universe)))
    async with migrated_postgres() as url, Database(url) as database, kill_stream() as stream:
        yield World(database, stream, matcher, RecordingSender(), Enricher(universe))


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - a condition in Redis and PostgreSQL
            await asyncio.sleep(0.02)


async def test_every_kill_is_owed_to_its_subscribers_once_and_acknowledged():
    kills = enriched_kills(30)
    small = [k.id for k in kills if k.attackers.count < 3]
    async with world() as w, w.consumer() as consumer:
        await w.stream.publish(kills)
        await eventually(lambda: _acknowledged(w, consumer, 30))
        await w.stream.publish(kills[:4])  # again, as after an ingester crash
        await eventually(lambda: _acknowledged(w, consumer, 34))
        await eventually(lambda: _posted(w, len(kills) + len(small)))
    assert w.sender.posted["channel:1"] == [k.id for k in kills]
    assert w.sender.posted["channel:2"] == small
    assert consumer.stats.owed == len(kills) + len(small)
    assert consumer.stats.already_owed == 4 + sum(1 for k in kills[:4] if k.attackers.count < 3)


async def test_entries_are_acknowledged_only_once_their_outbox_rows_are_written():
    kills = enriched_kills(6)
    async with world() as w, redis_client() as client, w.consumer() as consumer:
        async with w.database.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE outbox RENAME TO outbox_away"))
        await w.stream.publish(kills)
        await eventually(lambda: _true(consumer.stats.store_retries >= 2))
        [group] = await client.xinfo_groups(w.stream.name)
        # Read, but nothing written: nothing acknowledged.
        assert group["entries-read"] >= 1
        assert group["pending"] == group["entries-read"]
        assert w.sender.posted == {}
        async with w.database.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE outbox_away RENAME TO outbox"))
        await eventually(lambda: _acknowledged(w, consumer, 6))
        await eventually(lambda: _posted(w, 6 + sum(1 for k in kills if k.attackers.count < 3)))
    assert w.sender.posted["channel:1"] == [k.id for k in kills]


async def test_after_a_crash_the_entries_read_but_not_acknowledged_come_first():
    kills = enriched_kills(8)
    async with world() as w:
        await w.stream.ensure_group(GROUP)
        await w.stream.publish(kills[:5])
        # A process of this group read five entries and died before it wrote or acknowledged.
        assert len(await w.stream.read(GROUP, "bot")) == 5
        await w.stream.publish(kills[5:])
        async with w.consumer() as consumer:
            await eventually(lambda: _acknowledged(w, consumer, 8))
            await eventually(lambda: _true(len(w.sender.posted["channel:1"]) == 8))
    assert w.sender.posted["channel:1"] == [k.id for k in kills]  # in order, each once


async def test_an_unreadable_entry_is_counted_and_acknowledged_and_the_rest_go_on():
    kills = enriched_kills(3)
    async with world() as w, redis_client() as client, w.consumer() as consumer:
        await w.stream.publish(kills[:1])
        await client.xadd(w.stream.name, {"v": "1", "kill": b"\xc1 not msgpack"})
        await client.xadd(w.stream.name, {"something": "else"})
        await w.stream.publish(kills[1:])
        await eventually(lambda: _acknowledged(w, consumer, 5))
        await eventually(lambda: _true(len(w.sender.posted["channel:1"]) == 3))
    assert consumer.stats.malformed == 2
    assert w.sender.posted["channel:1"] == [k.id for k in kills]


async def test_its_status_counts_reads_acks_and_drops_and_shows_the_backlog():
    kills = enriched_kills(4)
    async with world() as w, redis_client() as client:
        before = w.consumer().status()
        async with w.consumer(backlog_every=0.01) as consumer:
            await w.stream.publish(kills[:2])
            await client.xadd(w.stream.name, {"v": "1", "kill": b"\xc1 not msgpack"})
            await w.stream.publish(kills[2:])
            await eventually(lambda: _acknowledged(w, consumer, 5))
            await eventually(lambda: _true(consumer.status().lag == 0))
            status = consumer.status()
        after = consumer.status()
    assert not before.running
    assert before.last_read_at is None
    assert status.running
    assert status.stream == w.stream.name
    assert status.read == status.acked == 5
    assert status.dropped["malformed"] == 1
    assert status.owed == 4 + sum(1 for k in kills if k.attackers.count < 3)
    assert status.pending == 0
    assert status.last_read_at is not None
    assert status.last_read_at >= status.started_at
    assert status.last_error is None
    assert not after.running


async def test_an_entry_that_waited_longer_than_the_max_age_is_not_posted():
    kills = enriched_kills(2)
    async with world() as w, redis_client() as client:
        await w.stream.ensure_group(GROUP)
        seconds, _ = await client.time()
        # Published two hours ago; the bot processes were all down since.
        two_hours_ago = f"{seconds * 1000 - 7_200_000}-0"
        await client.xadd(w.stream.name, encode_kill(kills[0]), id=two_hours_ago)
        await w.stream.publish(kills[1:])
        async with w.consumer(max_age=timedelta(minutes=60)) as consumer:
            await eventually(lambda: _acknowledged(w, consumer, 2))
            await eventually(lambda: _true(len(w.sender.posted["channel:1"]) == 1))
    assert consumer.stats.too_old == 1
    assert w.sender.posted["channel:1"] == [kills[1].id]


async def test_a_dispatcher_resumes_only_the_rows_of_destinations_it_owns():
    async with world() as w:
        async with w.database.session() as session, session.begin():
            await OutboxRepository(session).enqueue(
                [Owed("channel:1", 101, (1,)), Owed("channel:9", 101, (9,))]
            )
        dispatcher = Dispatcher(w.database, w.enricher, w.sender, max_age=None,
                                owns=lambda destination: destination == "channel:1")
        await dispatcher.resume()
        async with w.database.session() as session:
            repository = OutboxRepository(session)
            mine, theirs = await repository.get("channel:1", 101), await repository.get(
                "channel:9", 101)
    # Its own row was taken up (and, its kill not being stored, closed); the other is left.
    assert mine is not None
    assert mine.state == "skipped"
    assert theirs is not None
    assert theirs.state == "pending"


async def _acknowledged(w: World, consumer: StreamConsumer, read: int) -> bool:
    return consumer.stats.read >= read and await w.stream.pending(GROUP) == 0


async def _posted(w: World, count: int) -> bool:
    return sum(len(ids) for ids in w.sender.posted.values()) >= count


async def _true(value: bool) -> bool:
    return value
