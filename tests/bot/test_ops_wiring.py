"""The ops endpoint wired to a running Killwatch: a live feed, ESI and its names cache, the store,
and in bot mode the dispatcher and the Discord sender (against the fakes)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.ops_wiring import ops_checks, ops_server, store_ping
from bot.posts import PostOptions
from bot.runtime import make_engine, open_parts
from bot.sender import DiscordSender
from engine.delivery import Dispatcher
from engine.enrich.distances import Distances
from engine.filters import Matcher, Subscription, parse
from engine.model import EnrichedKill
from engine.ops import OpsServer
from engine.sources import ReplaySource
from engine.sources.status import now_utc
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.outbox import OutboxRepository
from tests.bot.sender_support import GUILD, KILLS, NOW, make_client
from tests.fakes.discord import FakeDiscord, Limit
from tests.fakes.discord_client import running_bot
from tests.fakes.esi import FakeEsi, load_names
from tests.fakes.r2z2 import FakeR2Z2, fixture_kills
from tests.fakes.waiting import until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
PUBLISHED = fixture_kills(20)


class Sink:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


class Later:
    """The real wall clock, moved ahead by hand: the feeds keep their own real clock."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return now_utc() + self.ahead


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


async def fetch(server: OpsServer, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        if path == "/metrics":
            return response.status, samples(await response.text())
        return response.status, await response.json()


def settings_for(tmp_path: Path, **sections: Any) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/kw.db"},
        engine={"max_age_minutes": 0, "data_dir": str(tmp_path), "drain_timeout_seconds": 1},
        feeds={"contact": "ops@example.org", "connect_timeout_seconds": 0.5,
               "read_timeout_seconds": 1.0},
        **sections,
    )


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeR2Z2, FakeEsi]]:
    # Most players of the recorded kills are unknown to the fake: each 404 costs an error,
    # so the budget is wider than ESI's 100 to keep the run from waiting out a window.
    async with FakeR2Z2() as r2z2, FakeEsi(error_limit=1000) as esi:
        yield r2z2, esi


async def test_a_live_run_reports_its_feed_esi_and_names_cache_and_goes_stale(
    tmp_path, servers
):
    r2z2, esi = servers
    settings = settings_for(
        tmp_path,
        esi={"url": esi.url, "names_timeout_seconds": 0.5},
        sources=[{"kind": "r2z2", "url": r2z2.url, "poll_wait_seconds": 0.05,
                  "requests_per_second": 20}],
    )
    await upgrade(settings.database.url)
    r2z2.pinned_sequence = r2z2.first_sequence
    for line in PUBLISHED:
        r2z2.publish(line)
    esi.spend_errors(7)  # someone else on our address made ESI errors
    sink, clock = Sink(), Later()

    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, settings.database.url)
        engine = make_engine(parts, [sink])
        checks = ops_checks(parts, engine, clock=clock, feed_stale=timedelta(minutes=10))
        assert checks.esi is not None  # online: the shared ESI client is read
        async with OpsServer("127.0.0.1", 0, checks) as server, engine:
            assert parts.names is not None
            names = parts.names
            # Every kill in, and no names lookup left running: ESI is quiet from here on.
            await until(lambda: len(sink.kills) == len(PUBLISHED) and esi.count("names") > 0
                        and esi.count("prices") == 1
                        and names.stats().pending == 0)
            healthy, report = await fetch(server, "/healthz")
            _, run = await fetch(server, "/metrics")
            errors_left, requests = esi.errors_left, esi.count()

            # Names once looked up are answered from memory.
            players = [i for i, (category, _) in sorted(load_names().items())
                       if category == "alliance"][:5]
            assert len(await names.resolve(players, 2.0)) == 5
            _, before = await fetch(server, "/metrics")
            await names.resolve(players, 0)
            _, after = await fetch(server, "/metrics")

            clock.ahead = timedelta(minutes=11)
            stale, stale_report = await fetch(server, "/healthz")
            _, later = await fetch(server, "/metrics")

    assert healthy == 200, report["reasons"]
    assert [(f["name"], f["fresh"], f["connected"]) for f in report["feeds"]] == [
        ("r2z2", True, True)
    ]
    assert value(run, "killwatch_kills_received_total", source="r2z2") == len(PUBLISHED)
    assert value(run, "killwatch_kills_stored_total") == len(PUBLISHED)
    assert value(run, "killwatch_source_connected", source="r2z2") == 1
    # R2Z2 says when it published each kill: just now, while the kills themselves are old.
    assert 0 <= value(run, "killwatch_feed_lag_seconds", source="r2z2", since="upload") < 60
    assert value(run, "killwatch_feed_lag_seconds", source="r2z2", since="kill") > 86_400
    # What ESI said last: the errors of the run and the 7 of a neighbour are gone from it.
    assert value(run, "killwatch_esi_error_limit_remaining") == errors_left < 1000 - 7
    assert value(run, "killwatch_esi_requests_total") == requests
    assert value(run, "killwatch_esi_circuit_open") == 0

    hits = value(after, "killwatch_cache_hits_total", cache="names")
    misses = value(after, "killwatch_cache_misses_total", cache="names")
    assert hits - value(before, "killwatch_cache_hits_total", cache="names") == 5
    assert misses == value(before, "killwatch_cache_misses_total", cache="names")
    assert value(run, "killwatch_cache_misses_total", cache="names") > 0
    assert value(after, "killwatch_cache_hit_ratio", cache="names") == pytest.approx(
        hits / (hits + misses)
    )
    assert value(after, "killwatch_cache_entries", cache="names") > 0
    # The ids cache is wired too, unused by a run without commands.
    assert value(after, "killwatch_cache_hits_total", cache="ids") == 0
    assert ("killwatch_cache_hit_ratio", frozenset({("cache", "ids")})) not in after

    # Eleven minutes on, nothing has been heard in that time: stale.
    assert stale == 503
    assert stale_report["reasons"][0].startswith("feed r2z2: no answer and no kill for 11 min")
    assert value(later, "killwatch_feed_fresh", source="r2z2") == 0
    assert value(later, "killwatch_feed_lag_seconds", source="r2z2", since="upload") >= 660


