"""Retention on both backends: old kills and finished outbox rows go, owed posts never do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.store.database import Database
from engine.store.outbox import OutboxRepository, Owed
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository
from engine.store.retention import RetentionPolicy, purge

from .support import FakeClock

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CHANNEL = "channel:2001"


def kill(killmail_id: int, age: timedelta) -> StoredKill:
    return StoredKill(killmail_id, f"{killmail_id:040x}", NOW - age, 30000142, 1e6)


async def store(db: Database, *kills: StoredKill) -> None:
    async with db.session() as session, session.begin():
        await KillmailRepository(session).add_new(list(kills))


async def owe(db: Database, clock: FakeClock, *killmail_ids: int, to: str = CHANNEL) -> list[int]:
    async with db.session() as session, session.begin():
        entries = await OutboxRepository(session, clock=clock).enqueue(
            [Owed(to, killmail_id, (1,)) for killmail_id in killmail_ids]
        )
    return [entry.id for entry in entries]


async def stored_ids(db: Database) -> set[int]:
    async with db.session() as session:
        return {k.killmail_id for k in await KillmailRepository(session).recent(100_000)}


async def outbox_states(db: Database) -> dict[str, int]:
    async with db.session() as session:
        return await OutboxRepository(session).counts()


async def test_kills_older_than_the_retention_go_and_newer_ones_stay(
    db: Database, clock: FakeClock
) -> None:
    clock.now = NOW
    await store(db, kill(1, timedelta(days=91)), kill(2, timedelta(days=89)),
                kill(3, timedelta(days=400)))

    report = await purge(db, RetentionPolicy(kill_days=90, outbox_days=7), clock=clock)

    assert (report.kills, report.outbox, report.finished) == (2, 0, True)
    assert await stored_ids(db) == {2}
    again = await purge(db, RetentionPolicy(kill_days=90, outbox_days=7), clock=clock)
    assert (again.kills, again.outbox) == (0, 0)


async def test_zero_days_keeps_everything_forever(db: Database, clock: FakeClock) -> None:
    clock.now = NOW - timedelta(days=30)
    [owed] = await owe(db, clock, 1)
    async with db.session() as session, session.begin():
        await OutboxRepository(session, clock=clock).mark_sent([owed], 55)
    await store(db, kill(1, timedelta(days=3650)))

    report = await purge(db, RetentionPolicy(kill_days=0, outbox_days=0), clock=lambda: NOW)

    assert (report.kills, report.outbox) == (0, 0)
    assert await stored_ids(db) == {1}
    assert await outbox_states(db) == {"sent": 1}


async def test_finished_outbox_rows_go_after_their_days_and_pending_ones_never(
    db: Database, clock: FakeClock
) -> None:
    clock.now = NOW - timedelta(days=10)
    sent, failed, skipped, pending = await owe(db, clock, 11, 12, 13, 14)
    async with db.session() as session, session.begin():
        outbox = OutboxRepository(session, clock=clock)
        await outbox.mark_sent([sent], 99)
        await outbox.close([failed], "failed", "unknown channel")
        await outbox.close([skipped], "skipped", "too old")
    clock.now = NOW - timedelta(days=2)
    recent = await owe(db, clock, 15)
    async with db.session() as session, session.begin():
        await OutboxRepository(session, clock=clock).mark_sent(recent, 100)

    report = await purge(db, RetentionPolicy(kill_days=90, outbox_days=7), clock=lambda: NOW)

    assert report.outbox == 3
    assert await outbox_states(db) == {"pending": 1, "sent": 1}
    async with db.session() as session:
        left = await OutboxRepository(session).pending()
    assert [entry.id for entry in left] == [pending]


async def test_a_kill_still_owed_to_a_channel_is_kept_until_it_is_posted(
    db: Database, clock: FakeClock
) -> None:
    clock.now = NOW
    await store(db, kill(1, timedelta(days=100)), kill(2, timedelta(days=100)))
    [owed, posted] = await owe(db, clock, 1, 2)
    async with db.session() as session, session.begin():
        await OutboxRepository(session, clock=clock).mark_sent([posted], 7)
    # Kill 1 is also owed to a second channel, already posted there: still owed here.
    await owe(db, clock, 1, to="channel:2002")

    report = await purge(db, RetentionPolicy(kill_days=90, outbox_days=7), clock=clock)

    assert report.kills == 1
    assert await stored_ids(db) == {1}
    async with db.session() as session, session.begin():
        await OutboxRepository(session, clock=clock).mark_sent([owed], 8)
        left = await OutboxRepository(session).pending()
        await OutboxRepository(session, clock=clock).mark_sent([e.id for e in left], 9)
    await purge(db, RetentionPolicy(kill_days=90, outbox_days=7), clock=clock)
    assert await stored_ids(db) == set()


async def test_deletes_go_in_batches_and_a_run_stops_at_its_cap(
    db: Database, clock: FakeClock
) -> None:
    await store(db, *(kill(i, timedelta(days=100, minutes=i)) for i in range(1, 26)))
    policy = RetentionPolicy(kill_days=90, outbox_days=7, batch=4, max_batches=3)

    first = await purge(db, policy, clock=lambda: NOW)

    assert (first.kills, first.finished) == (12, False)
    # Oldest first: the kills with the largest age went.
    assert await stored_ids(db) == set(range(1, 14))
    second = await purge(db, policy, clock=lambda: NOW)
    assert (second.kills, second.finished) == (12, False)
    third = await purge(db, policy, clock=lambda: NOW)
    assert (third.kills, third.finished) == (1, True)
    assert await stored_ids(db) == set()


def test_a_policy_refuses_negative_days_and_empty_batches() -> None:
    with pytest.raises(ValueError, match="negative"):
        RetentionPolicy(kill_days=-1)
    with pytest.raises(ValueError, match="positive"):
        RetentionPolicy(batch=0)
