"""`run_engine` as `killwatch run` wires it, against fake R2Z2, RedisQ and ESI servers."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.runtime import run_engine
from engine.model import EnrichedKill
from engine.sources.r2z2 import cursor_key
from engine.store.database import Database
from engine.store.lookups import DatabasePriceStore
from engine.store.migrate import upgrade
from engine.store.repositories import StateRepository
from tests.fakes.esi import FakeEsi, load_names
from tests.fakes.r2z2 import FakeR2Z2, fixture_kills
from tests.fakes.redisq import FakeRedisQ
from tests.fakes.waiting import until

KILLS = fixture_kills(30)


class RecordingSink:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeR2Z2, FakeRedisQ, FakeEsi]]:
    async with FakeR2Z2() as r2z2, FakeRedisQ(bodyless=True) as redisq, FakeEsi() as esi:
        yield r2z2, redisq, esi


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(tmp_path: Path, r2z2: FakeR2Z2, redisq: FakeRedisQ, esi: FakeEsi,
              ops_port: int = 0, **engine: Any) -> Settings:
    return Settings(
        ops={"port": ops_port},
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/kw.db"},
        engine={"max_age_minutes": 0, "data_dir": str(tmp_path), **engine},
        feeds={"contact": "ops@example.org", "connect_timeout_seconds": 0.5,
               "read_timeout_seconds": 1.0},
        esi={"url": esi.url, "names_timeout_seconds": 0.2},
        sources=[
            {"kind": "r2z2", "url": r2z2.url, "poll_wait_seconds": 0.05,
             "requests_per_second": 20},
            {"kind": "redisq", "url": redisq.url, "queue_id": "test", "ttw": 1},
        ],
    )


async def _run_until(settings: Settings, sink: RecordingSink, done: Any,
                     while_running: Any = None) -> None:
    url = settings.database.url
    task = asyncio.create_task(run_engine(settings, url, [sink]))
    try:
        await until(lambda: done() or task.done(), within=30)
        if while_running is not None:
            await while_running()
        os.kill(os.getpid(), signal.SIGTERM)  # what an operator's `kill` does
        await asyncio.wait_for(task, 15)
    finally:
        task.cancel()


async def test_run_follows_both_feeds_posts_each_kill_once_and_names_players(tmp_path, servers):
    r2z2, redisq, esi = servers
    port = _free_port()
    settings = _settings(tmp_path, r2z2, redisq, esi, ops_port=port)
    await upgrade(settings.database.url)
    r2z2.pinned_sequence = r2z2.first_sequence  # start at the first kill published
    seen: dict[str, Any] = {}

    async def look_at_ops() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as health:
                seen["health"] = health.status
            async with session.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                seen["metrics"] = await metrics.text()

    for line in KILLS:
        r2z2.publish(line)
    redisq.publish(*KILLS)
    sink = RecordingSink()

    await _run_until(
        settings,
        sink,
        lambda: redisq.pending == 0
        and len(sink.kills) >= 30
        and r2z2.requests_for(r2z2.head + 1) > 0,  # R2Z2 walked to the head too
        look_at_ops,
    )
    assert seen["health"] == 200
    assert 'killwatch_kills_received_total{source="r2z2"}' in seen["metrics"]

    assert sorted(kill.id for kill in sink.kills) == sorted(line["killmail_id"] for line in KILLS)
    # The mirror's packages had no body: each was fetched from ESI by id and hash.
    assert esi.count("killmail") >= 1
    # Players get names from ESI's names table where it has them.
    known_players = {i for i, (category, _) in load_names().items()
                     if category in ("character", "corporation", "alliance")}
    named = {entity for kill in sink.kills for entity in kill.names} & known_players
    assert named
    # Prices were fetched once and kept for the next start.
    assert esi.count("prices") == 1
    async with Database(settings.database.url) as database:
        prices, updated_at = await DatabasePriceStore(database).load()
        async with database.session() as session:
            position = await StateRepository(session).get(cursor_key("r2z2"))
    assert len(prices) > 1000
    assert updated_at is not None
    assert position == str(r2z2.head)
    assert {request.user_agent for request in r2z2.requests} == {
        "Killwatch/0.1.0 (EVE Online killmail bot; ops@example.org)"
    }


async def test_with_esi_down_kills_still_go_out_with_ids(tmp_path, servers):
    r2z2, redisq, esi = servers
    esi.down = True
    settings = _settings(tmp_path, r2z2, redisq, esi)
    await upgrade(settings.database.url)
    r2z2.pinned_sequence = r2z2.first_sequence
    for line in KILLS[:10]:
        r2z2.publish(line)
    sink = RecordingSink()

    await _run_until(settings, sink, lambda: len(sink.kills) >= 10)

    assert [kill.id for kill in sink.kills] == [line["killmail_id"] for line in KILLS[:10]]
    victim = sink.kills[0].killmail.victim.character_id
    assert victim is None or victim not in sink.kills[0].names
