from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from engine.store.database import Database
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository, StateRepository
from engine.store.tables import KillmailRow, StateRow

from .support import FakeClock

JITA = 30000142
AMARR = 30002187
T0 = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


def kill(
    killmail_id: int,
    *,
    at: datetime = T0,
    system: int = JITA,
    value: float | None = 1_250_000.5,
    hash_: str | None = None,
) -> StoredKill:
    return StoredKill(
        killmail_id=killmail_id,
        hash=hash_ or f"{killmail_id:040x}",
        killmail_time=at,
        solar_system_id=system,
        value=value,
    )


async def add(db: Database, kills: list[StoredKill], clock: FakeClock | None = None) -> set[int]:
    async with db.session() as session, session.begin():
        repository = (
            KillmailRepository(session)
            if clock is None
            else KillmailRepository(session, clock=clock)
        )
        return await repository.add_new(kills)


async def test_add_new_returns_every_id_the_first_time_and_none_the_second(db: Database) -> None:
    kills = [kill(118_000_001), kill(118_000_002), kill(118_000_003)]
    assert await add(db, kills) == {118_000_001, 118_000_002, 118_000_003}
    assert await add(db, kills) == set()
    async with db.session() as session:
        assert await KillmailRepository(session).count() == 3


async def test_add_new_with_partial_overlap_returns_only_the_new_ids(db: Database) -> None:
    await add(db, [kill(1), kill(2)])
    assert await add(db, [kill(2), kill(3), kill(1), kill(4)]) == {3, 4}
    async with db.session() as session:
        assert await KillmailRepository(session).count() == 4


async def test_add_new_keeps_the_first_of_duplicates_within_one_batch(db: Database) -> None:
    first = kill(7, hash_="a" * 40, value=10.0)
    second = kill(7, hash_="b" * 40, value=20.0)
    assert await add(db, [first, second, kill(8)]) == {7, 8}
    async with db.session() as session:
        repository = KillmailRepository(session)
        assert await repository.count() == 2
        assert await repository.get(7) == first


async def test_add_new_of_nothing_is_nothing(db: Database) -> None:
    assert await add(db, []) == set()


async def test_add_new_handles_batches_larger_than_one_statement_page(db: Database) -> None:
    kills = [kill(i, at=T0 + timedelta(seconds=i)) for i in range(1, 2501)]
    assert await add(db, kills) == set(range(1, 2501))
    assert await add(db, [*kills[-10:], kill(2501)]) == {2501}
    async with db.session() as session:
        repository = KillmailRepository(session)
        assert await repository.count() == 2501
        assert await repository.known(range(2490, 2600)) == set(range(2490, 2502))


async def test_concurrent_writers_never_both_claim_a_kill(db: Database) -> None:
    batch_a = [kill(i) for i in range(1, 41)]
    batch_b = [kill(i) for i in range(21, 61)]
    new_a, new_b = await asyncio.gather(add(db, batch_a), add(db, batch_b))
    assert new_a.isdisjoint(new_b)
    assert new_a | new_b == set(range(1, 61))


async def test_nothing_is_stored_when_the_callers_transaction_rolls_back(db: Database) -> None:
    class Abort(Exception):
        pass

    async def add_then_fail() -> None:
        async with db.session() as session, session.begin():
            assert await KillmailRepository(session).add_new([kill(5)]) == {5}
            raise Abort

    with pytest.raises(Abort):
        await add_then_fail()
    async with db.session() as session:
        assert await KillmailRepository(session).count() == 0
    assert await add(db, [kill(5)]) == {5}


async def test_known_returns_the_stored_subset(db: Database) -> None:
    await add(db, [kill(10), kill(11)])
    async with db.session() as session:
        repository = KillmailRepository(session)
        assert await repository.known([9, 10, 11, 12, 10]) == {10, 11}
        assert await repository.known([]) == set()


async def test_get_returns_the_stored_kill_or_none(db: Database) -> None:
    stored = kill(118_551_200, at=datetime(2024, 5, 1, 10, 59, 58, 123456, tzinfo=UTC))
    await add(db, [stored])
    async with db.session() as session:
        repository = KillmailRepository(session)
        assert await repository.get(118_551_200) == stored
        assert await repository.get(404) is None


