"""Who took part in a kill, indexed (``kill_participants``): the rows written with each kill,
and the kills of an entity read back through them, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from engine.model import Attacker, Killmail, Victim
from engine.store.database import Database
from engine.store.participants import participants_of
from engine.store.queries import MAX_ENTITIES, KillQueryRepository
from engine.store.records import Participant, StoredKill
from engine.store.repositories import KillmailRepository
from engine.store.retention import RetentionPolicy, purge
from engine.store.tables import KillParticipantRow
from tests.engine.query_support import NOW, recorded

JITA, AMARR = 30000142, 30002187
PILOT, OTHER_PILOT, THIRD_PILOT = 2112000001, 2112000002, 2112000003
CORP, OTHER_CORP, NPC_CORP = 98000001, 98000002, 1000125
ALLIANCE = 99000001
FACTION = 500001
SHIP = 24692


def killmail(
    killmail_id: int,
    when: datetime,
    victim: Victim,
    attackers: Sequence[Attacker],
    system: int = JITA,
) -> Killmail:
    base = recorded()[0][0]
    return msgspec.structs.replace(
        base,
        killmail_id=killmail_id,
        time=when,
        solar_system_id=system,
        victim=victim,
        attackers=tuple(attackers),
    )


def pilot(character: int, corporation: int = CORP, alliance: int | None = None) -> Attacker:
    return Attacker(character, corporation, alliance, ship_type_id=SHIP, damage_done=100)


def loss(character: int, corporation: int = OTHER_CORP, alliance: int | None = None) -> Victim:
    return Victim(SHIP, character, corporation, alliance)


def record(km: Killmail, *, body: bool = True) -> StoredKill:
    """As the pipeline stores a kill: its body and its participants."""
    return StoredKill(
        km.killmail_id,
        km.hash or "",
        km.time,
        km.solar_system_id,
        None,
        body=msgspec.json.encode(km) if body else None,
        participants=participants_of(km),
    )


async def add(db: Database, kills: Sequence[StoredKill]) -> set[int]:
    async with db.session() as session, session.begin():
        return await KillmailRepository(session).add_new(kills)


async def rows(db: Database) -> set[tuple[int, int, str, datetime]]:
    party = KillParticipantRow
    async with db.session() as session:
        result = await session.execute(
            select(party.killmail_id, party.entity_id, party.role, party.killmail_time)
        )
        return {(k, e, r, t) for k, e, r, t in result}


async def newest(db: Database, limit: int | None, **options: Any) -> list[int]:
    async with db.session() as session:
        found = await KillQueryRepository(session).newest(limit, **options)
    return [kill.killmail_id for kill in found]


# --- which rows --------------------------------------------------------------------------


def test_each_entity_is_listed_once_with_the_side_it_was_on() -> None:
    # An awox: the victim's corporation and alliance are also among the attackers.
    km = killmail(
        1,
        NOW,
        Victim(SHIP, PILOT, CORP, ALLIANCE),
        [
            pilot(OTHER_PILOT, CORP, ALLIANCE),
            pilot(THIRD_PILOT, OTHER_CORP),
            pilot(OTHER_PILOT, CORP, ALLIANCE),
            Attacker(None, NPC_CORP, None, FACTION, ship_type_id=SHIP),
        ],
    )
    found = participants_of(km)
    assert len(found) == len({p.entity_id for p in found})
    assert {p.entity_id: p.role for p in found} == {
        PILOT: "victim",
        CORP: "both",
        ALLIANCE: "both",
        OTHER_PILOT: "attacker",
        THIRD_PILOT: "attacker",
        OTHER_CORP: "attacker",
        NPC_CORP: "attacker",
        FACTION: "attacker",
    }


async def test_add_new_writes_each_participant_with_the_kill_time(db: Database) -> None:
    first = killmail(1, NOW, loss(PILOT), [pilot(OTHER_PILOT, CORP, ALLIANCE)])
    second = killmail(2, NOW - timedelta(hours=1), loss(OTHER_PILOT, CORP), [pilot(PILOT)])
    assert await add(db, [record(first), record(second)]) == {1, 2}
    assert await rows(db) == {
        (1, PILOT, "victim", NOW),
        (1, OTHER_CORP, "victim", NOW),
        (1, OTHER_PILOT, "attacker", NOW),
        (1, CORP, "attacker", NOW),
        (1, ALLIANCE, "attacker", NOW),
        (2, OTHER_PILOT, "victim", second.time),
        (2, CORP, "both", second.time),
        (2, PILOT, "attacker", second.time),
    }


async def test_a_kill_stored_again_or_an_entity_listed_twice_adds_no_row(db: Database) -> None:
    km = killmail(1, NOW, loss(PILOT), [pilot(OTHER_PILOT)])
    await add(db, [record(km)])
    before = await rows(db)
    # Stored again (another feed, a later batch), even listing someone else: nothing changes.
    again = StoredKill(1, "h", NOW, JITA, None, participants=(Participant(THIRD_PILOT, "victim"),))
    assert await add(db, [again]) == set()
    assert await rows(db) == before
    twice = (Participant(THIRD_PILOT, "attacker"), Participant(THIRD_PILOT, "attacker"))
    assert await add(db, [StoredKill(2, "h", NOW, JITA, None, participants=twice)]) == {2}
    assert await rows(db) == before | {(2, THIRD_PILOT, "attacker", NOW)}


# --- the kills of an entity --------------------------------------------------------------


async def test_the_kills_of_an_entity_come_newest_first_and_page(db: Database) -> None:
    hour = timedelta(hours=1)
    kills = [
        killmail(10, NOW, loss(PILOT), [pilot(OTHER_PILOT)]),
        killmail(11, NOW - hour, loss(OTHER_PILOT), [pilot(PILOT)], AMARR),
        killmail(12, NOW - hour, loss(THIRD_PILOT), [pilot(OTHER_PILOT)]),  # not PILOT's
        # Two of the same second: the higher id first.
        killmail(13, NOW - 2 * hour, loss(THIRD_PILOT), [pilot(PILOT), pilot(PILOT)]),
        killmail(14, NOW - 2 * hour, loss(PILOT, CORP), [pilot(OTHER_PILOT)], AMARR),
        killmail(15, NOW - 3 * hour, loss(THIRD_PILOT), [pilot(PILOT)]),
    ]
    unbodied = killmail(16, NOW - 4 * hour, loss(PILOT), [pilot(OTHER_PILOT)])
    await add(db, [*map(record, kills), record(unbodied, body=False)])

    assert await newest(db, None, mentioning=[PILOT]) == [10, 11, 14, 13, 15]
    page = await newest(db, 2, mentioning=[PILOT])
    assert page == [10, 11]
    async with db.session() as session:
        repo = KillQueryRepository(session)
        second = await repo.newest(2, mentioning=[PILOT], before=(NOW - hour, 11))
        assert [k.killmail_id for k in second] == [14, 13]
        last = second[-1]
        rest = await repo.newest(
            2, mentioning=[PILOT], before=(last.killmail_time, last.killmail_id)
        )
        assert [k.killmail_id for k in rest] == [15]
        assert second[0].killmail_time == NOW - 2 * hour
        assert second[0].solar_system_id == AMARR
        assert msgspec.json.decode(second[0].body)["killmail_id"] == 14
    assert await newest(db, None, mentioning=[PILOT], since=NOW - 2 * hour) == [10, 11, 14, 13]
    assert await newest(db, None, mentioning=[PILOT], systems=[AMARR]) == [11, 14]
    # Several entities: their kills merged in order, a kill both were on listed once.
    assert await newest(db, None, mentioning=[PILOT, THIRD_PILOT]) == [10, 12, 11, 14, 13, 15]
    assert await newest(db, 3, mentioning=[THIRD_PILOT, PILOT]) == [10, 12, 11]
    assert await newest(db, None, mentioning=[CORP]) == [10, 12, 11, 14, 13, 15]
    assert await newest(db, None, mentioning=[999_999_999]) == []


async def test_a_number_elsewhere_on_a_kill_makes_no_participant(db: Database) -> None:
    # The id is a ship, a weapon, a damage figure and the kill's own id: nobody took part.
    number = 5
    elsewhere = killmail(
        number,
        NOW,
        Victim(number, PILOT, CORP, damage_taken=number),
        [Attacker(OTHER_PILOT, CORP, None, None, number, number, number)],
    )
    # 55 holds "5" in its digits; only an exact id counts.
    longer = killmail(6, NOW, loss(55, 555), [pilot(OTHER_PILOT)])
    on_it = killmail(7, NOW - timedelta(minutes=1), loss(PILOT), [pilot(number)])
    await add(db, [record(elsewhere), record(longer), record(on_it)])
    assert await newest(db, None, mentioning=[number]) == [7]


async def test_more_entities_than_one_query_may_ask_for_are_refused(db: Database) -> None:
    async with db.session() as session:
        repo = KillQueryRepository(session)
        assert await repo.newest(10, mentioning=range(MAX_ENTITIES)) == []
        with pytest.raises(ValueError, match=f"at most {MAX_ENTITIES} entities"):
            await repo.newest(10, mentioning=range(MAX_ENTITIES + 1))


# --- retention ---------------------------------------------------------------------------


async def test_retention_deletes_the_participants_of_the_kills_it_deletes(db: Database) -> None:
    old = killmail(1, NOW - timedelta(days=91), loss(PILOT), [pilot(OTHER_PILOT)])
    kept = killmail(2, NOW - timedelta(days=89), loss(PILOT), [pilot(THIRD_PILOT)])
    await add(db, [record(old), record(kept)])

    report = await purge(db, RetentionPolicy(kill_days=90, outbox_days=0), clock=lambda: NOW)

    assert report.kills == 1
    assert {killmail_id for killmail_id, *_ in await rows(db)} == {2}
    assert await newest(db, None, mentioning=[PILOT]) == [2]
    assert await newest(db, None, mentioning=[OTHER_PILOT]) == []
