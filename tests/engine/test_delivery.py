"""Subscriptions to posts: the outbox written with each kill and the dispatcher working it off."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from engine.delivery import Dispatcher
from engine.dispatch.sender import Delivery, Failed, Gone, Outcome, Retry, Sent
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Subscription, parse
from engine.history import History
from engine.model import EnrichedKill
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.outbox import OutboxRepository
from tests.fakes.waiting import until

FILTERS = {
    1: ("channel:1", "space = nullsec"),
    2: ("channel:2", "value >= 1b"),
    3: ("channel:1", "attackers >= 10"),
    4: ("user:7", "space = wormhole"),
    5: ("channel:dead", "space = highsec"),
}


class ScriptedSender:
    """Posts everything unless told otherwise, and remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.posted: dict[str, list[int]] = defaultdict(list)
        self.subscriptions: dict[tuple[str, int], tuple[int, ...]] = {}
        self.gone: set[str] = set()
        self.retries_left: dict[str, int] = {}
        self.refuse: set[int] = set()  # kill ids that can never be posted
        self.hold = asyncio.Event()
        self.hold.set()
        self._message = 1000

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        await self.hold.wait()
        self.calls.append((destination, [d.kill.id for d in deliveries]))
        ids = tuple(d.entry_id for d in deliveries)
        if destination in self.gone:
            return [Gone(ids, "unknown channel (10003)")]
        if self.retries_left.get(destination, 0) > 0:
            self.retries_left[destination] -= 1
            return [Retry(ids, 0.01, "429 rate limited")]
        outcomes: list[Outcome] = []
        for delivery in deliveries:
            if delivery.kill.id in self.refuse:
                outcomes.append(Failed((delivery.entry_id,), "embed too large"))
                continue
            self._message += 1
            self.posted[destination].append(delivery.kill.id)
            self.subscriptions[(destination, delivery.kill.id)] = delivery.subscription_ids
            outcomes.append(Sent((delivery.entry_id,), self._message))
        return outcomes


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="module")
def enricher(universe: Universe) -> Enricher:
    return Enricher(universe)


@pytest.fixture
async def matcher(universe: Universe) -> Matcher:
    found = Matcher(Distances(universe))
    for sid, (destination, text) in FILTERS.items():
        found.add(Subscription(sid, destination, await parse(text, universe)))
    return found


