"""The weekly digest against the fake Discord: opting in and out with /killwatch digest, one
post per opted-in channel and week, a deleted channel dropped, a paused server skipped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.digest import DigestFailed, DigestPoster
from bot.discord_bot import BotServices, KillwatchBot
from bot.render.digest import DIGEST_TITLE
from bot.sender import DiscordSender
from engine.digests import DigestChannel, DigestChannels, WeeklySlot
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.filters import Matcher
from engine.guilds import GuildSettings
from engine.history import History
from engine.queries import Queries
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.subscriptions import Subscriptions
from tests.bot.cogs_harness import (
    ADMIN,
    BOB,
    CAROL,
    GENERAL,
    GUILD,
    GUILD_ID,
    KILLS,
    NAMES,
    OTHER_CHANNEL,
    OTHER_GUILD,
    OTHER_GUILD_ID,
    READ_ONLY,
    Entities,
    fixture_kills,
    said,
    store_kills,
    text_of,
    universe,
)
from tests.fakes.discord import FakeDiscord, Message
from tests.fakes.discord_client import running_bot

MONDAY_NOON = datetime(2026, 1, 26, 12, 0, tzinfo=UTC)
SLOT = WeeklySlot(0, 12)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Digest:
    fake: FakeDiscord
    digests: DigestChannels
    guilds: GuildSettings
    poster: DigestPoster
    clock: Clock


@contextlib.asynccontextmanager
async def digest_bot(tmp_path: Path) -> AsyncIterator[Digest]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    world = universe()
    distances = Distances(world)
    enricher = Enricher(world)
    clock = Clock(MONDAY_NOON + timedelta(minutes=1))
    async with Database(url) as database, FakeDiscord(guilds=[GUILD, OTHER_GUILD]) as fake:
        # Twelve real kills of the last days: the digest shows the ten most valuable.
        await store_kills(database, enricher, [
            (kill, MONDAY_NOON - timedelta(hours=6 * n + 1))
            for n, kill in enumerate(fixture_kills()[:12])
        ])
        subscriptions = Subscriptions(
            database, Matcher(distances), world, ranges=distances, entities=Entities(),
            names=NAMES.get,
        )
        guilds = GuildSettings(database, subscriptions)
        digests = DigestChannels(database)
        queries = Queries(database, enricher, clock=clock)
        services = BotServices(
            subscriptions, world, History(database, enricher), guilds=guilds, queries=queries,
            digests=digests, digest_slot=SLOT,
        )
        bot = KillwatchBot(services, guild_ready_timeout=0.1)
        async with running_bot(bot, fake), DiscordSender(bot, lambda _: None) as sender:

            async def paused(guild_id: int) -> bool:
                return (await guilds.get(guild_id)).paused

            poster = DigestPoster(
                digests, lambda: queries.top("week", limit=10), sender, SLOT,
                paused=paused, clock=clock,
            )
            yield Digest(fake, digests, guilds, poster, clock)


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Digest]:
    async with digest_bot(tmp_path) as running:
        yield running


async def digest(kw: Digest, state: str, *, user_id: int = ADMIN, channel_id: int = KILLS,
                 **options: Any) -> Message:
    reply = await said(kw.fake, f"killwatch digest {state}", user_id=user_id,
                       channel_id=channel_id, options=options)
    assert reply.ephemeral
    return reply


def digests_in(fake: FakeDiscord, channel_id: int) -> list[Message]:
    return [m for m in fake.messages(channel_id)
            if not m.ephemeral and any(e.get("title") == DIGEST_TITLE for e in m.embeds)]


async def test_managers_opt_channels_in_and_out_and_members_cannot(kw: Digest) -> None:
    on = await digest(kw, "on")
    assert f"<#{KILLS}> will get the top kills of the week, every Monday at 12:00 UTC" in (
        on.content or ""
    )
    again = await digest(kw, "on")
    assert "already gets" in (again.content or "")
    elsewhere = await digest(kw, "on", channel=GENERAL)
    assert f"<#{GENERAL}> will get" in (elsewhere.content or "")
    off = await digest(kw, "off", channel_id=GENERAL)
    assert f"<#{GENERAL}> will no longer get" in (off.content or "")
    refused = await digest(kw, "on", user_id=BOB, channel_id=GENERAL)
    assert "Manage Server" in (refused.content or "")
    locked = await digest(kw, "on", channel=READ_ONLY)
    assert "**Send Messages**" in (locked.content or "")

    assert await kw.digests.opted_in() == [DigestChannel(KILLS, GUILD_ID)]


async def test_opted_in_channels_get_one_digest_a_week_others_none_and_a_deleted_one_is_dropped(
    kw: Digest,
) -> None:
    await digest(kw, "on")
    await digest(kw, "on", user_id=CAROL, channel_id=OTHER_CHANNEL)
    await kw.fake.delete_channel(OTHER_CHANNEL)

    report = await kw.poster.run()

    assert (report.week, report.posted, report.gone) == ("2026-W05", (KILLS,), (OTHER_CHANNEL,))
    [posted] = digests_in(kw.fake, KILLS)
    assert digests_in(kw.fake, GENERAL) == []
    [embed] = posted.embeds
    assert embed["description"].startswith("**1. ")
    assert embed["description"].count("[zKillboard](https://zkillboard.com/kill/") == 10
    assert "2026-01-19 12:01 to 2026-01-26 12:01 UTC" in text_of(posted)
    assert await kw.digests.opted_in() == [DigestChannel(KILLS, GUILD_ID)]

    # A restart, or a catch-up run, within the same week posts nothing again.
    kw.clock.now += timedelta(days=3)
    assert (await kw.poster.run()).posted == ()
    assert len(digests_in(kw.fake, KILLS)) == 1
    # The next week's slot has passed: one more.
    kw.clock.now = MONDAY_NOON + timedelta(days=7)
    assert (await kw.poster.run()).posted == (KILLS,)
    assert len(digests_in(kw.fake, KILLS)) == 2


async def test_the_most_valuable_kill_comes_first_and_names_are_escaped(kw: Digest) -> None:
    await digest(kw, "on")
    await kw.poster.run()
    [posted] = digests_in(kw.fake, KILLS)
    entries = posted.embeds[0]["description"].split("\n**")
    assert len(entries) == 10
    assert all(" ISK**" in entry or "value unknown" in entry for entry in entries)
    assert posted.pings == frozenset()


async def test_a_paused_server_waits_and_a_channel_failing_for_now_fails_the_run(
    kw: Digest,
) -> None:
    await digest(kw, "on")
    await digest(kw, "on", user_id=CAROL, channel_id=OTHER_CHANNEL)
    await kw.guilds.pause(GUILD_ID, "maintenance")
    kw.fake.fail_next(OTHER_CHANNEL, 400)

    with pytest.raises(DigestFailed, match=f"channel {OTHER_CHANNEL}"):
        await kw.poster.run()
    assert digests_in(kw.fake, KILLS) == []
    assert await kw.digests.due("2026-W05") == [
        DigestChannel(KILLS, GUILD_ID), DigestChannel(OTHER_CHANNEL, OTHER_GUILD_ID)
    ]

    await kw.guilds.resume(GUILD_ID)
    report = await kw.poster.run()
    assert report.posted == (KILLS, OTHER_CHANNEL)
