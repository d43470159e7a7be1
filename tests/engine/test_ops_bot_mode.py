"""The ops endpoint in bot mode: /healthz gives Discord's gateway a grace before failing, and a
scale-out bot process is judged by its stream consumer's reads instead of feeds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from engine.ops import DiscordLink, OpsChecks, OpsServer
from engine.scale.consumer import ConsumerStatus
from engine.sources.status import SourceCounters
from tests.engine.test_ops import (
    START,
    Feeds,
    Wall,
    checks_for,
    get,
    healthz,
    names,
    pinger,
    samples,
    value,
)

GRACE = timedelta(seconds=60)
STALE = timedelta(seconds=30)


@pytest.fixture
def wall() -> Wall:
    return Wall()


class Link:
    """The gateway as `bot.gateway_watch.GatewayWatch` reports it."""

    def __init__(self) -> None:
        self.state = DiscordLink(True, START)

    def __call__(self) -> DiscordLink:
        return self.state


def consumer(**changes: Any) -> ConsumerStatus:
    status = ConsumerStatus(
        stream="killwatch:kills", group="bot:0-0of1", running=True, started_at=START,
        last_read_at=START, last_error=None, read=7, acked=6,
        dropped={"malformed": 1, "trimmed": 0, "too_old": 0, "repeat": 0, "match_error": 0},
        owed=9, retries=0, pending=1, lag=None,
    )
    return replace(status, **changes)


class Consumer:
    def __init__(self) -> None:
        self.state = consumer()

    def __call__(self) -> ConsumerStatus:
        return self.state


# --- Discord ---


async def test_a_gateway_down_within_the_grace_is_healthy_and_past_it_fails(wall, database):
    r2z2 = SourceCounters("r2z2", "r2z2", wall)
    r2z2.ok()
    link = Link()
    checks = checks_for(Feeds(wall, r2z2), database, discord=link, discord_grace=GRACE)
    up, up_report = await healthz(checks)

    wall.advance(seconds=100)
    r2z2.ok()
    link.state = DiscordLink(False, wall() - timedelta(seconds=45))
    reconnecting, _ = await healthz(checks)
    link.state = DiscordLink(False, wall() - timedelta(seconds=61))
    down, report = await healthz(checks)

    assert up == 200, up_report
    assert up_report["discord"] == {"connected": True, "ok": True, "down_seconds": None}
    assert reconnecting == 200
    assert down == 503
    assert report["reasons"] == ["discord: gateway disconnected for 61 s (grace 60 s)"]
    assert report["discord"] == {"connected": False, "ok": False, "down_seconds": 61.0}


async def test_a_gateway_down_since_a_time_not_known_gets_no_grace(wall, database):
    checks = checks_for(Feeds(wall), database, discord=lambda: DiscordLink(False))
    status, report = await healthz(checks)
    assert status == 503
    assert report["reasons"] == ["discord: gateway disconnected (grace 60 s)"]


async def test_metrics_show_whether_discord_is_connected_and_for_how_long_not(wall, database):
    link = Link()
    checks = checks_for(Feeds(wall), database, discord=link)
    async with OpsServer("127.0.0.1", 0, checks) as server:
        _, up, _ = await get(server, "/metrics")
        link.state = DiscordLink(False, wall() - timedelta(seconds=12))
        _, down, _ = await get(server, "/metrics")
    assert value(samples(up), "killwatch_discord_connected") == 1
    assert "killwatch_discord_disconnected_seconds" not in names(samples(up))
    assert value(samples(down), "killwatch_discord_connected") == 0
    assert value(samples(down), "killwatch_discord_disconnected_seconds") == 12


# --- the stream consumer ---


def stream_checks(read: Consumer, database: Any, wall: Any, **options: Any) -> OpsChecks:
    return OpsChecks(stream=read, store=pinger(database), stream_stale=STALE, clock=wall,
                     **options)


async def test_a_consumer_that_keeps_reading_is_healthy_without_any_feed(wall, database):
    read = Consumer()
    wall.advance(seconds=29)
    status, report = await healthz(stream_checks(read, database, wall))
    assert status == 200, report
    assert report["running"] is True
    assert report["feeds"] == []
    assert report["stream"] == {"name": "killwatch:kills", "running": True, "fresh": True,
                                "silent_seconds": 29.0, "last_error": None}


async def test_a_consumer_whose_reads_fail_names_the_stream_and_the_error(wall, database):
    read = Consumer()
    wall.advance(seconds=31)
    read.state = consumer(last_error="ConnectionError")
    status, report = await healthz(stream_checks(read, database, wall))
    assert status == 503
    assert report["reasons"] == [
        "stream killwatch:kills: no read for 31 s (limit 30 s); last error: ConnectionError"
    ]


async def test_a_consumer_that_never_read_gets_the_limit_from_its_start(wall, database):
    read = Consumer()
    read.state = consumer(last_read_at=None)
    assert (await healthz(stream_checks(read, database, wall)))[0] == 200
    wall.advance(minutes=1)
    status, report = await healthz(stream_checks(read, database, wall))
    assert status == 503
    assert report["reasons"] == ["stream killwatch:kills: no read for 60 s (limit 30 s)"]


async def test_a_stopped_consumer_fails_the_check(wall, database):
    read = Consumer()
    read.state = consumer(running=False)
    status, report = await healthz(stream_checks(read, database, wall))
    assert status == 503
    assert report["running"] is False
    assert report["reasons"] == ["stream killwatch:kills: the consumer is not running"]


async def test_metrics_of_a_consumer_count_entries_and_show_its_backlog(wall, database):
    read = Consumer()
    wall.advance(seconds=4)
    checks = stream_checks(read, database, wall, discord=Link())
    async with OpsServer("127.0.0.1", 0, checks) as server:
        _, first, _ = await get(server, "/metrics")
        read.state = consumer(lag=3, pending=0, read=8, acked=8, retries=2)
        _, later, _ = await get(server, "/metrics")
    found = samples(first)
    assert value(found, "killwatch_stream_consumer_running") == 1
    assert value(found, "killwatch_stream_silent_seconds") == 4
    assert value(found, "killwatch_stream_entries_read_total") == 7
    assert value(found, "killwatch_stream_entries_acked_total") == 6
    assert value(found, "killwatch_stream_entries_dropped_total", reason="malformed") == 1
    assert value(found, "killwatch_stream_posts_owed_total") == 9
    assert value(found, "killwatch_stream_pending") == 1
    assert "killwatch_stream_lag" not in names(found)  # Redis could not tell
    assert value(found, "killwatch_discord_connected") == 1
    assert not {n for n in names(found) if n.startswith(("killwatch_engine", "killwatch_kills"))}
    again = samples(later)
    assert value(again, "killwatch_stream_lag") == 3
    assert value(again, "killwatch_stream_pending") == 0
    assert value(again, "killwatch_stream_retries_total") == 2


def test_checks_need_an_engine_or_a_consumer_and_positive_limits(wall, database):
    with pytest.raises(ValueError, match="engine or a stream consumer"):
        OpsChecks(store=pinger(database))
    with pytest.raises(ValueError, match="discord_grace"):
        OpsChecks(stream=Consumer(), store=pinger(database), discord_grace=timedelta(0))
    with pytest.raises(ValueError, match="stream_stale"):
        OpsChecks(stream=Consumer(), store=pinger(database), stream_stale=timedelta(0))
