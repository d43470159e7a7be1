"""RedisQSource against a fake RedisQ mirror: packages, bodies from ESI, and every fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from engine.model import parse_killmail
from engine.model.rejection import KillmailRejected
from engine.sources.base import RawKill
from engine.sources.http import HttpTimeouts
from engine.sources.redisq import FetchKillmail, RedisQSource
from tests.fakes.clock import FakeClock
from tests.fakes.redisq import FakeRedisQ, fixture_kills

TIMEOUTS = HttpTimeouts(connect=0.5, read=0.2)
TTW = 1


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeRedisQ]:
    async with FakeRedisQ() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def esi_fetcher(session: aiohttp.ClientSession, base: str) -> FetchKillmail:
    """What the lead wires in production (the shared ESI client), as a plain GET."""

    async def fetch(killmail_id: int, hash_: str) -> dict[str, Any]:
        async with session.get(
            f"{base}/killmails/{killmail_id}/{hash_}/", timeout=TIMEOUTS.request()
        ) as response:
            if response.status == 404:
                raise LookupError(f"ESI has no killmail {killmail_id}")
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    return fetch


def source(
    session: aiohttp.ClientSession,
    fake: FakeRedisQ,
    clock: FakeClock,
    **options: Any,
) -> RedisQSource:
    options.setdefault("rand", lambda: 0.5)  # no jitter: waits are exact
    return RedisQSource(
        session,
        base_url=fake.url,
        queue_id="killwatch-test",
        ttw=TTW,
        timeouts=TIMEOUTS,
        clock=clock.clock,
        user_agent="Killwatch/test (ops@example.org)",
        **options,
    )


async def take(feed: RedisQSource, count: int, *, limit: float = 5.0) -> list[RawKill]:
    got: list[RawKill] = []
    stream = feed.kills()
    try:
        async with asyncio.timeout(limit):
            async for raw in stream:
                got.append(raw)
                if len(got) == count:
                    break
    finally:
        await stream.aclose()
    return got


def ids(raws: list[RawKill]) -> list[int]:
    return [parse_killmail(raw.payload).killmail_id for raw in raws]


def without_href(payload: Any) -> Any:
    killmail = parse_killmail(payload)
    assert killmail.zkb is not None
    return msgspec.structs.replace(killmail, zkb=msgspec.structs.replace(killmail.zkb, href=None))


async def test_packages_arrive_in_order_and_parse_like_the_originals(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    lines = fixture_kills(5)
    fake.publish(*lines)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 5)
    assert ids(raws) == [line["killmail_id"] for line in lines]
    for raw, line in zip(raws, lines, strict=True):
        assert without_href(raw.payload) == without_href(line)
        assert raw.source == "redisq"
        assert raw.cursor is None
    poll = fake.polls[0]
    assert poll.query == {"queueID": "killwatch-test", "ttw": "1"}
    assert poll.user_agent == "Killwatch/test (ops@example.org)"
    assert clock.sleeps == []


async def test_empty_packages_are_polled_again_at_once(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    fake.fault("empty", "empty", "empty")
    fake.publish(*fixture_kills(1))
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 1)
    assert len(raws) == 1
    assert len(fake.polls) == 4
    assert clock.sleeps == []  # an empty answer already waited ttw on the server
    assert feed.status().errors == {}


async def test_a_redirect_to_object_php_is_followed(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(redirect=True) as fake:
        lines = fixture_kills(3)
        fake.publish(*lines)
        async with source(session, fake, clock) as feed:
            raws = await take(feed, 3)
    assert ids(raws) == [line["killmail_id"] for line in lines]


async def test_a_package_without_killmail_gets_its_body_from_esi_by_href(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(bodyless=True) as fake:
        lines = fixture_kills(4)
        fake.publish(*lines)
        fetch = esi_fetcher(session, fake.esi_url)
        async with source(session, fake, clock, fetch_killmail=fetch) as feed:
            raws = await take(feed, 4)
    assert fake.esi_requests == [line["killmail_id"] for line in lines]
    for raw, line in zip(raws, lines, strict=True):
        assert without_href(raw.payload) == without_href(line)


async def test_a_body_that_fails_once_is_fetched_again(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(bodyless=True) as fake:
        [line] = fixture_kills(1)
        fake.publish(line)
        fake.esi_faults[line["killmail_id"]].extend(["500", "invalid"])
        fetch = esi_fetcher(session, fake.esi_url)
        async with source(session, fake, clock, fetch_killmail=fetch) as feed:
            raws = await take(feed, 1)
    assert ids(raws) == [line["killmail_id"]]
    assert fake.esi_requests == [line["killmail_id"]] * 3
    assert clock.sleeps == [1.0, 2.0]


async def test_a_body_esi_does_not_have_is_counted_and_skipped(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(bodyless=True) as fake:
        missing, kept = fixture_kills(2)
        fake.publish(missing, kept)
        fake.esi_faults[missing["killmail_id"]].append("404")
        fetch = esi_fetcher(session, fake.esi_url)
        async with source(session, fake, clock, fetch_killmail=fetch) as feed:
            raws = await take(feed, 1)
            status = feed.status()
    assert ids(raws) == [kept["killmail_id"]]
    assert status.errors == {"not_found": 1}
    assert clock.sleeps == []  # a 404 is final: no retries


async def test_a_body_that_keeps_failing_is_given_up_and_the_feed_moves_on(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(bodyless=True) as fake:
        broken, kept = fixture_kills(2)
        fake.publish(broken, kept)
        fake.esi_faults[broken["killmail_id"]].extend(["500"] * 5)
        fetch = esi_fetcher(session, fake.esi_url)
        async with source(session, fake, clock, fetch_killmail=fetch, body_attempts=3) as feed:
            raws = await take(feed, 1)
            status = feed.status()
    assert ids(raws) == [kept["killmail_id"]]
    assert fake.esi_requests.count(broken["killmail_id"]) == 3
    assert status.errors == {"body_unavailable": 1}


async def test_without_a_fetcher_a_bodyless_package_goes_to_the_parser_to_reject(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(bodyless=True) as fake:
        fake.publish(*fixture_kills(1))
        async with source(session, fake, clock) as feed:
            [raw] = await take(feed, 1)
    with pytest.raises(KillmailRejected, match="no killmail body"):
        parse_killmail(raw.payload)


async def test_a_malformed_killmail_is_still_handed_on(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    line = fixture_kills(1)[0]
    broken = {**line, "esi": {"killmail_id": line["killmail_id"], "killmail_time": "later"}}
    fake.publish(broken)
    async with source(session, fake, clock) as feed:
        [raw] = await take(feed, 1)
    with pytest.raises(KillmailRejected):
        parse_killmail(raw.payload)
    assert feed.status().kills == 1


async def test_429_waits_as_long_as_retry_after_says(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    fake.fault("429")
    fake.publish(*fixture_kills(1))
    async with source(session, fake, clock) as feed:
        assert len(await take(feed, 1)) == 1
        assert feed.status().errors == {"http_429": 1}
    assert clock.sleeps == [7.0]


async def test_429_without_retry_after_waits_10_to_20_seconds(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ(retry_after=None) as fake:
        fake.fault("429")
        fake.publish(*fixture_kills(1))
        async with source(session, fake, clock, rand=lambda: 0.25) as feed:
            await take(feed, 1)
    assert clock.sleeps == [12.5]


async def test_server_errors_back_off_exponentially_then_reset_after_success(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    first, second = fixture_kills(2)
    fake.fault("500", "503", "404")
    fake.publish(first)
    async with source(session, fake, clock) as feed:
        assert ids(await take(feed, 1)) == [first["killmail_id"]]
        fake.fault("500")
        fake.publish(second)
        assert ids(await take(feed, 1)) == [second["killmail_id"]]
        status = feed.status()
    assert clock.sleeps == [1.0, 2.0, 4.0, 1.0]
    assert status.errors == {"http_5xx": 3, "http_4xx": 1}
    assert status.connected
    assert status.backoff_seconds == 0.0


async def test_a_hung_poll_is_cut_by_the_timeout_and_the_feed_recovers(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    fake.fault("hang")
    fake.publish(*fixture_kills(1))
    started = time.monotonic()
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 1)
        status = feed.status()
    elapsed = time.monotonic() - started
    assert len(raws) == 1
    assert status.errors == {"timeout": 1}
    # The poll may legitimately take ttw seconds; the read timeout adds 0.2 s on top.
    assert TTW + TIMEOUTS.read - 0.05 < elapsed < TTW + TIMEOUTS.read + 0.8


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("truncated", "malformed"),
        ("invalid", "malformed"),
        ("odd", "malformed"),
        ("cut", "connection"),
    ],
)
async def test_unreadable_replies_are_feed_errors_and_the_kill_comes_next(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock, fault: Any, kind: str
) -> None:
    line = fixture_kills(1)[0]
    fake.fault(fault)
    fake.publish(line)
    async with source(session, fake, clock) as feed:
        assert ids(await take(feed, 1)) == [line["killmail_id"]]
        assert feed.status().errors == {kind: 1}
    assert clock.sleeps == [1.0]


async def test_after_a_run_of_faults_every_kill_arrives_exactly_once(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    lines = fixture_kills(12)
    fake.publish(*lines)
    fake.fault("500", "cut", "empty", "truncated", "429", "invalid", "503", "empty")
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 12)
    assert ids(raws) == [line["killmail_id"] for line in lines]
    assert fake.pending == 0


async def test_a_package_handed_out_twice_is_delivered_once(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    first, second = fixture_kills(2)
    fake.publish(first, first, second)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 2)
    assert ids(raws) == [first["killmail_id"], second["killmail_id"]]


async def test_an_unreachable_server_is_retried_with_growing_waits(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeRedisQ() as gone:
        url = gone.url  # closed on leaving: nothing listens there any more
    feed = RedisQSource(
        session, base_url=url, queue_id="q", ttw=1, timeouts=TIMEOUTS, clock=clock.clock,
        rand=lambda: 0.5,
    )
    async with feed:
        with pytest.raises(TimeoutError):
            await take(feed, 1, limit=0.5)
        status = feed.status()
    assert status.errors["connection"] >= 4
    assert clock.sleeps[:4] == [1.0, 2.0, 4.0, 8.0]
    assert not status.connected
    assert status.last_error is not None
    assert "cannot connect" in status.last_error


async def test_status_follows_the_last_kill(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    lines = fixture_kills(2)
    fake.publish(*lines)
    async with source(session, fake, clock, name="mirror") as feed:
        await take(feed, 2)
        status = feed.status()
    assert (status.name, status.kind, status.kills) == ("mirror", "redisq", 2)
    assert status.last_position == str(lines[1]["killmail_id"])
    assert status.last_kill_time == parse_killmail(lines[1]).time


async def test_kills_needs_async_with_and_only_one_loop_at_a_time(
    session: aiohttp.ClientSession, fake: FakeRedisQ, clock: FakeClock
) -> None:
    feed = source(session, fake, clock)
    with pytest.raises(RuntimeError, match="async with"):
        await anext(feed.kills())
    fake.publish(*fixture_kills(1))
    async with feed:
        first = feed.kills()
        await anext(first)
        with pytest.raises(RuntimeError, match="already"):
            await anext(feed.kills())
        await first.aclose()


async def test_ttw_outside_what_redisq_accepts_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError, match="ttw"):
        RedisQSource(session, base_url="http://x", queue_id="q", ttw=30)
