"""The dispatcher: works the outbox off, each destination in order, each kill once.

The pipeline writes outbox rows in the same transaction as the kill and hands them here once
committed. Each destination has its own queue; a fixed set of workers takes a destination
whose queue is not empty and not already being served, so posts to one channel stay in order
while many channels are served at once. A destination's sender answers each delivery with an
outcome, recorded in the store: sent, retry later, gone (pause it) or failed.

At start, rows a previous run left pending are read back (their kills enriched again from the
stored body) before any feed is read, so nothing is owed twice in memory; rows whose kill has
grown older than the max age meanwhile are skipped rather than posted late.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from engine.dispatch.sender import Delivery, Failed, Gone, Outcome, Retry, Sender, Sent
from engine.enrich.enricher import Enricher
from engine.model import EnrichedKill, Killmail
from engine.store.database import Database
from engine.store.outbox import OutboxEntry, OutboxRepository
from engine.store.repositories import KillmailRepository, utc_now

__all__ = ["DeliveryStats", "Dispatcher"]

log = logging.getLogger(__name__)

OnGone = Callable[[str, str], Awaitable[None]]


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    messages: int = 0
    retries: int = 0
    failed: int = 0
    skipped: int = 0
    gone: Counter[str] = field(default_factory=Counter)  # reason -> destinations


@dataclass(slots=True)
class _Writes:
    """What one round of outcomes changes in the outbox, applied in one transaction."""

    sent: list[tuple[list[int], int | None]] = field(default_factory=list)
    closed: list[tuple[list[int], str, str]] = field(default_factory=list)  # ids, state, why
    attempts: list[tuple[list[int], str]] = field(default_factory=list)

    async def apply(self, repository: OutboxRepository) -> None:
        for ids, message_id in self.sent:
            await repository.mark_sent(ids, message_id)
        for ids, state, reason in self.closed:
            await repository.close(ids, state, reason)
        for ids, error in self.attempts:
            await repository.mark_attempt(ids, error)


class Dispatcher:
    def __init__(
        self,
        database: Database,
        enricher: Enricher,
        sender: Sender,
        *,
        workers: int = 8,
        batch: int = 10,
        max_age: timedelta | None = timedelta(minutes=60),
        max_attempts: int = 8,
        on_gone: OnGone | None = None,
        clock: Callable[[], datetime] = utc_now,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        """`batch`: deliveries handed to the sender at once (it may pack them in one message).
        `on_gone(destination, reason)`: told once when a destination stops accepting posts.
        `owns(destination)`: which pending rows `resume` takes up, when several processes
        share the outbox (each posts its own destinations); None: all of them."""
        if workers < 1 or batch < 1:
            raise ValueError("workers and batch must be at least 1")
        self.stats = DeliveryStats()
        self._database = database
        self._enricher = enricher
        self._sender = sender
        self._workers = workers
        self._batch = batch
        self._max_age = max_age
        self._max_attempts = max_attempts
        self._on_gone = on_gone
        self._clock = clock
        self._owns = owns
        self._queues: dict[str, deque[tuple[Delivery, int]]] = {}  # (delivery, attempts)
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._scheduled: set[str] = set()  # in `_ready`, being served, or waiting to retry
        self._gone: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # --- feeding it ---

    async def resume(self) -> int:
        """Queue what a previous run left pending; returns how many. Call before any submit."""
        resumed = 0
        after = 0
        while True:
            async with self._database.session() as session:
                found = await OutboxRepository(session).pending(limit=1000, after_id=after)
                owns = self._owns
                entries = [e for e in found if owns is None or owns(e.destination)]
                bodies = await KillmailRepository(session).bodies(
                    {entry.killmail_id for entry in entries}
                )
            if not found:
                return resumed
            after = found[-1].id
            ready, stale = self._revive(entries, bodies)
            if stale:
                await self._close(stale, "skipped", "older than the max age when it could be sent")
                self.stats.skipped += len(stale)
            self.submit(ready)
            resumed += len(ready)

    def submit(self, owed: Iterable[tuple[OutboxEntry, EnrichedKill]]) -> None:
        """Queue committed outbox rows with their kills, in order."""
        for entry, kill in owed:
            delivery = Delivery(entry.id, kill, entry.subscription_ids)
            self._queues.setdefault(entry.destination, deque()).append((delivery, entry.attempts))
            self._idle.clear()
            self._wake(entry.destination)

    def backlog(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    async def idle(self) -> None:
        """Until nothing is queued or being sent."""
        await self._idle.wait()

    # --- working it off ---

    async def run(self) -> None:
        """Serve until cancelled (the engine's task group owns this)."""
        async with asyncio.TaskGroup() as group:
            for number in range(self._workers):
                group.create_task(self._work(), name=f"dispatch:{number}")

    async def _work(self) -> None:
        while True:
            destination = await self._ready.get()
            queue = self._queues.get(destination)
            if destination in self._gone:
                # Owed before its subscriptions were paused: it can only fail. More may be
                # queued while the store is written, hence the loop.
                while queue:
                    dropped = [delivery.entry_id for delivery, _ in queue]
                    queue.clear()
                    await self._close(dropped, "failed", "destination gone")
                    self.stats.failed += len(dropped)
                self._done_with(destination)
                continue
            if not queue:
                self._done_with(destination)
                continue
            taken = [queue.popleft() for _ in range(min(self._batch, len(queue)))]
            try:
                outcomes = await self._sender.send(destination, [d for d, _ in taken])
            except asyncio.CancelledError:
                queue.extendleft(reversed(taken))  # still pending in the store
                raise
            except Exception as exc:
                log.exception("sender failed on %s", destination)
                outcomes = [Retry(tuple(d.entry_id for d, _ in taken), 5.0, repr(exc))]
            delay = await self._record(destination, taken, outcomes)
            if delay is not None:
                asyncio.get_running_loop().call_later(delay, self._requeue, destination)
            else:
                self._done_with(destination)

    async def _record(
        self,
        destination: str,
        taken: list[tuple[Delivery, int]],
        outcomes: Sequence[Outcome],
    ) -> float | None:
        """Store what happened; put retries back at the front. Returns a wait, if any."""
        by_id = {delivery.entry_id: (delivery, attempts) for delivery, attempts in taken}
        answered: set[int] = set()
        writes = _Writes()
        again: list[tuple[Delivery, int]] = []
        waiting: list[tuple[Delivery, int]] = []  # rate limited: no attempt used up
        retry_after = 0.0
        gone: str | None = None
        for outcome in outcomes:
            ids = [i for i in outcome.entry_ids if i in by_id and i not in answered]
            answered.update(ids)
            if isinstance(outcome, Sent):
                writes.sent.append((ids, outcome.message_id))
                self.stats.sent += len(ids)
                self.stats.messages += 1
            elif isinstance(outcome, Failed):
                writes.closed.append((ids, "failed", outcome.reason))
                self.stats.failed += len(ids)
            elif isinstance(outcome, Gone):
                gone = outcome.reason
                writes.closed.append((ids, "failed", f"destination gone: {gone}"))
                self.stats.failed += len(ids)
            else:
                writes.attempts.append((ids, outcome.error))
                if outcome.counts:
                    again.extend((by_id[i][0], by_id[i][1] + 1) for i in ids)
                else:
                    waiting.extend(by_id[i] for i in ids)
                retry_after = max(retry_after, outcome.after)
        unanswered = [i for i in by_id if i not in answered]
        if unanswered:
            log.error("sender gave no outcome for %d posts to %s", len(unanswered), destination)
            again.extend((by_id[i][0], by_id[i][1] + 1) for i in unanswered)
            retry_after = max(retry_after, 1.0)
        exhausted = [d.entry_id for d, attempts in again if attempts >= self._max_attempts]
        if exhausted:
            log.error("gave up on %d posts to %s after %d failed attempts",
                      len(exhausted), destination, self._max_attempts)
            writes.closed.append((exhausted, "failed", "gave up after repeated failures"))
            self.stats.failed += len(exhausted)
        retry = [(d, a) for d, a in again if a < self._max_attempts] + waiting
        if gone is not None:
            queued = [d.entry_id for d, _ in self._queues.pop(destination, deque())]
            dropped = queued + [d.entry_id for d, _ in retry]
            writes.closed.append((dropped, "failed", f"destination gone: {gone}"))
            self.stats.failed += len(dropped)
        await self._write(writes)
        if gone is not None:
            await self._lose(destination, gone)
            return None
        if not retry:
            return None
        self.stats.retries += len(retry)
        queue = self._queues.setdefault(destination, deque())
        queue.extendleft(reversed(sorted(retry, key=lambda item: item[0].entry_id)))
        return retry_after

    async def _lose(self, destination: str, reason: str) -> None:
        if destination in self._gone:
            return
        self._gone.add(destination)
        self.stats.gone[reason] += 1
        log.warning("%s no longer accepts posts (%s); its subscriptions are paused",
                    destination, reason)
        if self._on_gone is not None:
            try:
                await self._on_gone(destination, reason)
            except Exception:
                log.exception("could not pause the subscriptions of %s", destination)

    async def _write(self, writes: _Writes) -> None:
        """Apply in one transaction; while the store is down, wait and try again (the sends
        already happened, so their record must not be lost)."""
        delay = 0.5
        while True:
            try:
                async with self._database.session() as session, session.begin():
                    await writes.apply(OutboxRepository(session))
                return
            except (SQLAlchemyError, OSError) as exc:
                log.error("outbox store failed (%s); retrying in %.1f s",
                          type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def reopen(self, destination: str) -> None:
        """The destination works again (its subscriptions were resumed)."""
        self._gone.discard(destination)

    # --- bookkeeping ---

    def _wake(self, destination: str) -> None:
        if destination not in self._scheduled:
            self._scheduled.add(destination)
            self._ready.put_nowait(destination)

    def _requeue(self, destination: str) -> None:
        self._ready.put_nowait(destination)  # still in _scheduled: nobody else queued it

    def _done_with(self, destination: str) -> None:
        self._scheduled.discard(destination)
        queue = self._queues.get(destination)
        if queue:
            self._wake(destination)
        elif queue is not None:
            del self._queues[destination]
        if not self._scheduled:
            self._idle.set()

    def _revive(
        self, entries: list[OutboxEntry], bodies: dict[int, bytes]
    ) -> tuple[list[tuple[OutboxEntry, EnrichedKill]], list[int]]:
        ready: list[tuple[OutboxEntry, EnrichedKill]] = []
        stale: list[int] = []
        kills: dict[int, EnrichedKill | None] = {}
        now = self._clock()
        for entry in entries:
            if entry.killmail_id not in kills:
                kills[entry.killmail_id] = self._kill(bodies.get(entry.killmail_id))
            kill = kills[entry.killmail_id]
            if kill is None or (
                self._max_age is not None and now - kill.killmail.time > self._max_age
            ):
                stale.append(entry.id)
            else:
                ready.append((entry, kill))
        return ready, stale

    def _kill(self, body: bytes | None) -> EnrichedKill | None:
        if body is None:
            return None
        try:
            return self._enricher.enrich(msgspec.json.decode(body, type=Killmail))
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.exception("a stored killmail body could not be read back")
            return None

    async def _close(self, ids: list[int], state: str, reason: str) -> None:
        writes = _Writes()
        writes.closed.append((ids, state, reason))
        await self._write(writes)