def expected(kills: list[EnrichedKill], matcher: Matcher) -> dict[str, list[int]]:
    """What every destination should get, in order, by checking every filter on every kill."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for kill in kills:
        for match in matcher.match(kill):
            wanted[match.destination].append(kill.id)
    return dict(wanted)


class Everything:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


async def run(database, enricher, matcher, sender, data_dir, *, gone=None, sources=None,
              wait=True, **options) -> tuple[Engine, Dispatcher, Everything]:
    dispatcher = Dispatcher(database, enricher, sender, on_gone=gone,
                            max_age=options.pop("resume_max_age", None), **options)
    everything = Everything()
    engine = Engine(
        sources=[ReplaySource(data_dir / "killmails.jsonl")] if sources is None else sources,
        enricher=enricher, database=database, sinks=[everything], matcher=matcher,
        dispatcher=dispatcher, max_age=None, drain_timeout=0.5,
    )
    async with engine:
        await engine.wait()
        if wait:
            await asyncio.wait_for(dispatcher.idle(), 10)
    return engine, dispatcher, everything


async def test_each_destination_gets_each_matching_kill_once_in_order(
    database, enricher, matcher, data_dir
):
    sender = ScriptedSender()
    sender.gone.add("channel:dead")
    engine, dispatcher, everything = await run(database, enricher, matcher, sender, data_dir)
    wanted = expected(everything.kills, matcher)
    assert set(wanted) == {"channel:1", "channel:2", "user:7", "channel:dead"}
    del wanted["channel:dead"]
    assert dict(sender.posted) == wanted
    assert engine.stats.owed == sum(len(ids) for ids in wanted.values()) + dispatcher.stats.failed
    async with database.session() as session:
        counts = await OutboxRepository(session).counts()
    assert counts["sent"] == sum(len(ids) for ids in wanted.values())
    assert "pending" not in counts


async def test_a_kill_two_subscriptions_of_a_channel_want_is_posted_once_naming_both(
    database, enricher, matcher, data_dir
):
    sender = ScriptedSender()
    await run(database, enricher, matcher, sender, data_dir)
    both = [kill for (dest, kill), subs in sender.subscriptions.items()
            if dest == "channel:1" and subs == (1, 3)]
    assert both  # big nullsec fights match "nullsec" and "10+ attackers"
    posted = sender.posted["channel:1"]
    assert len(posted) == len(set(posted))


async def test_a_destination_that_is_gone_is_reported_once_and_stops_costing_requests(
    database, enricher, matcher, data_dir
):
    sender = ScriptedSender()
    sender.gone.add("channel:dead")
    reported: list[tuple[str, str]] = []

    async def gone(destination: str, reason: str) -> None:
        reported.append((destination, reason))

    _, dispatcher, _ = await run(database, enricher, matcher, sender, data_dir, gone=gone)
    assert reported == [("channel:dead", "unknown channel (10003)")]
    assert [call for call in sender.calls if call[0] == "channel:dead"][1:] == []
    async with database.session() as session:
        repository = OutboxRepository(session)
        counts = await repository.counts()
    assert counts["failed"] == dispatcher.stats.failed > 0
    assert sender.posted["channel:1"]  # the others went on


async def test_retries_keep_the_order_and_post_once(database, enricher, matcher, data_dir):
    sender = ScriptedSender()
    sender.retries_left["channel:1"] = 3
    _, dispatcher, everything = await run(database, enricher, matcher, sender, data_dir)
    assert sender.posted["channel:1"] == expected(everything.kills, matcher)["channel:1"]
    assert dispatcher.stats.retries >= 3


async def test_a_post_that_cannot_be_made_fails_alone(database, enricher, matcher, data_dir):
    sender = ScriptedSender()
    first_run = ScriptedSender()
    await run(database, enricher, matcher, first_run, data_dir)
    refused = first_run.posted["channel:2"][1]
    sender.refuse.add(refused)
    # A fresh store, so the same kills are owed again.
    url = str(database.engine.url).replace("kw.db", "kw2.db")
    await upgrade(url)
    async with Database(url) as other:
        _, dispatcher, _ = await run(other, enricher, matcher, sender, data_dir)
    assert refused not in sender.posted["channel:2"]
    assert len(sender.posted["channel:2"]) == len(first_run.posted["channel:2"]) - 1
    owed_to = sum(refused in posted for posted in first_run.posted.values())
    assert dispatcher.stats.failed == owed_to


async def test_posts_owed_at_shutdown_go_out_once_after_a_restart(
    database, enricher, matcher, data_dir
):
    stuck = ScriptedSender()
    stuck.hold.clear()  # Discord is unreachable: nothing gets posted this run
    await run(database, enricher, matcher, stuck, data_dir, wait=False)
    async with database.session() as session:
        pending = (await OutboxRepository(session).counts())["pending"]
    assert pending > 0

    sender = ScriptedSender()
    engine, dispatcher, _ = await run(database, enricher, matcher, sender, data_dir)
    assert engine.stats.owed == 0  # the replay's kills were known: nothing new owed
    assert dispatcher.stats.sent == pending
    for posted in sender.posted.values():
        assert len(posted) == len(set(posted))
    async with database.session() as session:
        assert "pending" not in await OutboxRepository(session).counts()


async def test_posts_that_grew_too_old_while_down_are_skipped_not_posted_late(
    database, enricher, matcher, data_dir
):
    stuck = ScriptedSender()
    stuck.hold.clear()
    await run(database, enricher, matcher, stuck, data_dir, wait=False)
    sender = ScriptedSender()
    _, dispatcher, _ = await run(
        database, enricher, matcher, sender, data_dir, resume_max_age=timedelta(hours=1)
    )
    assert sender.calls == []  # the recorded kills are years old
    assert dispatcher.stats.skipped > 0
    async with database.session() as session:
        counts = await OutboxRepository(session).counts()
    assert counts == {"skipped": dispatcher.stats.skipped}


async def test_many_channels_are_served_at_once(database, enricher, universe, data_dir):
    busy = Matcher(Distances(universe))
    for n in range(12):
        busy.add(Subscription(n + 1, f"channel:{n}", await parse("value >= 1b", universe)))
    in_flight = 0
    most = 0

    class SlowSender(ScriptedSender):
        async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1
            return await super().send(destination, deliveries)

    sender = SlowSender()
    await run(database, enricher, busy, sender, data_dir, workers=8)
    await until(lambda: len(sender.posted) == 12)
    assert most == 8
    counts = {len(posted) for posted in sender.posted.values()}
    assert len(counts) == 1  # every channel got every kill


async def test_history_gives_back_the_stored_kills_enriched(database, enricher, data_dir):
    _, _, everything = await run(database, enricher, None, ScriptedSender(), data_dir)
    kills = await History(database, enricher).since(datetime(2020, 1, 1, tzinfo=UTC))
    recent = sorted((k for k in everything.kills if k.killmail.time.year >= 2020),
                    key=lambda k: (k.killmail.time, k.id))
    assert [k.id for k in kills] == [k.id for k in recent]
    assert kills[0] == recent[0]


class RateLimitedSender(ScriptedSender):
    """Answers the first `times` sends to channel:1 with Discord's rate limit."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.limited = times

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        if destination == "channel:1" and self.limited > 0:
            self.limited -= 1
            return [Retry(tuple(d.entry_id for d in deliveries), 0.001, "429", counts=False)]
        return await super().send(destination, deliveries)


async def test_rate_limited_retries_use_up_no_attempt_so_a_long_storm_loses_nothing(
    database, enricher, matcher, data_dir
):
    sender = RateLimitedSender(times=20)
    _, dispatcher, everything = await run(database, enricher, matcher, sender, data_dir,
                                          max_attempts=3)
    assert sender.limited == 0
    assert sender.posted["channel:1"] == expected(everything.kills, matcher)["channel:1"]
    assert dispatcher.stats.failed == 0
