"""WandererSource against a fake wanderer-kills SSE stream, and the killmail mapping."""

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
from engine.sources.base import Cursor, RawKill
from engine.sources.http import HttpTimeouts
from engine.sources.wanderer import WandererSource, wanderer_payload
from tests.fakes.clock import FakeClock
from tests.fakes.redisq import fixture_kills
from tests.fakes.wanderer import FakeWanderer, to_wanderer

TIMEOUTS = HttpTimeouts(connect=0.5, read=0.5)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake() -> AsyncIterator[FakeWanderer]:
    async with FakeWanderer() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def source(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock, **options: Any
) -> WandererSource:
    options.setdefault("rand", lambda: 0.5)  # no jitter: waits are exact
    options.setdefault("timeouts", TIMEOUTS)
    return WandererSource(session, base_url=fake.url, clock=clock.clock, **options)


async def take(feed: WandererSource, count: int, *, limit: float = 5.0) -> list[RawKill]:
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


def line_ids(lines: list[dict[str, Any]]) -> list[int]:
    return [line["killmail_id"] for line in lines]


# --- mapping ---


async def test_every_fixture_kill_maps_back_to_the_killmail_esi_gave(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    lines = fixture_kills()
    for start in range(0, len(lines), 9):
        fake.publish_update(lines[start : start + 9])
    async with source(session, fake, clock) as feed:
        raws = await take(feed, len(lines))
    assert len(lines) > 300
    for raw, line in zip(raws, lines, strict=True):
        mapped = parse_killmail(raw.payload)
        if line.get("zkb") is None:
            # wanderer-kills always has a zkb block (it holds the hash); the original had none.
            assert mapped.zkb is not None
            assert mapped.zkb.hash == line["hash"]
            mapped = msgspec.structs.replace(mapped, zkb=None)
        assert mapped == parse_killmail(line)


def with_zkb(count: int) -> list[dict[str, Any]]:
    return [line for line in fixture_kills() if line.get("zkb")][:count]


def test_a_camel_case_zkb_block_maps_the_same_as_snake_case() -> None:
    for line in with_zkb(40):
        expected = parse_killmail(line)
        assert parse_killmail(wanderer_payload(to_wanderer(line, zkb_case="camel"))) == expected
        assert parse_killmail(wanderer_payload(to_wanderer(line, zkb_case="snake"))) == expected


def test_the_lean_serialisation_keeps_ids_time_system_parties_and_value() -> None:
    for line in with_zkb(60):
        original = parse_killmail(line)
        mapped = parse_killmail(wanderer_payload(to_wanderer(line, lean=True)))
        assert (mapped.killmail_id, mapped.hash, mapped.time, mapped.solar_system_id) == (
            original.killmail_id, original.hash, original.time, original.solar_system_id,
        )
        assert mapped.attackers == original.attackers
        assert mapped.victim.ship_type_id == original.victim.ship_type_id
        assert mapped.victim.character_id == original.victim.character_id
        assert mapped.victim.corporation_id == original.victim.corporation_id
        assert mapped.victim.damage_taken == original.victim.damage_taken
        assert mapped.victim.items == ()
        assert mapped.zkb is not None
        assert original.zkb is not None
        assert mapped.zkb.total_value == original.zkb.total_value


def test_names_the_model_has_no_room_for_are_dropped() -> None:
    line = fixture_kills(1)[0]
    payload = wanderer_payload(to_wanderer(line))
    assert set(payload) == {"killmail_id", "hash", "esi", "zkb"}
    assert "ship_name" not in payload["esi"]["victim"]
    assert not any("name" in key for attacker in payload["esi"]["attackers"] for key in attacker)
    assert "total_value" not in payload["zkb"]
    assert "totalValue" in payload["zkb"]


def test_items_named_type_id_and_a_hoisted_total_value_are_understood() -> None:
    killmail = {
        "killmail_id": 5,
        "kill_time": "2026-06-01T10:00:00Z",
        "system_id": 30000142,
        "victim": {
            "ship_type_id": 587,
            "items": [{"type_id": 3170, "flag": 27, "quantity_destroyed": 1,
                       "items": [{"type_id": 215, "quantity_dropped": 100}]}],
        },
        "attackers": [{"character_id": 9, "final_blow": True, "damage_done": 300}],
        "zkb": {"hash": "abc", "npc": False},
        "total_value": 1_500_000.0,
    }
    killmail_ = parse_killmail(wanderer_payload(killmail))
    assert killmail_.hash == "abc"
    assert killmail_.victim.items[0].type_id == 3170
    assert killmail_.victim.items[0].items[0].quantity_dropped == 100
    assert killmail_.zkb is not None
    assert killmail_.zkb.total_value == 1_500_000.0


@pytest.mark.parametrize(
    "broken",
    [
        {"victim": "nobody"},
        {"attackers": "everyone"},
        {"kill_time": None, "killmail_time": None},
        {"zkb": ["not", "a", "block"]},
        {"killmail_id": None},
    ],
)
def test_a_broken_field_reaches_the_parser_which_rejects_it(broken: dict[str, Any]) -> None:
    killmail = to_wanderer(fixture_kills(1)[0]) | broken
    with pytest.raises(KillmailRejected):
        parse_killmail(wanderer_payload(killmail))


# --- the stream ---


async def test_filters_go_in_the_query_and_the_stream_is_asked_for(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    fake.publish_kill(fixture_kills(1)[0])
    async with source(
        session, fake, clock, systems=[30000142, 31002284], characters=[95465499]
    ) as feed:
        await take(feed, 1)
    connect = fake.connects[0]
    assert connect.query == {"system_ids": "30000142,31002284", "character_ids": "95465499"}
    assert connect.accept == "text/event-stream"
    assert connect.last_event_id is None


async def test_named_unnamed_update_and_preload_batch_events_all_carry_kills(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    lines = fixture_kills(8)
    fake.publish_kill(lines[0])  # unnamed, as sse_phoenix_pubsub sends them
    fake.publish_kill(lines[1], "killmail")
    fake.publish_update(lines[2:5], preload=True)
    fake.publish("batch", {"kills": [to_wanderer(line) for line in lines[5:7]],
                           "count": 2, "batch_number": 1, "total_batches": 1})
    fake.publish("killmail", to_wanderer(lines[7], zkb_case="camel"))
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 8)
    assert ids(raws) == line_ids(lines)


async def test_control_events_are_not_kills_and_error_events_are_counted(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    line = fixture_kills(1)[0]
    fake.publish("connected", {"status": "connected", "filters": {}})
    fake.publish("heartbeat", {"timestamp": "2026-06-01T12:00:00Z", "mode": "realtime"})
    fake.publish(None, {"type": "test", "message": "SSE test broadcast"})
    fake.publish("kill_count_update", {"system_id": 30000142, "count": 3})
    fake.publish("error", {"type": "connection_limit", "message": "Too many connections"})
    fake.publish_kill(line)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 1)
        status = feed.status()
    assert ids(raws) == [line["killmail_id"]]
    assert status.errors == {"server_error": 1}
    assert "connection_limit" in (status.last_error or "")


async def test_an_event_that_is_not_json_is_counted_and_skipped(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    line = fixture_kills(1)[0]
    fake.publish("killmail", '{"killmail_id": 1, "vic')
    fake.publish_kill(line)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 1)
        assert feed.status().errors == {"malformed": 1}
    assert ids(raws) == [line["killmail_id"]]


async def test_a_malformed_killmail_is_handed_on_for_the_parser_to_reject(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    fake.publish("killmail", {"killmail_id": 77, "kill_time": "2026-06-01T10:00:00Z"})
    fake.publish("killmail_update", {"system_id": 1, "killmails": ["not a killmail"]})
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 2)
    for raw in raws:
        with pytest.raises(KillmailRejected):
            parse_killmail(raw.payload)


async def test_each_event_id_becomes_a_cursor_on_the_last_kill_of_its_event(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    lines = fixture_kills(4)
    fake.publish_kill(lines[0])
    fake.publish_update(lines[1:4])
    async with source(session, fake, clock, name="wk") as feed:
        raws = await take(feed, 4)
        status = feed.status()
    key = "source:wk:last_event_id"
    assert [raw.cursor for raw in raws] == [Cursor(key, "1"), None, None, Cursor(key, "2")]
    assert status.last_position == "2"
    assert status.kills == 4
    assert status.last_kill_time == parse_killmail(lines[3]).time


async def test_events_without_ids_carry_no_cursor(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeWanderer(send_ids=False) as fake:
        fake.publish_update(fixture_kills(2))
        async with source(session, fake, clock) as feed:
            raws = await take(feed, 2)
    assert [raw.cursor for raw in raws] == [None, None]


async def test_a_restart_resumes_after_the_last_event_stored(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    lines = fixture_kills(7)
    fake.publish_kill(lines[0])
    fake.publish_update(lines[1:3])
    fake.publish_kill(lines[3])
    fake.publish_update(lines[4:7])
    async with source(session, fake, clock) as first_run:
        before = await take(first_run, 3)
    saved = [raw.cursor for raw in before if raw.cursor is not None][-1]
    assert saved.value == "2"
    async with source(session, fake, clock, start=saved.value) as second_run:
        after = await take(second_run, 4)
    assert fake.connects[-1].last_event_id == "2"
    assert ids(before) + ids(after) == line_ids(lines)


async def test_a_drop_mid_event_reconnects_with_last_event_id_and_loses_nothing(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    lines = fixture_kills(9)
    for line in lines[:3]:
        fake.publish_kill(line)
    fake.publish_update(lines[3:6])
    for line in lines[6:]:
        fake.publish_kill(line)
    fake.cut_after.extend([2, 1])  # cut inside event 3, then inside the 3-kill event 4
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 9)
        status = feed.status()
    assert ids(raws) == line_ids(lines)
    assert [c.last_event_id for c in fake.connects] == [None, "2", "3"]
    assert status.errors == {"connection": 2}
    assert clock.sleeps == [1.0, 1.0]  # data had flowed each time: backoff starts over


async def test_heartbeats_comments_multiline_data_and_crlf_are_read(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeWanderer(multiline=True, line_end="\r\n", space=False) as fake:
        lines = fixture_kills(3)
        fake.publish_kill(lines[0])
        async with source(session, fake, clock) as feed:
            stream = feed.kills()
            got = [await anext(stream)]
            await asyncio.sleep(0.2)  # several `: ping` comments go by
            fake.publish_update(lines[1:3])
            got += [await anext(stream), await anext(stream)]
            await stream.aclose()
    assert ids(got) == line_ids(lines)
    assert len(fake.connects) == 1


async def test_the_servers_retry_field_sets_the_reconnection_delay(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeWanderer(retry_ms=2500, end_after_replay=True) as fake:
        lines = fixture_kills(2)
        fake.publish_kill(lines[0])
        async with source(session, fake, clock) as feed:
            stream = feed.kills()
            first = await anext(stream)
            fake.publish_kill(lines[1])  # arrives only on the next connection
            second = await anext(stream)
            await stream.aclose()
            status = feed.status()
    assert ids([first, second]) == line_ids(lines)
    assert clock.sleeps[0] == 2.5
    assert fake.connects[1].last_event_id == "1"
    assert status.errors == {}


async def test_a_clean_end_without_retry_waits_the_default_reconnect(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeWanderer(end_after_replay=True) as fake:
        lines = fixture_kills(2)
        fake.publish_kill(lines[0])
        async with source(session, fake, clock, reconnect=4.0) as feed:
            stream = feed.kills()
            await anext(stream)
            fake.publish_kill(lines[1])
            await anext(stream)
            await stream.aclose()
    assert clock.sleeps[0] == 4.0


@pytest.mark.parametrize(
    ("faults", "kinds", "sleeps"),
    [
        (["500", "503"], {"http_5xx": 2}, [1.0, 2.0]),
        (["429"], {"http_429": 1}, [9.0]),
        (["404"], {"http_4xx": 1}, [1.0]),
        (["json"], {"malformed": 1}, [1.0]),
        (["empty", "empty"], {"closed": 2}, [1.0, 2.0]),
    ],
)
async def test_a_failed_connect_backs_off_then_recovers(
    session: aiohttp.ClientSession,
    fake: FakeWanderer,
    clock: FakeClock,
    faults: list[Any],
    kinds: dict[str, int],
    sleeps: list[float],
) -> None:
    line = fixture_kills(1)[0]
    fake.connect_faults.extend(faults)
    fake.publish_kill(line)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 1)
        status = feed.status()
    assert ids(raws) == [line["killmail_id"]]
    assert status.errors == kinds
    assert clock.sleeps == sleeps
    assert status.connected


async def test_a_silent_stream_is_dropped_at_the_read_timeout_and_reopened(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    line = fixture_kills(1)[0]
    fake.connect_faults.extend(["silent", "hang"])
    fake.publish_kill(line)
    timeouts = HttpTimeouts(connect=0.5, read=0.2)
    started = time.monotonic()
    async with source(session, fake, clock, timeouts=timeouts) as feed:
        raws = await take(feed, 1)
        status = feed.status()
    elapsed = time.monotonic() - started
    assert ids(raws) == [line["killmail_id"]]
    assert status.errors == {"timeout": 2}
    assert 2 * timeouts.read - 0.05 < elapsed < 2 * timeouts.read + 0.8


async def test_a_kill_sent_again_unchanged_is_dropped_but_an_update_passes(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    line, other = fixture_kills(2)
    fake.publish_kill(line)
    fake.publish_update([line, other], preload=True)  # a preload replaying a known kill
    revalued = {**line, "zkb": {**line["zkb"], "totalValue": 123456789.0}}
    fake.publish_kill(revalued)
    async with source(session, fake, clock) as feed:
        raws = await take(feed, 3)
    assert ids(raws) == [line["killmail_id"], other["killmail_id"], line["killmail_id"]]
    zkb = parse_killmail(raws[2].payload).zkb
    assert zkb is not None
    assert zkb.total_value == 123456789.0
    # The repeat was the first of its event: the cursor still sits on that event's last kill.
    assert raws[1].cursor is not None
    assert raws[1].cursor.value == "2"


async def test_an_unreachable_server_is_retried_and_reported(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    async with FakeWanderer() as gone:
        url = gone.url
    feed = WandererSource(session, base_url=url, timeouts=TIMEOUTS, clock=clock.clock,
                          rand=lambda: 0.5)
    async with feed:
        with pytest.raises(TimeoutError):
            await take(feed, 1, limit=0.4)
        status = feed.status()
    assert status.errors["connection"] >= 3
    assert clock.sleeps[:3] == [1.0, 2.0, 4.0]
    assert not status.connected


async def test_kills_needs_async_with_and_only_one_loop_at_a_time(
    session: aiohttp.ClientSession, fake: FakeWanderer, clock: FakeClock
) -> None:
    feed = source(session, fake, clock)
    with pytest.raises(RuntimeError, match="async with"):
        await anext(feed.kills())
    fake.publish_kill(fixture_kills(1)[0])
    async with feed:
        first = feed.kills()
        await anext(first)
        with pytest.raises(RuntimeError, match="already"):
            await anext(feed.kills())
        await first.aclose()
