"""The R2Z2 source against a fake R2Z2: the walk, its resumption, and recovery from every fault."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from engine.model import parse_killmail
from engine.sources.base import RawKill
from engine.sources.http import HttpTimeouts
from engine.sources.r2z2 import R2Z2Source, cursor_key
from tests.fakes.clock import FakeClock
from tests.fakes.r2z2 import SEQUENCE_JSON, FakeR2Z2, fixture_kills
from tests.fakes.waiting import until

AGENT = "Killwatch/test (ops@example.org)"
KILLS = fixture_kills(60)


@pytest.fixture
async def fake() -> AsyncIterator[FakeR2Z2]:
    async with FakeR2Z2() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@asynccontextmanager
async def r2z2(fake: FakeR2Z2, clock: FakeClock, **options: Any) -> AsyncIterator[R2Z2Source]:
    options.setdefault("timeouts", HttpTimeouts(connect=0.5, read=0.5))
    options.setdefault("rand", lambda: 0.5)  # no jitter: waits are exact
    options.setdefault("requests_per_second", None)  # only the rate test paces
    async with (
        aiohttp.ClientSession() as session,
        R2Z2Source(
            session, base_url=fake.url, user_agent=AGENT, clock=clock.clock, **options
        ) as source,
    ):
        yield source


async def take(source: R2Z2Source, count: int, *, within: float = 10.0) -> list[RawKill]:
    """The next `count` kills the source hands on; fails rather than hangs."""
    taken: list[RawKill] = []
    async with asyncio.timeout(within):
        async for raw in source.kills():
            taken.append(raw)
            if len(taken) == count:
                break
    return taken


def sequences(raws: list[RawKill]) -> list[int]:
    assert all(raw.cursor is not None for raw in raws)
    return [int(raw.cursor.value) for raw in raws if raw.cursor is not None]


def ids(raws: list[RawKill]) -> list[int]:
    return [parse_killmail(raw.payload).killmail_id for raw in raws]


def publish(fake: FakeR2Z2, lines: list[dict[str, Any]]) -> list[int]:
    return [fake.publish(line) for line in lines]


async def test_first_start_begins_at_the_head_sequence_json_names(fake, clock):
    published = publish(fake, KILLS[:5])
    fake.pinned_sequence = published[2]
    async with r2z2(fake, clock) as source:
        raws = await take(source, 3)
    assert sequences(raws) == published[2:]
    assert ids(raws) == [line["killmail_id"] for line in KILLS[2:5]]


async def test_restart_resumes_at_the_sequence_after_the_saved_one(fake, clock):
    published = publish(fake, KILLS[:6])
    async with r2z2(fake, clock, start_after=published[1]) as source:
        raws = await take(source, 4)
    assert sequences(raws) == published[2:]
    assert {raw.cursor.key for raw in raws if raw.cursor} == {cursor_key("r2z2")}
    assert fake.requests_for(published[1]) == 0


async def test_each_kill_carries_the_body_served_and_says_where_it_came_from(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        [raw] = await take(source, 1)
    assert raw.payload == fake.payloads[sequence]
    assert raw.where == f"sequence {sequence}"
    assert raw.source == "r2z2"


async def test_at_the_head_a_404_waits_the_poll_interval_and_asks_again(fake, clock):
    [first] = publish(fake, KILLS[:1])

    async def publish_later() -> None:
        await until(lambda: len(clock.sleeps) >= 3)
        fake.publish(KILLS[1])

    async with r2z2(fake, clock, start_after=first - 1, poll_wait=6.0) as source:
        publisher = asyncio.create_task(publish_later())
        raws = await take(source, 2)
        await publisher
    assert sequences(raws) == [first, first + 1]
    assert clock.sleeps[:3] == [6.0, 6.0, 6.0]
    assert fake.requests_for(first + 1) >= 4


async def test_a_hole_at_the_head_is_skipped_once_sequence_json_moves_past_it(fake, clock, caplog):
    [before] = publish(fake, KILLS[:1])
    [hole] = fake.skip()
    fake.pinned_sequence = before  # sequence.json has not caught up yet
    caplog.set_level(logging.WARNING)

    async def move_head() -> None:
        await until(lambda: fake.requests_for(hole) >= 10)
        fake.publish(KILLS[1])
        fake.pinned_sequence = None

    async with r2z2(fake, clock, start_after=before - 1, max_404s=10) as source:
        mover = asyncio.create_task(move_head())
        raws = await take(source, 2)
        await mover
    assert sequences(raws) == [before, hole + 1]
    assert f"sequences {hole}-{hole} are missing (1)" in caplog.text


async def test_sequence_json_is_reread_after_the_404_time_limit_too(fake, clock):
    [before] = publish(fake, KILLS[:1])
    [hole] = fake.skip()
    [after] = publish(fake, KILLS[1:2])
    fake.pinned_sequence = before

    async def unpin_after_two_rereads() -> None:
        await until(lambda: fake.requests_for(SEQUENCE_JSON) >= 3)
        fake.pinned_sequence = None

    async with r2z2(
        fake, clock, start_after=before - 1, max_404s=1000, max_404_seconds=30.0, poll_wait=6.0
    ) as source:
        unpin = asyncio.create_task(unpin_after_two_rereads())
        raws = await take(source, 2)
        await unpin
    assert sequences(raws) == [before, after]
    rereads = fake.requests_for(SEQUENCE_JSON) - 1
    # One re-read per 30 s of 6 s waits (5 or 6 tries), far below the 1000-404 rule.
    assert rereads >= 2
    assert fake.requests_for(hole) <= 6 * rereads + 1


async def test_catching_up_fetches_several_sequences_at_once_and_keeps_their_order(fake, clock):
    published = publish(fake, KILLS[:40])
    async with r2z2(fake, clock, start_after=published[0] - 1, concurrency=8,
                    requests_per_second=None) as source:
        raws = await take(source, 40)
    assert sequences(raws) == published
    assert ids(raws) == [line["killmail_id"] for line in KILLS[:40]]
    assert 1 < fake.max_in_flight <= 8


async def test_holes_while_catching_up_are_skipped_without_waiting(fake, clock, caplog):
    caplog.set_level(logging.WARNING)
    first = publish(fake, KILLS[:3])
    holes = fake.skip(5)
    last = publish(fake, KILLS[3:6])
    async with r2z2(fake, clock, start_after=first[0] - 1) as source:
        raws = await take(source, 6)
    assert sequences(raws) == first + last
    assert 6.0 not in clock.sleeps
    assert f"sequences {holes[0]}-{holes[-1]} are missing (5)" in caplog.text
    assert source.status().errors["gap"] == 5


async def test_429_waits_as_long_as_retry_after_says(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.retry_after = "7"
    fake.fault(sequence, "429")
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        raws = await take(source, 1)
        status = source.status()
    assert sequences(raws) == [sequence]
    assert 7.0 in clock.sleeps
    assert status.errors["http_429"] == 1


async def test_429_without_retry_after_waits_ten_to_twenty_seconds(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.retry_after = "soon"
    fake.fault(sequence, "429")
    async with r2z2(fake, clock, start_after=sequence - 1, rand=lambda: 0.25) as source:
        await take(source, 1)
    assert clock.sleeps == [12.5]


async def test_server_errors_back_off_exponentially_then_recover(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(sequence, "500", "503", "500")
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        raws = await take(source, 1)
        status = source.status()
    assert sequences(raws) == [sequence]
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert status.errors["http_5xx"] == 3
    assert status.backoff_seconds == 0.0
    assert status.connected


async def test_backoff_is_capped_at_a_minute(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(sequence, *(["500"] * 9))
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        await take(source, 1)
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


async def test_a_hung_request_is_abandoned_at_the_timeout(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(sequence, "hang")
    started = time.monotonic()
    async with r2z2(
        fake, clock, start_after=sequence - 1, timeouts=HttpTimeouts(connect=0.2, read=0.2)
    ) as source:
        raws = await take(source, 1)
        status = source.status()
    assert time.monotonic() - started < 3.0  # the hang lasts 30 s
    assert sequences(raws) == [sequence]
    assert status.errors["timeout"] == 1


async def test_a_connection_closed_mid_body_is_retried(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(sequence, "cut")
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        raws = await take(source, 1)
        status = source.status()
    assert raws[0].payload == fake.payloads[sequence]
    assert status.errors["connection"] == 1


async def test_truncated_json_is_fetched_again(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(sequence, "truncated")
    async with r2z2(fake, clock, start_after=sequence - 1) as source:
        raws = await take(source, 1)
        status = source.status()
    assert raws[0].payload == fake.payloads[sequence]
    assert status.errors["malformed"] == 1


async def test_a_body_that_stays_invalid_is_passed_on_and_the_walk_goes_on(fake, clock):
    first, second = publish(fake, KILLS[:2])
    fake.fault(first, "invalid", "invalid", "invalid")
    async with r2z2(fake, clock, start_after=first - 1, malformed_retries=2) as source:
        raws = await take(source, 2)
    assert sequences(raws) == [first, second]
    assert isinstance(raws[0].payload, bytes)
    assert raws[0].payload.startswith(b"<html")
    assert raws[1].payload == fake.payloads[second]


async def test_a_stale_sequence_json_only_delays_nothing_is_missed(fake, clock):
    published = publish(fake, KILLS[:10])
    fake.sequence_lag = 6  # zKillboard rewrites the file every ~50 sequences
    async with r2z2(fake, clock) as source:
        raws = await take(source, 7)
    assert sequences(raws) == published[3:]


async def test_after_a_long_downtime_it_resumes_at_the_oldest_file_still_served(
    fake, clock, caplog
):
    caplog.set_level(logging.WARNING)
    published = publish(fake, KILLS[:60])
    fake.expire(published[39])
    async with r2z2(fake, clock, start_after=published[0] - 1, max_backlog=20) as source:
        raws = await take(source, 20)
    assert sequences(raws) == published[40:]
    assert "(40 lost)" in caplog.text
    # Bisection, not a walk through 40 missing files.
    assert sum(fake.requests_for(s) for s in published[:40]) <= 8


async def test_an_unreachable_sequence_json_is_retried_with_backoff(fake, clock):
    [sequence] = publish(fake, KILLS[:1])
    fake.fault(SEQUENCE_JSON, "500", "invalid")
    async with r2z2(fake, clock) as source:
        raws = await take(source, 1)
    assert sequences(raws) == [sequence]
    assert clock.sleeps == [1.0, 2.0]


async def test_an_unreachable_feed_is_logged_in_one_line_without_a_traceback(clock, caplog):
    caplog.set_level(logging.WARNING)
    async with FakeR2Z2() as gone:
        url = gone.url
    dead = FakeR2Z2()
    dead.url = url
    async with r2z2(dead, clock) as source:
        with pytest.raises(TimeoutError):
            await take(source, 1, within=0.5)
        status = source.status()
    assert "cannot connect to 127.0.0.1" in caplog.text
    assert "Traceback" not in caplog.text
    assert status.errors["connection"] >= 1
    assert not status.connected


async def test_every_request_names_the_app_and_its_operator(fake, clock):
    published = publish(fake, KILLS[:3])
    async with r2z2(fake, clock, start_after=published[0] - 1) as source:
        await take(source, 3)
    assert {request.user_agent for request in fake.requests} == {AGENT}


async def test_requests_stay_under_the_configured_rate(fake, clock):
    published = publish(fake, KILLS[:10])
    async with r2z2(fake, clock, start_after=published[0] - 1, requests_per_second=4.0) as source:
        await take(source, 10)
    # sequence.json + 10 kills: at least 10 gaps of a quarter second between 11 requests.
    assert sum(clock.sleeps) >= 10 * 0.25 - 1e-9


async def test_status_reports_position_kill_time_and_throughput(fake, clock):
    published = publish(fake, KILLS[:3])
    async with r2z2(fake, clock, start_after=published[0] - 1) as source:
        await take(source, 3)
        status = source.status()
    last = orjson.loads(fake.payloads[published[-1]])
    assert status.kind == "r2z2"
    assert status.last_position == str(published[-1])
    assert status.kills == 3
    assert status.last_kill_time is not None
    assert status.last_kill_time.isoformat().startswith(last["esi"]["killmail_time"][:19])
    assert status.last_uploaded_at is not None
    assert status.kills_per_minute > 0


async def test_a_republished_kill_comes_through_with_its_sequence_updated(fake, clock):
    [original] = publish(fake, KILLS[:1])
    updated = dict(KILLS[0])
    updated["zkb"] = {**KILLS[0]["zkb"], "labels": ["ganked"], "totalValue": 123.0}
    republished = fake.publish(updated, sequence_updated=original)
    async with r2z2(fake, clock, start_after=original - 1) as source:
        raws = await take(source, 2)
    first, second = (parse_killmail(raw.payload) for raw in raws)
    assert first.killmail_id == second.killmail_id
    assert second.sequence_updated == original
    assert second.sequence_id == republished
    assert second.zkb is not None
    assert second.zkb.total_value == 123.0
