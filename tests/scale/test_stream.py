"""The kill stream on a real Redis: what goes in comes out, per group, trimmed by length and age."""

from __future__ import annotations

from datetime import timedelta

from engine.scale.stream import (
    GroupBacklog,
    decode_entry,
    encode_kill,
    entry_time,
    shown_url,
)
from tests.scale.support import enriched_kills, kill_stream, redis_client


async def test_every_group_reads_every_kill_once_in_order():
    kills = enriched_kills(20)
    async with kill_stream() as stream:
        for group in ("bot:0-0of2", "bot:1-1of2"):
            assert await stream.ensure_group(group) is True
        assert await stream.ensure_group("bot:0-0of2") is False  # already there: kept as is
        ids = await stream.publish(kills[:12])
        ids += await stream.publish(kills[12:])
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
        for group in ("bot:0-0of2", "bot:1-1of2"):
            first = await stream.read(group, "bot", count=15)
            rest = await stream.read(group, "bot", count=15, block=0.01)
            assert [e.kill for e in first + rest] == kills  # msgpack round trip, exact
            assert [e.id for e in first + rest] == ids
            assert await stream.read(group, "bot", block=0.01) == []
            assert await stream.pending(group) == 20  # given out, not acknowledged


async def test_unacknowledged_entries_are_given_again_from_the_pending_list():
    kills = enriched_kills(5)
    async with kill_stream() as stream:
        await stream.ensure_group("g")
        await stream.publish(kills)
        given = await stream.read("g", "bot")
        await stream.ack("g", [given[0].id, given[1].id])
        again = await stream.read("g", "bot", after="0")
        assert [e.kill for e in again] == kills[2:]
        assert await stream.read("g", "bot", after=again[-1].id) == []
        assert await stream.pending("g") == 3


async def test_a_groups_backlog_is_what_it_was_not_given_and_did_not_acknowledge():
    kills = enriched_kills(5)
    async with kill_stream() as stream:
        assert await stream.backlog("g") is None  # neither the stream nor the group yet
        await stream.ensure_group("g")
        await stream.publish(kills)
        assert await stream.backlog("g") == GroupBacklog(pending=0, lag=5)
        given = await stream.read("g", "bot", count=3)
        await stream.ack("g", [given[0].id])
        assert await stream.backlog("g") == GroupBacklog(pending=2, lag=2)
        assert await stream.backlog("another") is None


async def test_the_stream_is_trimmed_to_its_length():
    kills = enriched_kills(30)
    async with kill_stream(maxlen=10, approximate=False) as stream:
        ids = await stream.publish(kills)
        assert await stream.length() == 10
        await stream.ensure_group("late")
        kept = await stream.read("late", "bot", count=100)
        assert [e.id for e in kept] == ids[-10:]


async def test_entries_older_than_the_max_age_are_trimmed():
    kills = enriched_kills(3)
    five_minutes = timedelta(minutes=5)
    async with (
        kill_stream(maxlen=None, max_age=five_minutes, approximate=False) as stream,
        redis_client() as client,
    ):
        # An entry added (by id) an hour ago, as if published then.
        now = await client.time()
        millis = now[0] * 1000 - 3_600_000
        await client.xadd(stream.name, encode_kill(kills[0]), id=f"{millis}-0")
        assert await stream.length() == 1
        ids = await stream.publish(kills[1:])
        assert await stream.length() == 2
        assert [i.decode() for i, _ in await client.xrange(stream.name)] == ids


def test_an_entry_nobody_can_read_says_why():
    kill = enriched_kills(1)[0]
    good = {k.encode(): v for k, v in encode_kill(kill).items()}
    assert decode_entry("1-0", good).kill == kill
    assert decode_entry("1-0", {b"v": b"1", b"kill": b"\x93garbage"}).problem == "malformed"
    assert decode_entry("1-0", {b"v": b"9", b"kill": good[b"kill"]}).problem == "malformed"
    assert decode_entry("1-0", {b"hello": b"world"}).problem == "malformed"
    assert decode_entry("1-0", {}).problem == "trimmed"
    assert decode_entry("1-0", None).problem == "trimmed"
    assert entry_time("1700000000123-4").timestamp() == 1700000000.123


def test_a_redis_url_is_shown_without_its_password():
    assert shown_url("redis://:s3cret@cache.example:6379/0") == "redis://cache.example:6379/0"
    assert shown_url("rediss://user:s3cret@h/1") == "rediss://h/1"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert "s3cret" not in shown_url("s3cret")
