"""The engine: source → parse → enrich → store (dedupe) → sinks, one bounded queue per hop.

Every task belongs to one `asyncio.TaskGroup` owned by `Engine`, an async context manager.
Stopping cancels only the sources; every kill already taken from a feed flows on through the
stages and is stored (with its feed cursor, in the same transaction) before the engine exits,
so a restart re-reads at most what a feed had not yet handed over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Final, Protocol, Self

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from engine.dedupe import RecentIds
from engine.delivery import Dispatcher
from engine.dispatch.sink import Sink
from engine.enrich.enricher import Enricher
from engine.filters import Match
from engine.model import (
    Attacker,
    EnrichedKill,
    Killmail,
    KillmailRejected,
    Victim,
    parse_killmail,
)
from engine.sources.base import Cursor, RawKill, Source
from engine.stats import PipelineStats
from engine.status import STATUS_KEY, EngineStatus, encode_status
from engine.store.database import Database
from engine.store.outbox import OutboxEntry, OutboxRepository, Owed
from engine.store.participants import participants_of
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository, StateRepository, utc_now

__all__ = ["KILLS_LOGGER", "Engine", "KillRouter", "NameLookup", "PipelineObserver"]

# One line per stored kill, on a logger of its own that stays quiet unless asked for
# (`[logging] kills`): at zKillboard's volume it would drown every other line.
KILLS_LOGGER: Final = "killwatch.kills"

log = logging.getLogger(__name__)
kill_log = logging.getLogger(KILLS_LOGGER)


class _Done:
    """End of stream: passed down the queues once every source has finished."""


_DONE: Final = _Done()


@dataclass(slots=True)
class _Flow:
    """A kill on its way down (None once rejected), with the feed cursor it carries."""

    kill: Killmail | EnrichedKill | None
    cursor: Cursor | None
    source: str
    live: bool


class NameLookup(Protocol):
    """Names for entity ids within a time budget (the ESI names resolver)."""

    # A budget, not a deadline to cancel at: lookups that miss it finish for later kills.
    async def resolve(
        self, ids: Iterable[int], timeout: float  # noqa: ASYNC109
    ) -> Mapping[int, str]: ...


class KillRouter(Protocol):
    """Who is owed each kill: the subscriptions' matcher, or (in the ingester) the stream."""

    def match(self, kill: EnrichedKill) -> Sequence[Match]: ...


class PipelineObserver(Protocol):
    """Told what the pipeline does, for metrics (engine.ops.PipelineMetrics)."""

    def matched(self, seconds: float) -> None: ...

    def rejected(self, source: str, reason: str) -> None: ...


