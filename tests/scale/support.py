"""Real Redis and PostgreSQL for the scale-out tests, each test on its own stream and database."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
import redis.asyncio as redis
from redis.exceptions import RedisError
from sqlalchemy import URL

from engine.dispatch.sender import Delivery, Outcome, Sent
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import EnrichedKill, KillmailRejected, parse_killmail
from engine.scale.stream import KillStream
from engine.store.migrate import upgrade
from tests.conftest import KILLMAILS
from tests.store.support import fresh_postgres_database

__all__ = [
    "REDIS_URL",
    "RecordingSender",
    "enriched_kills",
    "kill_stream",
    "migrated_postgres",
    "redis_client",
    "stream_name",
]

REDIS_URL = os.environ.get("KILLWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def stream_name() -> str:
    return f"killwatch-test:{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def redis_client() -> AsyncIterator[redis.Redis]:
    """A client for looking at (and tampering with) what the code under test wrote."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}")
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def kill_stream(
    name: str | None = None,
    *,
    maxlen: int | None = 100_000,
    max_age: timedelta | None = None,
    approximate: bool = True,
) -> AsyncIterator[KillStream]:
    """An open stream under a fresh name, deleted afterwards."""
    name = name or stream_name()
    async with redis_client() as client:
        try:
            async with KillStream(
                REDIS_URL, name, maxlen=maxlen, max_age=max_age, approximate=approximate
            ) as stream:
                yield stream
        finally:
            await client.delete(name)


@contextlib.asynccontextmanager
async def migrated_postgres() -> AsyncIterator[URL]:
    async with fresh_postgres_database() as url:
        await upgrade(url)
        yield url


def enriched_kills(count: int | None = None) -> list[EnrichedKill]:
    """Real fixture kills, parsed and enriched offline, in file order."""
    enricher = Enricher(Universe.load())
    found = []
    for line in KILLMAILS.read_bytes().splitlines():
        try:
            found.append(enricher.enrich(parse_killmail(line)))
        except KillmailRejected:
            continue
    return found if count is None else found[:count]


class RecordingSender:
    """Posts everything at once and remembers, per destination, the kills in order."""

    def __init__(self) -> None:
        self.posted: dict[str, list[int]] = defaultdict(list)

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.posted[destination].extend(d.kill.id for d in deliveries)
        return [Sent(tuple(d.entry_id for d in deliveries))]
