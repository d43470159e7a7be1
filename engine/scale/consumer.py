"""A bot process's side: kills from the stream, matched against its own subscriptions, owed in
the shared outbox, posted by its own dispatcher.

Each bot process reads the stream through a consumer group of its own, so every process sees
every kill. For each batch of entries it writes the outbox rows of the destinations it serves
in one transaction and acknowledges the entries only once that has committed: a crash in
between leaves them pending for its group, and the next start reads them again first. Writing
a row twice is harmless (one row per destination and kill), so a repeated entry owes nothing
new. An entry that waited in the stream longer than the max age (the process was down) is not
posted late; an entry nobody can read is counted, logged and acknowledged.

Like `Engine`, `StreamConsumer` is an async context manager owning one task group: its
dispatcher's workers and the reading loop. Stopping ends the reading; what was read is
finished and the posts owed are made within the drain timeout, or stay owed for next time.
`status()` is what `/healthz` and `/metrics` read: a consumer whose last good read from Redis
is old has lost Redis or is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from engine.delivery import Dispatcher
from engine.model import EnrichedKill
from engine.pipeline import KillRouter, PipelineObserver
from engine.scale.stream import GroupBacklog, KillStream, StreamEntry
from engine.store.database import Database
from engine.store.outbox import OutboxEntry, OutboxRepository, Owed
from engine.store.repositories import utc_now

__all__ = ["ConsumerStats", "ConsumerStatus", "StreamConsumer"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


@dataclass(slots=True)
class ConsumerStats:
    read: int = 0  # entries read, repeats and unreadable ones included
    acked: int = 0
    owed: int = 0  # outbox rows written
    already_owed: int = 0  # posts owed before their entry came (again, after a crash)
    repeats: int = 0  # entries for a kill that came earlier in the same batch
    too_old: int = 0  # entries that waited longer than the max age
    malformed: int = 0
    trimmed: int = 0  # dropped from the stream before this group acknowledged them
    match_errors: int = 0
    store_retries: int = 0
    stream_retries: int = 0

    def summary(self) -> str:
        return (
            f"read {self.read}, owed {self.owed} posts (already owed {self.already_owed}), "
            f"repeats {self.repeats}, too old "
            f"{self.too_old}, malformed {self.malformed}, trimmed {self.trimmed}, match errors "
            f"{self.match_errors}"
        )


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """A snapshot for the ops endpoint (`engine.ops.StreamCounts`)."""

    stream: str
    group: str
    running: bool
    started_at: datetime
    last_read_at: datetime | None  # the last read that worked, an empty one included
    last_error: str | None  # the type of the last failed read
    read: int
    acked: int
    dropped: Mapping[str, int]  # entries read but not matched, by reason
    owed: int
    retries: int
    pending: int | None  # None until Redis was asked
    lag: int | None


class StreamConsumer:
    def __init__(
        self,
        stream: KillStream,
        *,
        group: str,
        database: Database,
        matcher: KillRouter,
        dispatcher: Dispatcher,
        consumer: str = "bot",
        start: str = "0",
        max_age: timedelta | None = timedelta(minutes=60),
        batch: int = 200,
        block: float = 1.0,
        drain_timeout: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
        observer: PipelineObserver | None = None,
        backlog_every: float = 10.0,
    ) -> None:
        """`group`: this process's consumer group (one process per group). `start`: where a
        group created now begins ("0": whatever the stream still holds; the max age and the
        outbox keep that from posting anything late or twice). `block`: longest wait for new
        entries, and so the longest a stop waits for the reading to notice. `backlog_every`:
        seconds between asking Redis for the group's pending count and lag (for metrics)."""
        self.stats = ConsumerStats()
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._start = start
        self._database = database
        self._matcher = matcher
        self._dispatcher = dispatcher
        self._max_age = max_age
        self._batch = batch
        self._block = block
        self._drain_timeout = drain_timeout
        self._clock = clock
        self._observer = observer
        self._backlog_every = backlog_every
        self._backlog: GroupBacklog | None = None
        self._backlog_due = 0.0  # time.monotonic() of the next look
        self._started_at = clock()
        self._last_read_at: datetime | None = None
        self._last_error: str | None = None
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._task_group: asyncio.TaskGroup | None = None
        self._reader: asyncio.Task[None] | None = None
        self._dispatch: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise RuntimeError("a StreamConsumer runs once")
        # What this process's destinations were still owed goes out first.
        resumed = await self._dispatcher.resume()
        if resumed:
            log.info("resuming %d posts a previous run had not made", resumed)
        if await self._stream.ensure_group(self._group, self._start):
            log.info("created consumer group %s on stream %s", self._group, self._stream.name)
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._task_group = group
        self._started_at = self._clock()
        self._dispatch = group.create_task(self._dispatcher.run(), name="dispatch")
        self._reader = group.create_task(self._consume(), name="stream:consume")
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
            log.warning("the stream batch in hand was not finished within %.0f s; its entries "
                        "stay pending and are read again at the next start", self._drain_timeout)
            if self._reader is not None:
                self._reader.cancel()
        try:
            await asyncio.wait_for(self._dispatcher.idle(), self._drain_timeout)
        except TimeoutError:
            log.warning("%d posts were not made before shutdown; they stay owed and go out at "
                        "the next start", self._dispatcher.backlog())
        if self._dispatch is not None:
            self._dispatch.cancel()
        await self._task_group.__aexit__(exc_type, exc, tb)

    def stop(self) -> None:
        """Stop reading the stream; the batch in hand is finished. Safe to call twice."""
        self._stopping.set()

    async def wait(self) -> None:
        """Until the reading has stopped (after `stop`, or when it failed)."""
        await self._finished.wait()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def status(self) -> ConsumerStatus:
        stats, backlog = self.stats, self._backlog
        return ConsumerStatus(
            stream=self._stream.name,
            group=self._group,
            running=self._reader is not None and not self._finished.is_set(),
            started_at=self._started_at,
            last_read_at=self._last_read_at,
            last_error=self._last_error,
            read=stats.read,
            acked=stats.acked,
            dropped={
                "malformed": stats.malformed,
                "trimmed": stats.trimmed,
                "too_old": stats.too_old,
                "repeat": stats.repeats,
                "match_error": stats.match_errors,
            },
            owed=stats.owed,
            retries=stats.stream_retries,
            pending=backlog.pending if backlog is not None else None,
            lag=backlog.lag if backlog is not None else None,
        )

    # --- reading ---

    async def _consume(self) -> None:
        try:
            # First the entries this group was given before a crash and never acknowledged.
            after: str | None = "0"
            failures = 0
            while not self._stopping.is_set():
                try:
                    entries = await self._stream.read(
                        self._group, self._consumer, after=after, count=self._batch,
                        block=self._block,
                    )
                except (RedisError, OSError) as exc:
                    failures += 1
                    self._last_error = type(exc).__name__
                    await self._recover(exc, failures)
                    continue
                failures = 0
                self._last_read_at = self._clock()
                await self._look_at_backlog()
                if after is not None:
                    if not entries:
                        after = None  # the backlog is done: from now on, new entries
                        continue
                    after = entries[-1].id
                if entries:
                    await self._handle(entries)
        finally:
            self._finished.set()

    async def _look_at_backlog(self) -> None:
        """The group's pending count and lag, every `backlog_every` seconds. A failure keeps
        the last answer: the reads are what tell whether Redis is there."""
        now = time.monotonic()
        if now < self._backlog_due:
            return
        self._backlog_due = now + self._backlog_every
        try:
            self._backlog = await self._stream.backlog(self._group)
        except (RedisError, OSError):
            log.debug("the backlog of consumer group %s could not be read", self._group,
                      exc_info=True)

    async def _recover(self, exc: Exception, failures: int) -> None:
        self.stats.stream_retries += 1
        if "NOGROUP" in str(exc):
            # The stream (and with it the group) was deleted: start over on a new one.
            log.warning("consumer group %s is gone; creating it again", self._group)
            try:
                await self._stream.ensure_group(self._group, self._start)
                return
            except (RedisError, OSError):
                pass
        wait = _backoff(failures)
        log.error("reading the stream failed (%s); retrying in %.1f s", type(exc).__name__, wait)
        await self._sleep(wait)

    async def _handle(self, entries: Sequence[StreamEntry]) -> None:
        self.stats.read += len(entries)
        now = self._clock()
        kills: dict[int, EnrichedKill] = {}
        owed: list[Owed] = []
        for entry in entries:
            if entry.kill is None:
                self._unreadable(entry)
                continue
            if self._max_age is not None and now - entry.at > self._max_age:
                self.stats.too_old += 1
                continue
            kill = entry.kill
            if kill.id in kills:
                self.stats.repeats += 1
                continue
            kills[kill.id] = kill
            started = time.perf_counter()
            try:
                matches = self._matcher.match(kill)
            except Exception:
                log.exception("matching killmail %s failed", kill.id)
                self.stats.match_errors += 1
                continue
            if self._observer is not None:
                self._observer.matched(time.perf_counter() - started)
            owed.extend(
                Owed(match.destination, kill.id, tuple(match.subscription_ids))
                for match in matches
            )
        created = await self._enqueue(owed)
        self.stats.owed += len(created)
        self.stats.already_owed += len(owed) - len(created)
        if created:
            self._dispatcher.submit((entry, kills[entry.killmail_id]) for entry in created)
        await self._ack([entry.id for entry in entries])

    def _unreadable(self, entry: StreamEntry) -> None:
        if entry.problem == "trimmed":
            self.stats.trimmed += 1
            log.warning("stream entry %s was trimmed away before it was handled", entry.id)
        else:
            self.stats.malformed += 1
            log.warning("stream entry %s cannot be read; acknowledged and skipped", entry.id)

    async def _enqueue(self, owed: list[Owed]) -> list[OutboxEntry]:
        """The rows, in one transaction; while the store is down, wait and try again (the
        entries stay unacknowledged meanwhile, so a stop here loses nothing)."""
        if not owed:
            return []
        failures = 0
        while True:
            try:
                async with self._database.session() as session, session.begin():
                    return await OutboxRepository(session).enqueue(owed)
            except (SQLAlchemyError, OSError) as exc:
                failures += 1
                self.stats.store_retries += 1
                wait = _backoff(failures)
                log.error("outbox write failed (%s); retrying in %.1f s",
                          type(exc).__name__, wait)
                await asyncio.sleep(wait)

    async def _ack(self, ids: list[str]) -> None:
        """Acknowledge; while Redis is away, retry until stopped (an entry left pending is
        read again at the next start and owes nothing new)."""
        failures = 0
        while True:
            try:
                await self._stream.ack(self._group, ids)
                self.stats.acked += len(ids)
                return
            except (RedisError, OSError) as exc:
                failures += 1
                self.stats.stream_retries += 1
                if self._stopping.is_set():
                    log.warning("%d stream entries left unacknowledged at shutdown (%s)",
                                len(ids), type(exc).__name__)
                    return
                wait = _backoff(failures)
                log.error("acknowledging stream entries failed (%s); retrying in %.1f s",
                          type(exc).__name__, wait)
                await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """A wait that a stop cuts short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _backoff(failures: int) -> float:
    return float(min(0.5 * 2 ** min(failures - 1, 6), _MAX_BACKOFF))