class Engine:
    def __init__(
        self,
        *,
        sources: Sequence[Source],
        enricher: Enricher,
        database: Database,
        sinks: Sequence[Sink],
        queue_size: int = 256,
        batch_size: int = 200,
        drain_timeout: float = 10.0,
        recent_ids: int = 50_000,
        max_age: timedelta | None = timedelta(minutes=60),
        clock: Callable[[], datetime] = utc_now,
        status_interval: float = 15.0,
        names: NameLookup | None = None,
        names_timeout: float = 2.0,
        matcher: KillRouter | None = None,
        dispatcher: Dispatcher | None = None,
        observer: PipelineObserver | None = None,
    ) -> None:
        """`max_age`: live kills older than this (by killmail time) when they arrive are stored
        but not delivered — after an outage the backlog is kept, not posted. None: no limit."""
        self.stats = PipelineStats()
        self._sources = tuple(sources)
        self._enricher = enricher
        self._database = database
        self._sinks = tuple(sinks)
        self._batch_size = batch_size
        self._drain_timeout = drain_timeout
        self._recent = RecentIds(recent_ids)
        self._max_age = max_age
        self._clock = clock
        self._status_interval = status_interval
        self._names = names
        self._names_timeout = names_timeout
        self._matcher = matcher
        self._dispatcher = dispatcher
        self._dispatch_task: asyncio.Task[None] | None = None
        self._observer = observer
        self._started_at = clock()
        self._raw: asyncio.Queue[RawKill | _Done] = asyncio.Queue(queue_size)
        self._parsed: asyncio.Queue[_Flow | _Done] = asyncio.Queue(queue_size)
        self._enriched: asyncio.Queue[_Flow | _Done] = asyncio.Queue(queue_size)
        self._sources_open = len(self._sources)
        self._finished = asyncio.Event()
        self._task_group: asyncio.TaskGroup | None = None
        self._source_tasks: list[asyncio.Task[None]] = []
        self._stage_tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("an Engine runs once")
        if self._dispatcher is not None:
            # Before any feed is read: what a previous run still owed goes out first, and
            # nothing is owed twice in memory.
            resumed = await self._dispatcher.resume()
            if resumed:
                log.info("resuming %d posts a previous run had not made", resumed)
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._task_group = group
        if self._dispatcher is not None:
            self._dispatch_task = group.create_task(self._dispatcher.run(), name="dispatch")
        self._stage_tasks = [
            group.create_task(self._parse_stage(), name="stage:parse"),
            group.create_task(self._enrich_stage(), name="stage:enrich"),
            group.create_task(self._store_stage(), name="stage:store"),
            group.create_task(self._report_status(), name="status"),
        ]
        self._source_tasks = [
            group.create_task(self._read(source), name=f"source:{source.name}")
            for source in self._sources
        ]
        if not self._sources:
            await self._raw.put(_DONE)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task_group is not None
        self.stop()
        try:
            await asyncio.wait_for(self._finished.wait(), self._drain_timeout)
        except TimeoutError:
            log.warning(
                "engine did not drain within %.0f s; abandoning in-flight kills "
                "(their feed cursors were not advanced, so they are read again on restart)",
                self._drain_timeout,
            )
            for task in self._stage_tasks:
                task.cancel()
        if self._dispatcher is not None and self._dispatch_task is not None:
            try:
                await asyncio.wait_for(self._dispatcher.idle(), self._drain_timeout)
            except TimeoutError:
                log.warning(
                    "%d posts were not made before shutdown; they stay owed and go out at "
                    "the next start", self._dispatcher.backlog()
                )
            self._dispatch_task.cancel()
        await self._task_group.__aexit__(exc_type, exc, tb)
        await self._save_status()

    def stop(self) -> None:
        """Stop reading feeds; what was already read is finished. Safe to call twice."""
        for task in self._source_tasks:
            task.cancel()

    async def wait(self) -> None:
        """Until every source is exhausted (or stopped) and every kill read has been handled."""
        await self._finished.wait()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def status(self) -> EngineStatus:
        """Every feed's position and health, and the pipeline's counters, right now."""
        stats = self.stats
        return EngineStatus(
            started_at=self._started_at,
            updated_at=self._clock(),
            running=not self._finished.is_set(),
            sources=tuple(source.status() for source in self._sources),
            received=stats.received,
            stored=stats.stored,
            too_old=stats.too_old,
            duplicates=stats.duplicates,
            updated=stats.updated,
            delivered=stats.delivered,
            sink_errors=stats.sink_errors,
            store_retries=stats.store_retries,
            rejected=dict(stats.rejected),
            queues={
                "parse": self._raw.qsize(),
                "enrich": self._parsed.qsize(),
                "store": self._enriched.qsize(),
            },
        )

    async def _report_status(self) -> None:
        """Save the status now and then, so `killwatch status` can read it from elsewhere."""
        while True:
            try:
                await asyncio.wait_for(self._finished.wait(), self._status_interval)
                return
            except TimeoutError:
                await self._save_status()

    async def _save_status(self) -> None:
        try:
            async with self._database.session() as session, session.begin():
                await StateRepository(session).set(STATUS_KEY, encode_status(self.status()))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not save the engine status (%s)", type(exc).__name__)

    # --- stages ---

    async def _read(self, source: Source) -> None:
        try:
            async with source:
                async for raw in source.kills():
                    self.stats.received += 1
                    await self._raw.put(raw)
        except Exception:
            log.exception("source %s failed and stopped", source.name)
            self._reject(source.name, "source_failed")
        finally:
            self._sources_open -= 1
            if self._sources_open == 0:
                await self._raw.put(_DONE)

    async def _parse_stage(self) -> None:
        while not isinstance(raw := await self._raw.get(), _Done):
            killmail: Killmail | None = None
            try:
                killmail = parse_killmail(raw.payload)
            except KillmailRejected as rejected:
                self._reject(raw.source, rejected.reason.value)
                log.warning("rejected %s from %s: %s", raw.where, raw.source, rejected)
            else:
                self.stats.parsed += 1
            if killmail is not None or raw.cursor is not None:
                await self._parsed.put(_Flow(killmail, raw.cursor, raw.source, raw.live))
        await self._parsed.put(_DONE)

    async def _enrich_stage(self) -> None:
        done = False
        while not done:
            # Kills are enriched in the batches that are waiting, so one names lookup (and at
            # most one names timeout) serves them all, even while catching up on thousands.
            batch = [await self._parsed.get()]
            while not isinstance(batch[-1], _Done) and len(batch) < self._batch_size:
                if self._parsed.empty():
                    break
                batch.append(self._parsed.get_nowait())
            done = isinstance(batch[-1], _Done)
            flows = [flow for flow in batch if not isinstance(flow, _Done)]
            kills = [kill for flow in flows if (kill := self._enrich(flow)) is not None]
            if kills and self._names is not None:
                await self._add_names(kills)
            for flow in flows:
                await self._enriched.put(flow)
        await self._enriched.put(_DONE)

    def _enrich(self, flow: _Flow) -> EnrichedKill | None:
        if not isinstance(killmail := flow.kill, Killmail):
            return None
        try:
            flow.kill = self._enricher.enrich(killmail)
        except Exception:
            log.exception("could not enrich killmail %s", killmail.killmail_id)
            self._reject(flow.source, "enrich_failed")
            flow.kill = None
            return None
        return flow.kill

    async def _add_names(self, kills: list[EnrichedKill]) -> None:
        """Player names from the names service, within its time budget; ids stand in for the
        rest (a kill is never held back longer, nor dropped, for a name)."""
        assert self._names is not None
        wanted = {
            entity
            for kill in kills
            for entity in _player_entities(kill.killmail)
            if entity not in kill.names
        }
        if not wanted:
            return
        try:
            found = await self._names.resolve(wanted, self._names_timeout)
        except Exception:
            log.exception("names lookup failed; kills go on with ids")
            return
        for kill in kills:
            for entity in _player_entities(kill.killmail):
                name = found.get(entity)
                if name is not None:
                    kill.names.setdefault(entity, name)

    async def _store_stage(self) -> None:
        try:
            done = False
            while not done:
                batch: list[_Flow] = []
                item = await self._enriched.get()
                while not isinstance(item, _Done):
                    batch.append(item)
                    if len(batch) >= self._batch_size or self._enriched.empty():
                        break
                    item = self._enriched.get_nowait()
                done = isinstance(item, _Done)
                if batch:
                    await self._handle_batch(batch)
        finally:
            self._finished.set()

    async def _handle_batch(self, batch: list[_Flow]) -> None:
        fresh: list[tuple[EnrichedKill, _Flow]] = []
        republished: list[EnrichedKill] = []
        for flow in batch:
            if not isinstance(kill := flow.kill, EnrichedKill):
                continue
            if kill.id in self._recent:
                self.stats.duplicates += 1
                if kill.killmail.sequence_updated is not None:
                    republished.append(kill)
            else:
                fresh.append((kill, flow))
        cursors = {flow.cursor.key: flow.cursor for flow in batch if flow.cursor is not None}
        now = self._clock()
        records = [self._record(kill, flow, now) for kill, flow in fresh]
        new_ids, owed = await self._store(records, fresh, republished, list(cursors.values()))
        if owed and self._dispatcher is not None:
            self._dispatcher.submit(owed)
        posts = Counter(entry.killmail_id for entry, _ in owed)
        for (kill, _), record in zip(fresh, records, strict=True):
            self._recent.add(kill.id)
            if kill.id not in new_ids:
                self.stats.duplicates += 1
                continue
            new_ids.discard(kill.id)  # the same kill twice in one batch goes out once
            self.stats.stored += 1
            if kill_log.isEnabledFor(logging.INFO):
                kill_log.info(
                    "killmail %d stored from %s: %d posts owed%s", kill.id, flow.source,
                    posts[kill.id], " (older than the max age)" if record.too_old else "",
                    extra={"killmail_id": kill.id, "source": flow.source,
                           "system_id": kill.killmail.solar_system_id, "value": kill.value,
                           "posts": posts[kill.id], "too_old": record.too_old},
                )
            if record.too_old:
                self.stats.too_old += 1
                log.debug("killmail %s is older than the max age: stored, not posted", kill.id)
            else:
                await self._deliver(kill)

    def _record(self, kill: EnrichedKill, flow: _Flow, now: datetime) -> StoredKill:
        km = kill.killmail
        too_old = flow.live and self._max_age is not None and now - km.time > self._max_age
        return StoredKill(
            km.killmail_id,
            km.hash or "",
            km.time,
            km.solar_system_id,
            kill.value,
            too_old=too_old,
            labels=kill.labels,
            points=kill.points,
            source=flow.source,
            sequence_id=km.sequence_id,
            body=msgspec.json.encode(km),
            participants=participants_of(km),
        )

    async def _store(
        self,
        records: list[StoredKill],
        fresh: list[tuple[EnrichedKill, _Flow]],
        republished: list[EnrichedKill],
        cursors: list[Cursor],
    ) -> tuple[set[int], list[tuple[OutboxEntry, EnrichedKill]]]:
        delay = 0.5
        while True:
            try:
                async with self._database.session() as session, session.begin():
                    kills = KillmailRepository(session)
                    new_ids = await kills.add_new(records)
                    # A republished kill (zKillboard's sequence_updated) that was not new is an
                    # update of what we stored; it is never posted again.
                    updates = list(republished)
                    inserted: set[int] = set()  # add_new keeps the first copy in the batch
                    for kill, _ in fresh:
                        first_copy = kill.id in new_ids and kill.id not in inserted
                        inserted.add(kill.id)
                        if kill.killmail.sequence_updated is not None and not first_copy:
                            updates.append(kill)
                    for kill in updates:
                        if await kills.update_zkb(kill.id, kill.value, kill.labels, kill.points):
                            self.stats.updated += 1
                    owed = await self._owe(session, records, fresh, new_ids)
                    state = StateRepository(session)
                    for cursor in cursors:
                        await state.set(cursor.key, cursor.value)
                self.stats.owed += len(owed)
                return new_ids, owed
            except (SQLAlchemyError, OSError) as exc:
                # The batch is not lost: it waits here (holding back the queues) until the
                # store answers again, or until shutdown gives up on it.
                self.stats.store_retries += 1
                log.error("store failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _owe(
        self,
        session: AsyncSession,
        records: list[StoredKill],
        fresh: list[tuple[EnrichedKill, _Flow]],
        new_ids: set[int],
    ) -> list[tuple[OutboxEntry, EnrichedKill]]:
        """Outbox rows for the subscriptions each new kill matches, in the kill's transaction:
        a kill is stored if and only if what it owes is recorded."""
        if self._matcher is None:
            return []
        owed: list[Owed] = []
        kills: dict[int, EnrichedKill] = {}
        for (kill, flow), record in zip(fresh, records, strict=True):
            if kill.id not in new_ids or kill.id in kills or record.too_old:
                continue
            kills[kill.id] = kill
            started = time.perf_counter()
            try:
                matches = self._matcher.match(kill)
            except Exception:
                log.exception("matching killmail %s failed", kill.id)
                self._reject(flow.source, "match_failed")
                continue
            if self._observer is not None:
                self._observer.matched(time.perf_counter() - started)
            owed.extend(
                Owed(match.destination, kill.id, tuple(match.subscription_ids))
                for match in matches
            )
        entries = await OutboxRepository(session).enqueue(owed)
        return [(entry, kills[entry.killmail_id]) for entry in entries]

    def _reject(self, source: str, reason: str) -> None:
        self.stats.rejected[reason] += 1
        if self._observer is not None:
            self._observer.rejected(source, reason)

    async def _deliver(self, kill: EnrichedKill) -> None:
        for sink in self._sinks:
            try:
                await sink.deliver(kill)
            except Exception:
                self.stats.sink_errors += 1
                log.exception("sink %s failed on killmail %s", type(sink).__name__, kill.id)
            else:
                self.stats.delivered += 1



def _player_entities(killmail: Killmail) -> Iterator[int]:
    """Characters, corporations and alliances on a kill (factions are in the static data)."""
    parties: tuple[Victim | Attacker, ...] = (killmail.victim, *killmail.attackers)
    for party in parties:
        for entity in (party.character_id, party.corporation_id, party.alliance_id):
            if entity is not None:
                yield entity