async def test_times_come_back_timezone_aware_in_utc(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2024, 5, 1, 13, 30, 15, 250000, tzinfo=plus_two)
    await add(db, [kill(1, at=local)])
    async with db.session() as session:
        stored = await KillmailRepository(session).get(1)
    assert stored is not None
    assert stored.killmail_time == datetime(2024, 5, 1, 11, 30, 15, 250000, tzinfo=UTC)
    assert stored.killmail_time.tzinfo is UTC
    assert stored.killmail_time.utcoffset() == timedelta(0)


async def test_received_at_comes_from_the_clock(db: Database, clock: FakeClock) -> None:
    await add(db, [kill(1)], clock)
    clock.advance(timedelta(minutes=5))
    await add(db, [kill(1), kill(2)], clock)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(KillmailRow.killmail_id, KillmailRow.received_at).order_by(
                    KillmailRow.killmail_id
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        (2, datetime(2024, 5, 1, 12, 5, tzinfo=UTC)),
    ]
    assert all(received.tzinfo is UTC for _, received in rows)


async def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await add(db, [kill(1, at=datetime(2024, 5, 1, 11, 0))])


async def test_recent_is_newest_first_with_id_breaking_ties(db: Database) -> None:
    await add(
        db,
        [
            kill(1, at=T0),
            kill(2, at=T0 + timedelta(minutes=2)),
            kill(3, at=T0 + timedelta(minutes=1)),
            kill(4, at=T0 + timedelta(minutes=2)),
        ],
    )
    async with db.session() as session:
        repository = KillmailRepository(session)
        assert [k.killmail_id for k in await repository.recent(10)] == [4, 2, 3, 1]
        assert [k.killmail_id for k in await repository.recent(2)] == [4, 2]
        assert await repository.recent(0) == []
        with pytest.raises(ValueError, match="limit"):
            await repository.recent(-1)


async def test_recent_since_includes_the_boundary_in_any_timezone(db: Database) -> None:
    await add(db, [kill(i, at=T0 + timedelta(minutes=i)) for i in range(1, 6)])
    boundary_in_utc_minus_5 = (T0 + timedelta(minutes=3)).astimezone(timezone(timedelta(hours=-5)))
    async with db.session() as session:
        repository = KillmailRepository(session)
        recent = await repository.recent(10, since=boundary_in_utc_minus_5)
        assert [k.killmail_id for k in recent] == [5, 4, 3]
        assert [k.killmail_id for k in await repository.recent(1, since=T0)] == [5]
        assert await repository.recent(10, since=T0 + timedelta(hours=1)) == []


async def test_update_value_changes_only_existing_kills(db: Database) -> None:
    await add(db, [kill(1, value=None), kill(2, value=5.0)])
    async with db.session() as session, session.begin():
        repository = KillmailRepository(session)
        assert await repository.update_value(1, 2_500_000_000.25) is True
        assert await repository.update_value(2, None) is True
        assert await repository.update_value(3, 1.0) is False
    async with db.session() as session:
        repository = KillmailRepository(session)
        first, second = await repository.get(1), await repository.get(2)
        assert first is not None
        assert second is not None
        assert first.value == 2_500_000_000.25
        assert second.value is None
        assert await repository.get(3) is None


async def test_state_set_get_overwrite_and_delete(db: Database, clock: FakeClock) -> None:
    async with db.session() as session, session.begin():
        state = StateRepository(session, clock=clock)
        assert await state.get("zkill.cursor") is None
        await state.set("zkill.cursor", "118000000")
        assert await state.get("zkill.cursor") == "118000000"
        clock.advance(timedelta(seconds=30))
        await state.set("zkill.cursor", "118000042")
        await state.set("r2z2.sequence", "9001")

    async with db.session() as session:
        state = StateRepository(session)
        assert await state.get("zkill.cursor") == "118000042"
        assert await state.get("r2z2.sequence") == "9001"
        rows = (await session.execute(select(StateRow.key, StateRow.updated_at))).all()
        assert dict(rows) == {
            "zkill.cursor": datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC),
            "r2z2.sequence": datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC),
        }

    async with db.session() as session, session.begin():
        state = StateRepository(session)
        await state.delete("zkill.cursor")
        await state.delete("never.set")

    async with db.session() as session:
        state = StateRepository(session)
        assert await state.get("zkill.cursor") is None
        assert await state.get("r2z2.sequence") == "9001"


async def test_state_keeps_long_text_values(db: Database) -> None:
    payload = "x" * 100_000
    async with db.session() as session, session.begin():
        await StateRepository(session).set("big", payload)
    async with db.session() as session:
        assert await StateRepository(session).get("big") == payload