# --- bot mode: posts and Discord's 429s ---

OPTIONS = {1: PostOptions("compact")}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], message_limit=Limit(5, 0.5)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    async with running_bot(make_client(), fake) as running:
        yield running


async def test_bot_mode_reports_posts_by_outcome_and_discords_429s(
    tmp_path, data_dir, fake, client
):
    settings = settings_for(tmp_path, esi={"enabled": False})
    await upgrade(settings.database.url)
    replay = ReplaySource(data_dir / "killmails.jsonl")
    fake.fail_next(KILLS, 429, retry_after=0.05)  # discord.py waits it out, then posts

    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, settings.database.url, [replay], online=False)
        matcher = Matcher(Distances(parts.universe))
        matcher.add(Subscription(
            1, f"channel:{KILLS}", await parse("value >= 5b", parts.universe)
        ))
        sender = await stack.enter_async_context(
            DiscordSender(client, OPTIONS.get, now=lambda: NOW, battle_threshold=10_000)
        )
        dispatcher = Dispatcher(parts.database, parts.enricher, sender, max_age=None)
        engine = make_engine(parts, [], matcher=matcher, dispatcher=dispatcher)
        checks = ops_checks(parts, engine, dispatcher, sender)
        async with OpsServer("127.0.0.1", 0, checks) as server:
            async with engine:
                await engine.wait()
                await asyncio.wait_for(dispatcher.idle(), 20)
            _, found = await fetch(server, "/metrics")
        async with parts.database.session() as session:
            rows = await OutboxRepository(session).counts()

    assert rows["sent"] > 1
    assert value(found, "killwatch_posts_total", outcome="sent") == rows["sent"]
    assert value(found, "killwatch_posts_total", outcome="failed") == 0
    assert value(found, "killwatch_post_messages_total") == len(fake.messages(KILLS))
    assert value(found, "killwatch_outbox_depth") == 0
    assert fake.rate_limited["user"] == 1
    assert value(found, "killwatch_discord_rate_limited_total") == 1
    # Offline: no ESI, no names cache, so neither shows.
    assert not {name for name, _ in found if name.startswith(("killwatch_esi", "killwatch_cache"))}


# --- the store ping and the switch ---


async def test_the_store_ping_fails_once_the_database_file_is_gone(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/kw.db"
    await upgrade(url)
    async with Database(url) as database:
        ping = store_ping(database)
        await ping()
        for path in tmp_path.glob("kw.db*"):
            path.unlink()
        await database.engine.dispose()  # what a new connection sees: an empty file
        with pytest.raises(OperationalError, match="no such table"):
            await ping()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_port_zero_in_the_config_means_no_endpoint_and_a_port_serves(tmp_path):
    settings = settings_for(tmp_path, esi={"enabled": False})
    await upgrade(settings.database.url)
    replay = ReplaySource(data_dir_file := tmp_path / "empty.jsonl")
    data_dir_file.write_bytes(b"")
    async with AsyncExitStack() as stack:
        parts = await open_parts(stack, settings, settings.database.url, [replay], online=False)
        engine = make_engine(parts, [])
        checks = ops_checks(parts, engine)
        async with ops_server("127.0.0.1", 0, checks) as off:
            assert off is None
        port = free_port()
        async with ops_server("127.0.0.1", port, checks) as on:
            assert on is not None
            assert on.port == port
            status, report = await fetch(on, "/healthz")
    # Not started: the engine runs no feed, so only the store and the replay are looked at.
    assert status == 200, report
    assert report["feeds"] == []
    assert report["store"]["ok"] is True
