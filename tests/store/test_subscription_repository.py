"""The subscription rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.store.database import Database
from engine.store.records import StoredSubscription
from engine.store.subscriptions import SubscriptionRepository, dm_destination

from .support import FakeClock

GUILD, OTHER_GUILD = 111, 222
CHANNEL, OTHER_CHANNEL = "channel:1001", "channel:2002"
ALICE, BOB = 501, 502
TREE = {"v": 1, "all": [{"field": "region", "op": "eq", "value": 10000060},
                        {"field": "value", "op": "gte", "value": 1_500_000_000.5}]}


async def add(db: Database, clock: FakeClock, **fields: object) -> StoredSubscription:
    values: dict[str, object] = {
        "destination": CHANNEL, "guild_id": GUILD, "owner_id": ALICE, "filter": TREE,
    }
    values.update(fields)
    async with db.session() as session, session.begin():
        return await SubscriptionRepository(session, clock=clock).add(**values)  # type: ignore[arg-type]


async def test_add_returns_every_column_and_get_reads_the_same_back(db, clock):
    added = await add(db, clock, text="region = Delve and value >= 1.5b", preset=None,
                      style="compact", mention="role:42", mention_cooldown_seconds=60,
                      max_age_minutes=30, min_value=2e9)
    assert added.id > 0
    assert added.filter == TREE
    assert (added.style, added.mention) == ("compact", "role:42")
    assert added.mention_cooldown_seconds == 60
    assert (added.max_age_minutes, added.min_value) == (30, 2e9)
    assert added.paused is False
    assert added.pause_reason is None
    assert added.created_at == added.updated_at == clock.now
    assert added.created_at.tzinfo is not None
    async with db.session() as session:
        assert await SubscriptionRepository(session).get(added.id) == added
        assert await SubscriptionRepository(session).get(added.id + 1000) is None


async def test_defaults_match_the_table_defaults(db, clock):
    added = await add(db, clock)
    assert (added.style, added.mention, added.mention_cooldown_seconds) == ("full", None, 900)
    assert (added.text, added.preset, added.max_age_minutes, added.min_value) == (
        None, None, None, None)


async def test_lists_by_destination_guild_and_dm_owner_in_creation_order(db, clock):
    first = await add(db, clock)
    other_guild = await add(db, clock, destination=OTHER_CHANNEL, guild_id=OTHER_GUILD)
    second = await add(db, clock, destination="channel:1003")
    alice_dm = await add(db, clock, destination=dm_destination(ALICE), guild_id=None)
    bob_dm = await add(db, clock, destination=dm_destination(BOB), guild_id=None, owner_id=BOB)
    async with db.session() as session:
        repo = SubscriptionRepository(session)
        assert [s.id for s in await repo.for_destination(CHANNEL)] == [first.id]
        assert [s.id for s in await repo.for_guild(GUILD)] == [first.id, second.id]
        assert [s.id for s in await repo.for_guild(OTHER_GUILD)] == [other_guild.id]
        assert [s.id for s in await repo.for_owner_dms(ALICE)] == [alice_dm.id]
        assert [s.id for s in await repo.for_owner_dms(BOB)] == [bob_dm.id]
        assert await repo.count_for_owner_dms(ALICE) == 1
        assert await repo.count_for_owner_dms(999) == 0
        assert await repo.count_for_destination(CHANNEL) == 1
        assert set(await repo.get_many([first.id, bob_dm.id, 123456])) == {first.id, bob_dm.id}


async def test_update_changes_only_the_given_columns_and_moves_updated_at(db, clock):
    added = await add(db, clock, mention="here")
    clock.advance(timedelta(minutes=5))
    new_tree = {"v": 1, "field": "npc", "op": "eq", "value": False}
    async with db.session() as session, session.begin():
        repo = SubscriptionRepository(session, clock=clock)
        updated = await repo.update(added.id, filter=new_tree, mention=None, style="link")
        assert await repo.update(added.id + 1000, style="link") is None
    assert updated is not None
    assert (updated.filter, updated.mention, updated.style) == (new_tree, None, "link")
    assert updated.created_at == added.created_at
    assert updated.updated_at == added.updated_at + timedelta(minutes=5)
    assert updated.destination == added.destination


async def test_update_refuses_columns_that_are_not_editable(db, clock):
    added = await add(db, clock)
    async with db.session() as session:
        repo = SubscriptionRepository(session, clock=clock)
        with pytest.raises(TypeError, match="created_at"):
            await repo.update(added.id, created_at=datetime(2020, 1, 1, tzinfo=UTC))
        with pytest.raises(TypeError, match="colour"):
            await repo.update(added.id, colour="red")


async def test_delete_says_whether_it_removed_something(db, clock):
    added = await add(db, clock)
    async with db.session() as session, session.begin():
        repo = SubscriptionRepository(session)
        assert await repo.delete(added.id) is True
        assert await repo.delete(added.id) is False
        assert await repo.get(added.id) is None


async def test_pause_by_ids_and_resume_and_all_active(db, clock):
    one, two, three = [await add(db, clock) for _ in range(3)]
    async with db.session() as session, session.begin():
        repo = SubscriptionRepository(session, clock=clock)
        paused_now = await repo.pause([one.id, three.id, 999_999], "paused by Alice")
        assert paused_now == [one.id, three.id]
        assert [s.id for s in await repo.all_active()] == [two.id]
        paused = await repo.get(one.id)
        assert paused is not None
        assert (paused.paused, paused.pause_reason) == (True, "paused by Alice")
        resumed = await repo.resume(one.id)
        assert resumed is not None
        assert (resumed.paused, resumed.pause_reason) == (False, None)
        assert await repo.resume(999_999) is None
        assert [s.id for s in await repo.all_active()] == [one.id, two.id]


async def test_pause_a_destination_keeps_an_earlier_reason_and_reports_only_new_pauses(db, clock):
    mine = await add(db, clock)
    theirs = await add(db, clock)
    elsewhere = await add(db, clock, destination=OTHER_CHANNEL, guild_id=OTHER_GUILD)
    async with db.session() as session, session.begin():
        repo = SubscriptionRepository(session, clock=clock)
        assert await repo.pause([mine.id], "holiday") == [mine.id]
        assert await repo.pause(CHANNEL, "channel deleted (404)") == [theirs.id]
        assert await repo.pause(CHANNEL, "again") == []
        kept = await repo.get(mine.id)
        assert kept is not None
        assert kept.pause_reason == "holiday"
        assert [s.id for s in await repo.all_active()] == [elsewhere.id]


async def test_pausing_many_ids_works_past_one_statement_chunk(db, clock):
    async with db.session() as session, session.begin():
        repo = SubscriptionRepository(session, clock=clock)
        ids = [(await repo.add(destination=CHANNEL, guild_id=GUILD, owner_id=ALICE,
                               filter=TREE)).id for _ in range(1005)]
        assert await repo.pause(ids, "bulk") == sorted(ids)
        assert await repo.all_active() == []
