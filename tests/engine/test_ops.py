"""The ops endpoint: /healthz judges feed freshness and the store, /metrics shows a real run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.delivery import Dispatcher
from engine.dispatch.sender import Delivery, Failed, Outcome, Retry, Sent
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.esi.client import EsiStatus
from engine.filters import Matcher, Subscription, parse
from engine.model import EnrichedKill
from engine.ops import METRICS_CONTENT_TYPE, OpsChecks, OpsServer, PipelineMetrics
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.sources.status import SourceCounters
from engine.status import EngineStatus
from engine.store.database import Database
from engine.store.outbox import OutboxRepository
from engine.store.repositories import StateRepository

START = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # the quiet hours of a European night
LIMIT = timedelta(minutes=10)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Wall:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Feeds:
    """An engine's status as the engine builds it: from the feeds' own counters."""

    def __init__(self, wall: Wall, *counters: SourceCounters, running: bool = True) -> None:
        self.wall = wall
        self.counters = counters
        self.running = running
        self.started_at = wall()

    def status(self) -> EngineStatus:
        return EngineStatus(
            started_at=self.started_at,
            updated_at=self.wall(),
            running=self.running,
            sources=tuple(c.snapshot() for c in self.counters),
            received=sum(c.kills for c in self.counters),
        )


@pytest.fixture
def wall() -> Wall:
    return Wall()


def pinger(database: Database) -> Any:
    async def ping() -> None:
        async with database.session() as session:
            await StateRepository(session).get("status:engine")

    return ping


def checks_for(feeds: Feeds, database: Database, **options: Any) -> OpsChecks:
    return OpsChecks(
        engine=feeds.status, store=pinger(database), feed_stale=LIMIT, clock=feeds.wall, **options
    )


async def get(server: OpsServer, path: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        body = await response.text()
        payload = await response.json() if response.content_type == "application/json" else None
        return response.status, body if payload is None else response.content_type, payload


async def healthz(checks: OpsChecks) -> tuple[int, dict[str, Any]]:
    async with OpsServer("127.0.0.1", 0, checks) as server:
        status, _, payload = await get(server, "/healthz")
    return status, payload


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


def names(found: Samples) -> set[str]:
    return {name for name, _ in found}


# --- /healthz: the feed ---


async def test_healthz_is_ok_while_a_live_feed_answers_and_the_store_answers(wall, database):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    status, payload = await healthz(checks_for(Feeds(wall, r2z2), database))
    assert status == 200
    assert payload["status"] == "ok"
    assert payload["reasons"] == []
    assert payload["feeds"] == [{
        "name": "r2z2", "kind": "r2z2", "fresh": True, "connected": True,
        "silent_seconds": 0.0, "last_error": None,
    }]
    assert payload["store"]["ok"] is True


async def test_a_quiet_night_without_kills_is_healthy_while_the_feed_keeps_answering(
    wall, database
):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.kill("900001", START - timedelta(minutes=2), START - timedelta(minutes=1))
    for _ in range(3 * 60):  # three hours of empty polls, one a minute
        wall.advance(minutes=1)
        r2z2.ok()
    feeds = Feeds(wall, r2z2)
    status, payload = await healthz(checks_for(feeds, database))
    assert status == 200, payload["reasons"]
    async with OpsServer("127.0.0.1", 0, checks_for(feeds, database)) as server:
        _, text, _ = await get(server, "/metrics")
    found = samples(text)
    # The lag still shows how old the newest kill is.
    lag = "killwatch_feed_lag_seconds"
    assert value(found, lag, source="r2z2", since="kill") == 3 * 3600 + 120
    assert value(found, lag, source="r2z2", since="upload") == 3 * 3600 + 60
    assert value(found, "killwatch_feed_fresh", source="r2z2") == 1
    assert value(found, "killwatch_engine_running") == 1


async def test_a_feed_that_stopped_answering_fails_with_its_last_error(wall, database):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    wall.advance(minutes=1)
    r2z2.error("http_5xx", "sequence 900002: HTTP 503")
    r2z2.backing_off(60.0)
    feeds = Feeds(wall, r2z2)
    # A short outage within the limit does not fail the check...
    status, _ = await healthz(checks_for(feeds, database))
    assert status == 200
    # ...one longer than the limit does, and says why.
    wall.advance(minutes=10)
    status, payload = await healthz(checks_for(feeds, database))
    assert status == 503
    assert payload["status"] == "unavailable"
    assert payload["reasons"] == [
        "feed r2z2: no answer and no kill for 11 min (limit 10 min, disconnected); "
        "last error: http_5xx: sequence 900002: HTTP 503"
    ]
    assert payload["feeds"][0]["fresh"] is False
    assert payload["store"]["ok"] is True


async def test_a_connected_feed_that_stopped_handing_on_anything_is_stale(wall, database):
    # Connected but silent: stuck behind something, not answering requests of ours.
    stuck = SourceCounters("r2z2", "r2z2", wall)
    stuck.ok()
    wall.advance(minutes=10, seconds=1)
    status, payload = await healthz(checks_for(Feeds(wall, stuck), database))
    assert status == 503
    assert payload["reasons"] == [
        "feed r2z2: no answer and no kill for 10 min (limit 10 min, connected)"
    ]


async def test_a_feed_that_never_answered_gets_the_limit_from_the_engine_start(wall, database):
    feeds = Feeds(wall, SourceCounters("mirror", "redisq", wall))
    wall.advance(minutes=9)
    assert (await healthz(checks_for(feeds, database)))[0] == 200
    wall.advance(minutes=2)
    status, payload = await healthz(checks_for(feeds, database))
    assert status == 503
    assert payload["reasons"][0].startswith("feed mirror: no answer and no kill for 11 min")


async def test_every_live_feed_is_judged_and_a_replay_is_not(wall, database):
    r2z2, wanderer = SourceCounters("r2z2", "r2z2", wall), SourceCounters("w", "wanderer", wall)
    replay = SourceCounters("replay", "replay", wall)
    wanderer.ok()
    wall.advance(minutes=30)
    r2z2.ok()
    status, payload = await healthz(checks_for(Feeds(wall, r2z2, wanderer, replay), database))
    assert status == 503
    assert [(f["name"], f["fresh"]) for f in payload["feeds"]] == [("r2z2", True), ("w", False)]
    assert len(payload["reasons"]) == 1
    assert payload["reasons"][0].startswith("feed w:")


async def test_a_stopped_engine_fails_the_check(wall, database):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    status, payload = await healthz(checks_for(Feeds(wall, r2z2, running=False), database))
    assert status == 503
    assert payload["reasons"] == ["engine is not running"]


# --- /healthz: the store ---


async def test_a_store_whose_file_was_removed_fails_the_check(wall, database, tmp_path):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    checks = checks_for(Feeds(wall, r2z2), database)
    assert (await healthz(checks))[0] == 200
    for path in tmp_path.glob("kw.db*"):
        path.unlink()
    # New connections see what is on disk now; an open one would still read the lost file.
    await database.engine.dispose()
    status, payload = await healthz(checks)
    assert status == 503
    assert payload["reasons"] == ["store: OperationalError"]
    assert payload["store"]["ok"] is False


async def test_a_store_that_does_not_answer_fails_within_the_timeout(wall):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    never = asyncio.Event()

    async def hang() -> None:
        await never.wait()

    checks = OpsChecks(engine=Feeds(wall, r2z2).status, store=hang, store_timeout=0.05,
                       clock=wall)
    started = time.perf_counter()
    status, payload = await healthz(checks)
    assert time.perf_counter() - started < 1.0
    assert status == 503
    assert payload["reasons"] == ["store: no answer within 0.05 s"]


def test_checks_refuse_a_limit_that_is_not_positive(wall, database):
    feeds = Feeds(wall)
    with pytest.raises(ValueError, match="feed_stale"):
        OpsChecks(engine=feeds.status, store=pinger(database), feed_stale=timedelta(0))
    with pytest.raises(ValueError, match="store_timeout"):
        OpsChecks(engine=feeds.status, store=pinger(database), store_timeout=0)


# --- /metrics from a real run ---

FILTERS = {
    1: ("channel:1", "space = nullsec"),
    2: ("channel:2", "value >= 1b"),
    3: ("user:7", "space = wormhole"),
}
BROKEN = [b"{not json", b"[1, 2]", b'{"package": null}', b"{also not json"]


class ScriptedSender:
    """Posts everything, except: the first post to channel:2 is refused for good, the first
    to channel:1 is asked to wait once."""

    def __init__(self) -> None:
        self.refused: int | None = None
        self.retried: int | None = None
        self._message = 0

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for delivery in deliveries:
            if destination == "channel:2" and self.refused in (None, delivery.entry_id):
                self.refused = delivery.entry_id
                outcomes.append(Failed((delivery.entry_id,), "embed too large"))
            elif destination == "channel:1" and self.retried is None:
                self.retried = delivery.entry_id
                outcomes.append(Retry((delivery.entry_id,), 0.01, "slow down"))
            else:
                self._message += 1
                outcomes.append(Sent((delivery.entry_id,), self._message))
        return outcomes


class Seen:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


async def test_metrics_of_a_real_run_count_kills_rejections_and_posts(
    database, universe, data_dir, tmp_path, fixture_lines
):
    feed = tmp_path / "feed.jsonl"
    lines = [*fixture_lines[:150], *BROKEN, *fixture_lines[150:]]
    feed.write_bytes(b"\n".join(lines) + b"\n")
    matcher = Matcher(Distances(universe))
    for sid, (destination, text) in FILTERS.items():
        matcher.add(Subscription(sid, destination, await parse(text, universe)))
    enricher = Enricher(universe)
    dispatcher = Dispatcher(database, enricher, ScriptedSender(), max_age=None)
    seen = Seen()
    engine = Engine(
        sources=[ReplaySource(feed, name="history")], enricher=enricher, database=database,
        sinks=[seen], matcher=matcher, dispatcher=dispatcher, max_age=None,
    )
    checks = OpsChecks(engine=engine.status, store=pinger(database), outbox=dispatcher)
    async with OpsServer("127.0.0.1", 0, checks) as server:
        async with engine:
            await engine.wait()
            await asyncio.wait_for(dispatcher.idle(), 10)
        async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as answer:
            assert answer.headers["Content-Type"] == METRICS_CONTENT_TYPE
            after = samples(await answer.text())
        health, _, payload = await get(server, "/healthz")

    assert value(after, "killwatch_engine_running") == 0
    assert health == 503
    assert payload["reasons"] == ["engine is not running"]
    assert payload["feeds"] == []  # a replay is history: never stale

    assert value(after, "killwatch_kills_received_total", source="history") == len(lines)
    rejected = {dict(labels)["reason"]: count for (name, labels), count in after.items()
                if name == "killwatch_kills_rejected_total"}
    assert rejected == {"missing_body": 3, "invalid_json": 2, "not_an_object": 1,
                        "empty_package": 1}
    unique = {kill.id for kill in seen.kills}
    assert value(after, "killwatch_kills_stored_total") == len(unique) == len(seen.kills)
    assert value(after, "killwatch_kills_duplicate_total") == (
        len(fixture_lines) - 3 - len(unique)
    )
    assert value(after, "killwatch_queue_depth", stage="parse") == 0
    # A replay is paced by nothing: it reports no kill times, so no lag.
    assert "killwatch_feed_lag_seconds" not in names(after)

    owed = sum(len(matcher.match(kill)) for kill in seen.kills)
    async with database.session() as session:
        rows = await OutboxRepository(session).counts()
    assert rows == {"sent": owed - 1, "failed": 1}
    assert value(after, "killwatch_outbox_depth") == 0
    assert value(after, "killwatch_posts_total", outcome="sent") == owed - 1
    assert value(after, "killwatch_posts_total", outcome="failed") == 1
    assert value(after, "killwatch_posts_total", outcome="retry") == 1
    assert value(after, "killwatch_posts_total", outcome="skipped") == 0
    assert value(after, "killwatch_post_messages_total") == owed - 1
    # Parts not handed over have no metrics; the process' own are always there.
    assert not {n for n in names(after) if n.startswith(("killwatch_esi", "killwatch_cache"))}
    assert "process_resident_memory_bytes" in names(after)


class Stalled:
    """A sender whose first post never comes back (Discord hanging)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_the_outbox_depth_shows_the_posts_still_owed(database, universe, data_dir):
    matcher = Matcher(Distances(universe))
    matcher.add(Subscription(1, "channel:1", await parse("space = nullsec", universe)))
    enricher = Enricher(universe)
    sender = Stalled()
    dispatcher = Dispatcher(database, enricher, sender, workers=1, batch=1, max_age=None)
    seen = Seen()
    engine = Engine(
        sources=[ReplaySource(data_dir / "killmails.jsonl")], enricher=enricher,
        database=database, sinks=[seen], matcher=matcher, dispatcher=dispatcher, max_age=None,
        drain_timeout=0.1,
    )
    checks = OpsChecks(engine=engine.status, store=pinger(database), outbox=dispatcher)
    async with OpsServer("127.0.0.1", 0, checks) as server, engine:
        await engine.wait()
        await sender.called.wait()
        _, text, _ = await get(server, "/metrics")
    owed = sum(len(matcher.match(kill)) for kill in seen.kills)
    assert owed > 10
    # One post is with the sender; the rest wait.
    assert value(samples(text), "killwatch_outbox_depth") == owed - 1
    assert value(samples(text), "killwatch_posts_total", outcome="sent") == 0


