"""Kills from a replay, through the engine, the matcher and the outbox's dispatcher, posted by the
Discord sender with a real discord.py client to a fake Discord: each to the right channels and
DMs, once, with the right embed; gone destinations stop costing requests; a restart after a
lost answer posts each kill once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.posts import PostOptions
from bot.render import kill_embed, kill_link
from bot.sender import DiscordSender
from engine.delivery import Dispatcher
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Subscription, parse
from engine.model import EnrichedKill
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.outbox import OutboxRepository
from tests.bot.sender_support import (
    ALICE,
    BOB,
    DOOMED,
    GUILD,
    INTEL,
    KILLS,
    LOCKED,
    MESSAGES,
    NOW,
    make_client,
    nonces,
    shown,
)
from tests.fakes.discord import FakeDiscord, Limit
from tests.fakes.discord_client import running_bot

# id: (destination, filter, options)
SUBSCRIPTIONS = {
    1: (f"channel:{KILLS}", "value >= 10b", PostOptions("full")),
    2: (f"channel:{KILLS}", "attackers >= 50", PostOptions("link")),
    3: (f"channel:{INTEL}", "space = wormhole", PostOptions("compact")),
    4: (f"user:{ALICE}", "space = wormhole", PostOptions("full")),
    5: (f"channel:{LOCKED}", "space = highsec", PostOptions("compact")),
    6: (f"channel:{DOOMED}", "value >= 1b", PostOptions("full")),
    7: (f"user:{BOB}", "value >= 1b", PostOptions("link")),
}
OPTIONS = {sid: options for sid, (_, _, options) in SUBSCRIPTIONS.items()}
GONE = {f"channel:{LOCKED}", f"channel:{DOOMED}", f"user:{BOB}"}


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="module")
def enricher(universe: Universe) -> Enricher:
    return Enricher(universe)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path}/kw.db"
    await upgrade(url)
    async with Database(url) as db:
        yield db


@pytest.fixture
async def matcher(universe: Universe) -> Matcher:
    found = Matcher(Distances(universe))
    for sid, (destination, text, _) in SUBSCRIPTIONS.items():
        found.add(Subscription(sid, destination, await parse(text, universe)))
    return found


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], message_limit=Limit(5, 0.5)) as server:
        await server.delete_channel(DOOMED)
        server.block_dms(BOB)
        yield server


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    async with running_bot(make_client(), fake) as running:
        yield running


class Seen:
    """A sink keeping every kill the engine delivered, to work out who should get what."""

    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


async def run(database, enricher, matcher, data_dir, sender, *, on_gone=None, wait=True,
              batch=10):
    dispatcher = Dispatcher(database, enricher, sender, on_gone=on_gone, max_age=None,
                            batch=batch)
    seen = Seen()
    engine = Engine(
        sources=[ReplaySource(data_dir / "killmails.jsonl")], enricher=enricher,
        database=database, sinks=[seen], matcher=matcher, dispatcher=dispatcher,
        max_age=None, drain_timeout=0.5,
    )
    async with engine:
        await engine.wait()
        if wait:
            await asyncio.wait_for(dispatcher.idle(), 20)
    return dispatcher, seen


def wanted(kills: list[EnrichedKill], matcher: Matcher) -> dict[str, list[tuple[int, ...]]]:
    """Per destination, in order: each kill's matching subscriptions."""
    found: dict[str, list[tuple[int, ...]]] = defaultdict(list)
    for kill in kills:
        for match in matcher.match(kill):
            found[match.destination].append((kill.id, *match.subscription_ids))
    return dict(found)


def expected_look(kill: EnrichedKill, subscriptions: tuple[int, ...]) -> object:
    styles = {OPTIONS[s].style for s in subscriptions}
    if "full" in styles:
        return {"type": "rich", **kill_embed(kill, style="full", perspective=None,
                                             now=NOW).to_dict()}
    if "compact" in styles:
        return {"type": "rich", **kill_embed(kill, style="compact", perspective=None,
                                             now=NOW).to_dict()}
    return kill_link(kill)


def looks(fake: FakeDiscord, channel_id: int) -> list[object]:
    """Every kill shown in a channel, in order: its embed, or its link."""
    found: list[object] = []
    for message in fake.messages(channel_id):
        found.extend(message.embeds or message.content.split("\n"))
    return found


