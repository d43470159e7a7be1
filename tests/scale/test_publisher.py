"""The ingester's engine on real Redis and PostgreSQL: each new kill reaches the stream once,
even when Redis fails between the store and the publish."""

from __future__ import annotations

from pathlib import Path

from engine.delivery import Dispatcher
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.pipeline import Engine
from engine.scale.publisher import StreamRoute, StreamSender, stream_destination
from engine.scale.stream import KillStream
from engine.sources import ReplaySource
from engine.store.database import Database
from engine.store.outbox import OutboxRepository
from tests.conftest import KILLMAILS
from tests.scale.support import kill_stream, migrated_postgres, redis_client


async def ingest(database: Database, stream: KillStream, enricher: Enricher) -> Engine:
    """One run of the ingester's engine over the fixture file, to its end."""
    destination = stream_destination(stream.name)
    dispatcher = Dispatcher(database, enricher, StreamSender(stream), workers=1, batch=100,
                            max_age=None, max_attempts=1_000_000, owns=destination.__eq__)
    engine = Engine(
        sources=[ReplaySource(Path(KILLMAILS))], enricher=enricher, database=database,
        sinks=[], matcher=StreamRoute(destination), dispatcher=dispatcher, max_age=None,
        drain_timeout=1.0,
    )
    async with engine:
        await engine.wait()
    return engine


async def test_each_new_kill_is_published_once_and_a_rerun_publishes_nothing():
    enricher = Enricher(Universe.load())
    async with migrated_postgres() as url, Database(url) as database, kill_stream() as stream:
        first = await ingest(database, stream, enricher)
        assert first.stats.stored > 100
        assert await stream.length() == first.stats.stored
        second = await ingest(database, stream, enricher)
        assert second.stats.stored == 0
        assert await stream.length() == first.stats.stored
        await stream.ensure_group("reader")
        ids = [entry.kill.id for entry in await stream.read("reader", "r", count=10_000)
               if entry.kill is not None]
    assert len(ids) == len(set(ids)) == first.stats.stored


async def test_kills_stored_while_redis_refused_them_are_published_at_the_next_start():
    enricher = Enricher(Universe.load())
    async with (
        migrated_postgres() as url,
        Database(url) as database,
        kill_stream() as stream,
        redis_client() as client,
    ):
        # The stream's key holds a string: every XADD fails (WRONGTYPE), as Redis would fail.
        await client.set(stream.name, "in the way")
        first = await ingest(database, stream, enricher)
        async with database.session() as session:
            counts = await OutboxRepository(session).counts()
        assert counts == {"pending": first.stats.stored}  # stored, owed to the stream
        await client.delete(stream.name)
        second = await ingest(database, stream, enricher)
        assert second.stats.stored == 0  # nothing new: only what the last run owed goes out
        assert await stream.length() == first.stats.stored
        async with database.session() as session:
            counts = await OutboxRepository(session).counts()
        assert counts == {"sent": first.stats.stored}