# --- /metrics: the parts ---


def test_the_match_histogram_counts_each_kill_in_its_bucket():
    metrics = PipelineMetrics(buckets=(0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.004, 0.05, 2.0):
        metrics.matched(seconds)
    with metrics.timing():
        pass  # well under a millisecond
    histogram = metrics.match_histogram()
    assert histogram.cumulative == (3, 4, 5, 6)
    assert histogram.count == 6
    assert histogram.total_seconds == pytest.approx(2.0555, abs=0.001)


def test_match_buckets_must_increase():
    with pytest.raises(ValueError, match="increasing"):
        PipelineMetrics(buckets=(0.1, 0.01))


async def test_match_times_rejections_by_feed_and_esi_reach_the_page(wall, database):
    pipeline = PipelineMetrics()
    for seconds in (0.0002, 0.0002, 0.003, 0.3):
        pipeline.matched(seconds)
    pipeline.rejected("r2z2", "invalid_json")
    pipeline.rejected("r2z2", "invalid_json")
    pipeline.rejected("mirror", "missing_body")
    esi = EsiStatus(calls=120, errors={"timeout": 2, "not_found": 5}, breaker="closed",
                    consecutive_failures=0, breaker_opened=0, error_limit_remain=93,
                    error_limit_reset_in=41.0, invalid_ids=0)
    checks = checks_for(Feeds(wall), database, pipeline=pipeline, esi=lambda: esi)
    async with OpsServer("127.0.0.1", 0, checks) as server:
        _, text, _ = await get(server, "/metrics")
    found = samples(text)
    assert value(found, "killwatch_match_seconds_count") == 4
    assert value(found, "killwatch_match_seconds_sum") == pytest.approx(0.3034)
    assert value(found, "killwatch_match_seconds_bucket", le="0.00025") == 2
    assert value(found, "killwatch_match_seconds_bucket", le="0.005") == 3
    assert value(found, "killwatch_match_seconds_bucket", le="0.25") == 3
    assert value(found, "killwatch_match_seconds_bucket", le="+Inf") == 4
    assert value(found, "killwatch_source_kills_rejected_total",
                 source="r2z2", reason="invalid_json") == 2
    assert value(found, "killwatch_source_kills_rejected_total",
                 source="mirror", reason="missing_body") == 1
    assert value(found, "killwatch_esi_error_limit_remaining") == 93
    assert value(found, "killwatch_esi_requests_total") == 120
    assert value(found, "killwatch_esi_errors_total", error="not_found") == 5
    assert value(found, "killwatch_esi_circuit_open") == 0


async def test_esi_error_limit_is_left_out_until_esi_has_told_it(wall, database):
    esi = EsiStatus(calls=0, errors={}, breaker="open", consecutive_failures=5,
                    breaker_opened=1, error_limit_remain=None, error_limit_reset_in=None,
                    invalid_ids=0)
    checks = checks_for(Feeds(wall), database, esi=lambda: esi)
    async with OpsServer("127.0.0.1", 0, checks) as server:
        _, text, _ = await get(server, "/metrics")
    found = samples(text)
    assert "killwatch_esi_error_limit_remaining" not in names(found)
    assert value(found, "killwatch_esi_circuit_open") == 1


async def test_a_part_that_fails_to_report_leaves_the_rest_of_the_page(wall, database):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.kill("1")

    def broken() -> EsiStatus:
        raise RuntimeError("the client is gone")

    checks = checks_for(Feeds(wall, r2z2), database, esi=broken)
    async with OpsServer("127.0.0.1", 0, checks) as server:
        status, text, _ = await get(server, "/metrics")
    assert status == 200
    found = samples(text)
    assert value(found, "killwatch_kills_received_total", source="r2z2") == 1
    assert not {n for n in names(found) if n.startswith("killwatch_esi")}


# --- servers ---


async def test_two_servers_side_by_side_each_show_their_own_engine(wall, database):
    one, two = SourceCounters("one", "r2z2", wall), SourceCounters("two", "redisq", wall)
    for _ in range(3):
        one.kill(None)
    two.kill(None)
    first = OpsServer("127.0.0.1", 0, checks_for(Feeds(wall, one), database))
    second = OpsServer("127.0.0.1", 0, checks_for(Feeds(wall, two), database))
    async with first, second:
        assert first.port != second.port
        _, a, _ = await get(first, "/metrics")
        _, b, _ = await get(second, "/metrics")
    received_a = {dict(labels)["source"]: n for (name, labels), n in samples(a).items()
                  if name == "killwatch_kills_received_total"}
    received_b = {dict(labels)["source"]: n for (name, labels), n in samples(b).items()
                  if name == "killwatch_kills_received_total"}
    assert received_a == {"one": 3}
    assert received_b == {"two": 1}


async def test_a_port_in_use_is_an_error_at_start(wall, database):
    checks = checks_for(Feeds(wall), database)
    async with OpsServer("127.0.0.1", 0, checks) as first:
        taken = OpsServer("127.0.0.1", first.port, checks)
        with pytest.raises(OSError, match="in use"):
            await taken.__aenter__()
        with pytest.raises(RuntimeError, match="not running"):
            _ = taken.port
        status, _, _ = await get(first, "/healthz")
    assert status == 200
