"""The engine on a live feed (the fake R2Z2): resume, dedupe across feeds, updates, max age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import EnrichedKill, parse_killmail
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.sources.base import Source
from engine.sources.http import HttpTimeouts
from engine.sources.r2z2 import R2Z2Source, cursor_key
from engine.status import STATUS_KEY, decode_status
from engine.store.database import Database
from engine.store.repositories import KillmailRepository, StateRepository
from tests.fakes.r2z2 import FakeR2Z2, fixture_kills
from tests.fakes.waiting import until

KILLS = fixture_kills(80)


class RecordingSink:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)

    @property
    def ids(self) -> list[int]:
        return [kill.id for kill in self.kills]


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(Universe.load())


@pytest.fixture
async def fake() -> AsyncIterator[FakeR2Z2]:
    async with FakeR2Z2() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def r2z2(session: aiohttp.ClientSession, fake: FakeR2Z2, **options: Any) -> R2Z2Source:
    return R2Z2Source(
        session,
        base_url=fake.url,
        user_agent="Killwatch/test",
        timeouts=HttpTimeouts(connect=0.5, read=0.5),
        requests_per_second=None,
        poll_wait=0.02,
        **options,
    )


async def run_until(
    sources: list[Source],
    enricher: Enricher,
    database: Database,
    sink: RecordingSink,
    done: Any,
    **tuning: Any,
) -> Engine:
    tuning.setdefault("max_age", None)  # the recorded kills are years old
    engine = Engine(
        sources=sources, enricher=enricher, database=database, sinks=[sink], **tuning
    )
    async with engine:
        await until(lambda: done(engine))
        engine.stop()
    return engine


async def saved(database: Database, key: str) -> str | None:
    async with database.session() as db_session:
        return await StateRepository(db_session).get(key)


def ids_of(lines: list[dict[str, Any]]) -> list[int]:
    return [line["killmail_id"] for line in lines]


async def test_a_restart_resumes_at_the_next_sequence_and_posts_nothing_twice(
    enricher, database, fake, session
):
    published = [fake.publish(line) for line in KILLS[:30]]
    first_run = RecordingSink()
    await run_until(
        [r2z2(session, fake, start_after=published[0] - 1)], enricher, database, first_run,
        lambda engine: engine.stats.stored >= 30, batch_size=7,
    )
    assert first_run.ids == ids_of(KILLS[:30])
    cursor = await saved(database, cursor_key("r2z2"))
    assert cursor == str(published[-1])

    later = [fake.publish(line) for line in KILLS[30:40]]
    requests_before = len(fake.requests)
    second_run = RecordingSink()
    await run_until(
        [r2z2(session, fake, start_after=int(cursor))], enricher, database, second_run,
        lambda engine: engine.stats.stored >= 10,
    )
    assert second_run.ids == ids_of(KILLS[30:40])
    asked = {r.path for r in fake.requests[requests_before:]}
    assert not any(path.endswith(f"/{s}.json") for s in published for path in asked)
    assert await saved(database, cursor_key("r2z2")) == str(later[-1])


async def test_two_feeds_with_the_same_kills_post_each_kill_once(
    enricher, database, fake, session
):
    published = [fake.publish(line) for line in KILLS[:25]]
    sink = RecordingSink()
    engine = await run_until(
        [
            r2z2(session, fake, name="primary", start_after=published[0] - 1),
            r2z2(session, fake, name="mirror", start_after=published[0] - 1),
        ],
        enricher, database, sink,
        lambda engine: engine.stats.stored + engine.stats.duplicates >= 50,
    )
    assert sorted(sink.ids) == sorted(ids_of(KILLS[:25]))
    assert engine.stats.duplicates == 25
    assert await saved(database, cursor_key("primary")) == str(published[-1])
    assert await saved(database, cursor_key("mirror")) == str(published[-1])


async def test_a_republished_kill_updates_the_stored_kill_and_is_not_posted_again(
    enricher, database, fake, session
):
    original = KILLS[0]
    first = fake.publish(original)
    fake.publish(KILLS[1])
    changed = {
        **original,
        "zkb": {**original["zkb"], "totalValue": 4_321_000.0, "labels": ["ganked", "pvp"]},
    }
    fake.publish(changed, sequence_updated=first)
    sink = RecordingSink()
    engine = await run_until(
        [r2z2(session, fake, start_after=first - 1)], enricher, database, sink,
        lambda engine: engine.stats.updated >= 1,
    )
    assert sink.ids == ids_of(KILLS[:2])
    async with database.session() as db_session:
        stored = await KillmailRepository(db_session).get(original["killmail_id"])
    assert stored is not None
    assert stored.value == 4_321_000.0
    assert stored.labels == ("ganked", "pvp")
    assert engine.stats.duplicates == 1


async def test_kills_older_than_the_max_age_are_stored_but_not_posted(
    enricher, database, fake, session
):
    lines = sorted(KILLS[:20], key=lambda line: parse_killmail(line).time)
    times = [parse_killmail(line).time for line in lines]
    now = times[-1] + timedelta(minutes=30)
    fresh = [line for line, t in zip(lines, times, strict=True) if now - t <= timedelta(hours=1)]
    published = [fake.publish(line) for line in lines]
    sink = RecordingSink()
    engine = await run_until(
        [r2z2(session, fake, start_after=published[0] - 1)], enricher, database, sink,
        lambda engine: engine.stats.stored >= 20,
        max_age=timedelta(hours=1), clock=lambda: now,
    )
    assert fresh  # the newest kill at least
    assert sink.ids == ids_of(fresh)
    assert engine.stats.too_old == 20 - len(fresh)
    async with database.session() as db_session:
        repository = KillmailRepository(db_session)
        assert await repository.count() == 20
        oldest = await repository.get(lines[0]["killmail_id"])
    assert oldest is not None
    assert oldest.too_old
    assert oldest.source == "r2z2"
    assert oldest.sequence_id == published[0]


async def test_a_replay_is_history_on_purpose_so_the_max_age_does_not_hold_it_back(
    enricher, database, data_dir
):
    sink = RecordingSink()
    engine = Engine(
        sources=[ReplaySource(data_dir / "killmails.jsonl")], enricher=enricher,
        database=database, sinks=[sink], max_age=timedelta(minutes=60),
    )
    async with engine:
        await engine.wait()
    assert engine.stats.too_old == 0
    assert len(sink.kills) == engine.stats.stored > 300


async def test_the_engine_saves_its_status_for_killwatch_status(
    enricher, database, fake, session
):
    published = [fake.publish(line) for line in KILLS[:5]]
    sink = RecordingSink()
    await run_until(
        [r2z2(session, fake, start_after=published[0] - 1)], enricher, database, sink,
        lambda engine: engine.stats.stored >= 5, status_interval=0.01,
    )
    text = await saved(database, STATUS_KEY)
    assert text is not None
    status = decode_status(text)
    assert status.running is False
    assert status.stored == 5
    [feed] = status.sources
    assert feed.kind == "r2z2"
    assert feed.last_position == str(published[-1])
    assert feed.kills == 5
