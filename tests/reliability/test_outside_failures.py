"""Outside failures during a run (issue 9): the feed down for minutes, ESI down, Discord's 429
storms, a channel deleted mid-burst, the store locked or restarted. Each runs Killwatch as
`killwatch run` wires it (`tests.reliability.live`): the real engine, dispatcher, Discord
sender and discord.py client against a fake R2Z2 and a fake Discord, and checks what the fake
Discord shows: every kill a channel should get, once, in feed order, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from engine.store.migrate import upgrade
from tests.fakes.discord import Channel, FakeDiscord, Guild, Limit, Member, Request
from tests.fakes.esi import FakeEsi
from tests.fakes.r2z2 import SEQUENCE_JSON, FakeR2Z2, fixture_kills
from tests.fakes.waiting import until
from tests.reliability.live import (
    FIRST_ID,
    Live,
    Published,
    live,
    live_settings,
    payload_of,
    reissue,
    shown,
)
from tests.store.support import fresh_postgres_database

GUILD, OWNER = 9_100 << 22, 9101
FULL, COMPACT, LINKS, LOG = 9111, 9112, 9113, 9114
CHANNELS = (FULL, COMPACT, LINKS)
# One filter per channel; COMPACT and LINKS between them take every kill, FULL the dear ones.
FEEDS = {
    FULL: ("value >= 100m", "full"),
    COMPACT: ("attackers >= 3", "compact"),
    LINKS: ("attackers < 3", "link"),
}
LINES = fixture_kills()


def _guild() -> Guild:
    return Guild(
        GUILD,
        "Outside failures",
        channels=[Channel(FULL, "full"), Channel(COMPACT, "compact"), Channel(LINKS, "links"),
                  Channel(LOG, "killwatch-log")],
        members=[Member(OWNER, "owner")],
        owner_id=OWNER,
    )


def _discord(**knobs: Any) -> FakeDiscord:
    # Channels take 5 posts a second rather than Discord's 5 per 5 s: the same shape, sooner.
    knobs.setdefault("message_limit", Limit(5, 1.0))
    return FakeDiscord(guilds=[_guild()], **knobs)


async def _subscribe(run: Live) -> None:
    for channel, (filter_text, style) in FEEDS.items():
        await run.subscriptions.create(
            f"channel:{channel}", GUILD, OWNER, text=filter_text, style=style
        )


_ids = iter(range(FIRST_ID, FIRST_ID + 10_000_000, 10_000))


def _kills(count: int, ages: Sequence[timedelta] | None = None, *, seed: int = 0,
           start: int = 0) -> list[dict[str, Any]]:
    """`count` fixture kills (from `start`, cycling) under new ids, each this old now (1 to
    20 minutes by default, oldest first: a feed's order)."""
    rng = random.Random(seed)
    if ages is None:
        ages = sorted((timedelta(seconds=rng.uniform(60, 1200)) for _ in range(count)),
                      reverse=True)
    now = datetime.now(UTC)
    lines = [LINES[(start + n) % len(LINES)] for n in range(count)]
    return reissue(lines, [now - age for age in ages], first_id=next(_ids))


def _check_channels(run: Live, channels: Sequence[int] = CHANNELS) -> None:
    """Each channel shows exactly the kills it should, once each, in feed order."""
    for channel in channels:
        expected = run.expected(f"channel:{channel}")
        assert expected, f"channel {channel} was owed nothing: the test proves nothing there"
        assert run.shown(channel) == expected, f"channel {channel}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"


@contextlib.asynccontextmanager
async def _running(
    url: str, discord: FakeDiscord, *, bot_options: dict[str, Any] | None = None,
    **sections: Any,
) -> AsyncIterator[Live]:
    await upgrade(url)
    settings = live_settings(url, **sections)
    async with discord, FakeR2Z2() as feed, \
            live(settings, url, discord=discord, feed=feed, bot_options=bot_options) as run:
        await _subscribe(run)
        yield run


# --- 1. the feed down for minutes ---

# What R2Z2 answers while it is down: errors, a request that hangs past the timeout, a
# connection cut mid-body, an HTML error page, a 429. Each failure doubles the feed's backoff
# (1 s, 2 s, … 60 s), so these add up to minutes of feed time.
OUTAGE = ("503", "hang", "cut", "500", "invalid", "503", "hang", "429", "cut", "503", "500")


async def test_after_a_feed_outage_it_catches_up_posting_the_recent_kills_in_order_once(
    sqlite_url,
):
    async with _running(sqlite_url, _discord()) as run:
        run.publish(_kills(12, seed=1))
        await run.settled()
        served_before = run.feed.requests_for(run.feed.head + 1)
        slept_before = run.clock.slept

        # Down: the next kill's file and sequence.json fail until the faults are used up;
        # meanwhile the kills of the outage pile up on the feed. The first half are older
        # than the max age (60 min) by the time it recovers, the rest recent.
        run.feed.fault(run.feed.head + 1, *OUTAGE)
        run.feed.fault(SEQUENCE_JSON, "503", "cut", "hang")
        old = [timedelta(minutes=m) for m in range(180, 90, -5)]  # 18 kills, 3 h to 95 min
        recent = [timedelta(minutes=m) for m in range(45, 0, -2)]  # 23 kills, 45 to 1 min
        outage = run.publish(_kills(len(old) + len(recent), old + recent, start=40))
        await run.settled()
        kept = {p.kill_id for p in outage if p.too_old}
        assert len(kept) == len(old)
        assert await run.too_old() == kept  # stored, flagged
        assert {p.kill_id for p in run.published} <= await run.stored()
        outbox = await run.outbox()

    assert not run.feed.faults[outage[0].sequence]  # every fault was met
    assert run.feed.requests_for(outage[0].sequence) > served_before + len(OUTAGE)
    assert run.clock.slept - slept_before >= 120  # minutes of backoff in feed time
    assert run.engine.status().sources[0].errors  # and the source counted the failures
    _check_channels(run)  # the recent ones posted, in order, once; the old ones nowhere
    assert set(outbox) == {"sent"}
    assert outbox["sent"] == sum(len(p.destinations) for p in run.published if not p.too_old)


# --- 2. ESI down for names ---

KELLYL = 580797163  # a victim the fake ESI knows by name, in the kills at LINES[34] and [39]


def _full_posts(run: Live) -> dict[int, str]:
    """Kill id -> its embed (as text) in the full-style channel: one embed per kill."""
    return {
        shown([message])[n]: str(embed)
        for message in run.discord.messages(FULL)
        for n, embed in enumerate(message.embeds)
    }


def _victim(run: Live, published: Published) -> int | None:
    victim: int | None = payload_of(run, published.sequence)["esi"]["victim"].get("character_id")
    return victim


def _everyone_named(esi: FakeEsi) -> None:
    """Real ESI knows every player of a real kill (the fake only a few): name the rest."""
    for line in LINES:
        for party in (line["esi"]["victim"], *line["esi"]["attackers"]):
            for key in ("character_id", "corporation_id", "alliance_id"):
                entity = party.get(key)
                if entity and entity not in esi.names:
                    category = key.removesuffix("_id")
                    esi.names[entity] = (category, f"{category.title()} {entity}")


async def test_with_esi_down_or_hanging_kills_go_out_at_once_with_ids_for_names(sqlite_url):
    async with FakeEsi() as esi:
        _everyone_named(esi)
        sections = {"esi": {"enabled": True, "url": esi.url, "names_timeout_seconds": 0.3,
                            "breaker_cool_down_seconds": 0.2}}
        async with _running(sqlite_url, _discord(), **sections) as run:
            # Down: every ESI request answers 503.
            esi.down = True
            down = run.publish(_kills(15, seed=2, start=150))
            await run.settled()
            # Hanging: names requests are parked, unanswered while these kills go out.
            esi.down = False
            esi.hold("names")
            hanging = run.publish(_kills(15, seed=3, start=170))
            await run.settled()
            parked = [r for r in esi.requests if r.route == "names" and r.status == 0]
            # Back: the first kill of Kellyl's asks ESI (it may miss the budget: the lookup
            # goes on and fills the cache), the second finds the name there.
            esi.release()
            first, second = reissue([LINES[34], LINES[39]], [datetime.now(UTC)] * 2,
                                    first_id=next(_ids))
            run.publish([first])
            names = run.parts.names
            assert names is not None
            await until(lambda: names.known(KELLYL) is not None)
            back = run.publish([second])
            await run.settled()

    assert next(r.status for r in esi.requests if r.route == "names") == 503
    assert parked  # ESI had answered none of these when every kill had gone out
    _check_channels(run)
    posts = _full_posts(run)
    named = [p for p in down + hanging if p.kill_id in posts and _victim(run, p)]
    assert named
    for published in named:
        assert f"#{_victim(run, published)}" in posts[published.kill_id]
    assert all("Kellyl" in posts[p.kill_id] for p in back)


# --- 3. Discord's 429s ---

MESSAGES = "POST /channels/{channel_id}/messages"


def _posts(requests: Sequence[Request], channel: int) -> list[float]:
    """When (on the fake's clock) each post Discord took to `channel` arrived."""
    path = f"/channels/{channel}/messages"
    return [r.at for r in requests if r.route == MESSAGES and r.status == 200 and r.path == path]


async def test_429_storms_hold_back_only_what_they_hit_and_everything_goes_out_once_in_order(
    sqlite_url,
):
    async with _running(sqlite_url, _discord()) as run:
        discord = run.discord
        # One channel's route answers 429 (scope "shared", with Retry-After) until the other
        # channels have had every post of the burst: they must not wait for it.
        run.publish(_kills(30, seed=4))
        others = (FULL, LINKS)

        def others_done() -> bool:
            return all(run.shown(c) == run.expected(f"channel:{c}") for c in others)

        async with asyncio.timeout(30):  # for ever, were they held back with it
            while not others_done():
                discord.storm(1.0, channel_id=COMPACT)
                await asyncio.sleep(0.1)
        await run.settled()
        first_burst = list(discord.requests)
        # Then the whole bot: global 429s for 1.5 s.
        discord.storm(1.5)
        run.publish(_kills(30, seed=5, start=60))
        await run.settled()

    assert discord.rate_limited["shared"] >= 1
    assert discord.rate_limited["global"] >= 1
    # While COMPACT waited out its storm the other channels got all of their posts.
    stormed = _posts(first_burst, COMPACT)
    assert stormed
    for channel in others:
        assert _posts(first_burst, channel)
        assert max(_posts(first_burst, channel)) < min(stormed)
    _check_channels(run)


async def test_a_channel_refused_with_429_again_and_again_loses_none_of_its_posts(sqlite_url):
    # discord.py tries a request 5 times, waiting out each 429, then hands it back; the
    # outbox retries after the Retry-After (1 s). 45 in a row: 9 rounds, past the 8 attempts
    # a post that keeps failing gets, and a rate limit is never the post's fault.
    async with _running(sqlite_url, _discord()) as run:
        run.discord.fail_next(COMPACT, 429, times=45, retry_after=0.01)
        run.publish(_kills(20, seed=6))
        await run.settled()
    assert run.discord.rate_limited["user"] == 45
    _check_channels(run)


# --- 4. a channel deleted mid-burst ---


async def test_a_channel_deleted_mid_burst_is_paused_and_its_server_told_and_the_rest_goes_on(
    sqlite_url,
):
    # Two posts a second per channel: the burst takes a few seconds to post.
    async with _running(sqlite_url, _discord(message_limit=Limit(2, 1.0))) as run:
        await run.guilds.set(GUILD, log_channel_id=LOG)
        run.publish(_kills(60, seed=7))
        await until(lambda: len(run.discord.messages(COMPACT)) >= 1)
        await run.discord.delete_channel(COMPACT)
        await run.settled()
        # Later kills: nothing more is even tried on the deleted channel.
        run.publish(_kills(20, seed=8, start=100))
        await run.settled()
        views = await run.subscriptions.list(f"channel:{COMPACT}")
        outbox = await run.outbox()

    deleted = f"channel:{COMPACT}"
    posted, owed = run.shown(COMPACT), run.expected(deleted)
    assert 0 < len(posted) < len(owed)
    assert posted == owed[: len(posted)]  # in order, once, up to the deletion
    refused = [r for r in run.discord.requests if r.path == f"/channels/{COMPACT}/messages"
               and r.status != 200]
    assert [(r.status, r.code) for r in refused] == [(404, 10003)]  # one refusal, no retries
    assert views
    assert all(v.paused and "unknown channel" in (v.pause_reason or "") for v in views)
    told = run.discord.messages(LOG)
    assert len(told) == 1
    assert f"<#{COMPACT}>" in told[0].content
    assert "paused" in told[0].content
    _check_channels(run, (FULL, LINKS))
    assert "pending" not in outbox
    assert outbox["failed"] == len(owed) - len(posted)  # closed, not owed for ever


# --- 5. SQLite locked by another writer ---


async def test_with_the_sqlite_file_locked_by_another_writer_it_retries_and_loses_nothing(
    tmp_path, sqlite_url, caplog
):
    # One post a second per channel: posts are still being made when the lock is taken.
    async with _running(sqlite_url, _discord(message_limit=Limit(1, 1.0))) as run:
        run.publish(_kills(40, seed=9))
        await until(lambda: any(run.discord.messages(c) for c in CHANNELS))
        # Another process takes the write lock and keeps it past SQLite's busy timeout (5 s):
        # the pipeline's writes and the outbox's "sent" records fail with "database is locked"
        # until it lets go. Meanwhile more kills arrive.
        locker = sqlite3.connect(tmp_path / "killwatch.db", timeout=30, isolation_level=None,
                                 check_same_thread=False)
        try:
            await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
            run.publish(_kills(15, seed=10, start=200))

            def both_failed() -> bool:
                outbox = any("outbox store failed" in r.getMessage() for r in caplog.records)
                return outbox and run.engine.stats.store_retries > 0

            await until(both_failed, within=60)
        finally:
            await asyncio.to_thread(locker.execute, "ROLLBACK")
            locker.close()
        await run.settled()
        outbox = await run.outbox()
        stored = await run.stored()

    assert {p.kill_id for p in run.published} <= stored
    _check_channels(run)
    assert set(outbox) == {"sent"}


# --- 6. PostgreSQL restarted ---


def _posted(run: Live) -> int:
    return sum(len(run.shown(channel)) for channel in CHANNELS)


async def _terminate_others(url: URL) -> int:
    """What a server restart does to Killwatch's connections: every one cut."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            cut = await connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))
            return len(cut.all())
    finally:
        await engine.dispose()


async def test_with_postgresql_restarting_mid_burst_it_reconnects_and_loses_nothing():
    async with fresh_postgres_database() as url:
        plain = url.render_as_string(hide_password=False)
        async with _running(plain, _discord(message_limit=Limit(2, 1.0))) as run:
            run.publish(_kills(40, seed=11))
            cuts = []
            # Four restarts, at moments spread over the posting of the burst; kills keep
            # arriving after each.
            for number, posts in enumerate((1, 15, 30, 45)):
                await until(lambda posts=posts: _posted(run) >= posts, within=30)
                cuts.append(await _terminate_others(url))
                run.publish(_kills(10, seed=12 + number, start=300 + 10 * number))
            await run.settled()
            outbox = await run.outbox()
            stored = await run.stored()

    assert all(cuts), cuts  # each time, Killwatch's connections were there to cut
    assert {p.kill_id for p in run.published} <= stored
    _check_channels(run)
    assert set(outbox) == {"sent"}