async def test_each_kill_reaches_the_right_channels_and_dms_once_with_its_embed(
    database, enricher, matcher, data_dir, fake, client
):
    told: list[tuple[str, str]] = []

    async def gone(destination: str, reason: str) -> None:
        told.append((destination, reason))

    sender = DiscordSender(client, OPTIONS.get, now=lambda: NOW, battle_threshold=10_000)
    async with sender:
        dispatcher, seen = await run(database, enricher, matcher, data_dir, sender, on_gone=gone)
        status = sender.status()

    owed = wanted(seen.kills, matcher)
    assert set(owed) == {f"channel:{KILLS}", f"channel:{INTEL}", f"user:{ALICE}", *GONE}
    kills = {kill.id: kill for kill in seen.kills}
    targets = {f"channel:{KILLS}": KILLS, f"channel:{INTEL}": INTEL,
               f"user:{ALICE}": fake.dm_channel_id(ALICE)}
    for destination, channel_id in targets.items():
        assert channel_id is not None
        expected = [expected_look(kills[kid], tuple(subs)) for kid, *subs in owed[destination]]
        assert looks(fake, channel_id) == expected, destination
        ids = [kid for m in fake.messages(channel_id) for kid in shown(m)]
        assert ids == [kid for kid, *_ in owed[destination]]  # once each, in order
    assert len(fake.messages(KILLS)) < len(owed[f"channel:{KILLS}"])  # packed

    # Each gone destination cost one refused request, was reported once, and paused.
    assert sorted(d for d, _ in told) == sorted(GONE)
    assert status.gone == dict(told)
    dm_bob = fake.dm_channel_id(BOB)
    for channel_id in (LOCKED, DOOMED, dm_bob):
        assert len([r for r in fake.requests_to("POST", MESSAGES)
                    if r.path == f"/channels/{channel_id}/messages"]) == 1
    assert fake.invalid_requests == 2  # two 403s; the deleted channel's 404 does not count

    # Nonce on every send; nothing left owed; no 429.
    assert all(n and len(n) <= 25 for n in nonces(fake))
    assert len(set(nonces(fake))) == len(nonces(fake))
    assert sum(fake.rate_limited.values()) == 0
    async with database.session() as session:
        counts = await OutboxRepository(session).counts()
    assert "pending" not in counts
    assert counts["sent"] == dispatcher.stats.sent == status.sent


async def test_a_restart_after_a_lost_answer_posts_each_kill_once(
    database, enricher, matcher, data_dir, fake, client
):
    fake.drop_next_response(KILLS)
    # The first run asks to retry much later than it lives: the rows stay owed. It posts one
    # kill per message; the next run packs several, so the message Discord returns for the
    # known nonce shows fewer kills than were sent with it.
    async with DiscordSender(client, OPTIONS.get, now=lambda: NOW, retry_delay=60,
                             battle_threshold=10_000) as first:
        _, replayed = await run(database, enricher, matcher, data_dir, first, wait=False,
                                batch=1)
    async with database.session() as session:
        assert (await OutboxRepository(session).counts())["pending"] > 0
    [made] = fake.messages(KILLS)  # made, but the bot never heard
    assert len(shown(made)) == 1

    async with DiscordSender(client, OPTIONS.get, now=lambda: NOW,
                             battle_threshold=10_000) as second:
        _, seen = await run(database, enricher, matcher, data_dir, second)

    assert seen.kills == []  # nothing new: only what was owed went out
    ids = [kid for m in fake.messages(KILLS) for kid in shown(m)]
    owed = wanted(replayed.kills, matcher)[f"channel:{KILLS}"]
    assert ids == [kid for kid, *_ in owed]  # all of them, once, in order
    # Sends cut short by the first run's shutdown were made too: their nonces kept them single.
    assert fake.nonce_dedupes >= 1
    for channel_id in (INTEL, fake.dm_channel_id(ALICE)):
        posted = [kid for m in fake.messages(channel_id) for kid in shown(m)]
        assert len(posted) == len(set(posted)) > 0
    async with database.session() as session:
        assert "pending" not in await OutboxRepository(session).counts()
