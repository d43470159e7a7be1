"""The engine end to end: replay the recorded killmails into a recording sink."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import EnrichedKill
from engine.pipeline import Engine
from engine.sources import Cursor, RawKill, ReplaySource
from engine.sources.status import SourceCounters, SourceStatus
from engine.store.repositories import KillmailRepository, StateRepository


class RecordingSink:
    def __init__(self) -> None:
        self.kills: list[EnrichedKill] = []

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


class FailingSink:
    async def deliver(self, kill: EnrichedKill) -> None:
        raise RuntimeError("the channel is on fire")


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(Universe.load())


def _engine(sources, enricher, database, *sinks, **tuning) -> Engine:
    # The recorded kills are years old; the max-age rule has tests of its own.
    tuning.setdefault("max_age", None)
    return Engine(sources=sources, enricher=enricher, database=database, sinks=sinks, **tuning)


def _valid_ids_in_order(lines: list[bytes]) -> list[int]:
    seen, out = set(), []
    for line in lines:
        record = orjson.loads(line)
        if record["esi"] is not None and record["killmail_id"] not in seen:
            seen.add(record["killmail_id"])
            out.append(record["killmail_id"])
    return out


async def test_every_valid_kill_arrives_once_in_order(enricher, database, data_dir, fixture_lines):
    sink = RecordingSink()
    source = ReplaySource(data_dir / "killmails.jsonl")
    async with _engine([source], enricher, database, sink, batch_size=50) as engine:
        await engine.wait()
    assert [k.id for k in sink.kills] == _valid_ids_in_order(fixture_lines)
    assert engine.stats.received == len(fixture_lines)
    assert engine.stats.rejected == Counter({"missing_body": 3})
    assert engine.stats.stored == len(sink.kills)
    async with database.session() as session:
        assert await KillmailRepository(session).count() == len(sink.kills)


async def test_enrichment_reaches_the_sink(enricher, database, data_dir):
    sink = RecordingSink()
    async with _engine([ReplaySource(data_dir / "killmails.jsonl")], enricher, database,
                       sink) as engine:
        await engine.wait()
    keepstar = next(k for k in sink.kills if k.id == 131126432)
    assert keepstar.victim_ship.name == "Keepstar"
    assert keepstar.victim_ship.category_name == "Structure"
    assert keepstar.place.system_id == 30005099
    assert keepstar.place.space == "nullsec"
    assert keepstar.value == 191585667614.45
    assert keepstar.value_source == "zkb"


async def test_a_second_run_posts_nothing_twice(enricher, database, data_dir):
    first, second = RecordingSink(), RecordingSink()
    for sink in (first, second):
        async with _engine([ReplaySource(data_dir / "killmails.jsonl")], enricher, database,
                           sink) as engine:
            await engine.wait()
    assert first.kills
    assert second.kills == []
    assert engine.stats.duplicates == len(first.kills)


async def test_two_sources_with_the_same_kills_deliver_each_once(enricher, database, data_dir):
    sink = RecordingSink()
    sources = [ReplaySource(data_dir / "killmails.jsonl", name=n) for n in ("a", "b")]
    async with _engine(sources, enricher, database, sink, batch_size=7) as engine:
        await engine.wait()
    ids = [k.id for k in sink.kills]
    assert len(ids) == len(set(ids)) == engine.stats.stored
    assert engine.stats.duplicates == len(ids)


async def test_a_failing_sink_is_counted_and_the_others_still_get_every_kill(
    enricher, database, data_dir
):
    good = RecordingSink()
    async with _engine([ReplaySource(data_dir / "killmails.jsonl")], enricher, database,
                       FailingSink(), good) as engine:
        await engine.wait()
    assert len(good.kills) == engine.stats.stored > 0
    assert engine.stats.sink_errors == engine.stats.stored


class EndlessFeed:
    """A live-feed stand-in: yields recorded kills with cursors, then waits forever."""

    name = "endless"

    def status(self) -> SourceStatus:
        return SourceCounters(self.name, "test").snapshot()

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self.handed_over = 0
        self._progress = asyncio.Condition()

    async def reached(self, count: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.handed_over >= count)

    async def __aenter__(self) -> EndlessFeed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def kills(self) -> AsyncIterator[RawKill]:
        for number, line in enumerate(self._lines, start=1):
            yield RawKill(self.name, line, f"seq {number}", Cursor("feed:endless", str(number)))
            self.handed_over = number
            async with self._progress:
                self._progress.notify_all()
        await asyncio.Event().wait()


async def test_stopping_mid_stream_finishes_what_was_read_and_leaves_no_task(
    enricher, database, fixture_lines
):
    sink = RecordingSink()
    feed = EndlessFeed(fixture_lines[:120])
    before = asyncio.all_tasks()
    async with _engine([feed], enricher, database, sink, queue_size=4) as engine:
        await asyncio.wait_for(feed.reached(60), 5)
        engine.stop()
        await asyncio.wait_for(engine.wait(), 5)
    assert asyncio.all_tasks() == before
    # Everything the feed handed over was stored, and the cursor says how far that went.
    async with database.session() as session:
        cursor = await StateRepository(session).get("feed:endless")
        stored = await KillmailRepository(session).count()
    assert cursor is not None
    assert int(cursor) >= feed.handed_over
    handed = _valid_ids_in_order(fixture_lines[: int(cursor)])
    assert [k.id for k in sink.kills] == handed
    assert stored == len(handed)


async def test_leaving_the_engine_early_drains_and_cancels_cleanly(
    enricher, database, fixture_lines
):
    feed = EndlessFeed(fixture_lines[:30])
    before = asyncio.all_tasks()
    async with _engine([feed], enricher, database, RecordingSink()) as engine:
        await asyncio.sleep(0.05)
    assert engine.finished
    assert asyncio.all_tasks() == before


async def test_a_source_that_fails_to_open_is_counted_and_the_engine_ends(
    enricher, database, tmp_path
):
    missing = ReplaySource(tmp_path / "nope.jsonl")
    async with _engine([missing], enricher, database, RecordingSink()) as engine:
        await asyncio.wait_for(engine.wait(), 5)
    assert engine.stats.rejected["source_failed"] == 1


async def test_rejected_lines_still_advance_the_cursor(enricher, database):
    lines = [b"not json", b'{"package": null}']
    feed = EndlessFeed(lines)
    async with _engine([feed], enricher, database, RecordingSink()) as engine:
        await asyncio.wait_for(feed.reached(2), 5)
    assert engine.stats.rejected == Counter({"invalid_json": 1, "empty_package": 1})
    async with database.session() as session:
        assert await StateRepository(session).get("feed:endless") == "2"


async def test_each_stored_kill_gets_one_line_on_the_kills_logger(
    enricher, database, data_dir, caplog
):
    from engine.pipeline import KILLS_LOGGER

    source = ReplaySource(data_dir / "killmails.jsonl")
    caplog.set_level("INFO", logger=KILLS_LOGGER)
    async with _engine([source], enricher, database, RecordingSink()) as engine:
        await engine.wait()
    lines = [r for r in caplog.records if r.name == KILLS_LOGGER]
    assert len(lines) == engine.stats.stored
    first = lines[0]
    assert first.getMessage().startswith(f"killmail {first.killmail_id} stored from ")
    assert first.posts == 0
    assert first.too_old is False
    assert isinstance(first.system_id, int)
