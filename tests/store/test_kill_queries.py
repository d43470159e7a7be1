"""The query repository on SQLite and PostgreSQL: bodies by time, place, value, participant."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from engine.store.database import Database
from engine.store.queries import KillQueryRepository, NameMatch, body_needles
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository
from tests.engine.query_support import NOW, Placed, place, store, store_names

JITA, AMARR = 30000142, 30002187


def _kills() -> list[Placed]:
    # Five recorded kills an hour apart, newest first; the last two in Amarr.
    return [
        place(i, NOW - timedelta(hours=i), AMARR if i >= 3 else JITA) for i in range(5)
    ]


async def test_newest_pages_by_time_and_place(db: Database) -> None:
    kills = _kills()
    await store(db, kills)
    async with db.session() as session:
        repo = KillQueryRepository(session)
        assert [k.killmail_id for k in await repo.newest(None)] == [p.id for p in kills]
        page = await repo.newest(2)
        assert [k.killmail_id for k in page] == [kills[0].id, kills[1].id]
        rest = await repo.newest(10, before=(page[-1].killmail_time, page[-1].killmail_id))
        assert [k.killmail_id for k in rest] == [p.id for p in kills[2:]]
        amarr = await repo.newest(10, systems=[AMARR])
        assert [k.killmail_id for k in amarr] == [kills[3].id, kills[4].id]
        recent = await repo.newest(10, since=NOW - timedelta(hours=1))
        assert [k.killmail_id for k in recent] == [kills[0].id, kills[1].id]
        assert recent[0].body.startswith(b"{")
        assert recent[0].killmail_time == NOW


async def test_bodies_are_found_by_a_participant_inside_the_database(db: Database) -> None:
    kills = _kills()
    await store(db, kills)
    victim = kills[2].killmail.victim.character_id
    assert victim is not None
    holding = [p.id for p in kills if any(n in _body(p) for n in body_needles(victim))]
    async with db.session() as session:
        repo = KillQueryRepository(session)
        found = await repo.newest(None, mentioning=[victim])
        assert [k.killmail_id for k in found] == holding
        assert kills[2].id in holding
        assert await repo.newest(None, mentioning=[999_999_999_999]) == []


async def test_an_id_closing_a_struct_is_found_and_a_longer_number_is_not(db: Database) -> None:
    # msgspec writes every field today, so an entity id never ends a struct; a body written
    # with defaults left out would end one with it.
    bodies = {
        1: b'{"victim":{"character_id":5}}',
        2: b'{"victim":{"character_id":55,"x":1}}',
        3: b'{"victim":{"damage_taken":5,"x":1}}',
    }
    rows = [
        StoredKill(i, "h", NOW - timedelta(minutes=i), JITA, None, body=body)
        for i, body in bodies.items()
    ]
    async with db.session() as session, session.begin():
        await KillmailRepository(session).add_new(rows)
    async with db.session() as session:
        found = await KillQueryRepository(session).newest(None, mentioning=[5])
    assert [k.killmail_id for k in found] == [1]


def _body(p: Placed) -> bytes:
    return msgspec.json.encode(p.killmail)


async def test_most_valuable_floor_and_count(db: Database) -> None:
    kills = _kills()
    await store(db, kills)
    valued = sorted((p for p in kills if p.value is not None), key=lambda p: -(p.value or 0))
    async with db.session() as session:
        repo = KillQueryRepository(session)
        top = await repo.most_valuable(NOW - timedelta(days=1), 3)
        assert [k.killmail_id for k in top] == [p.id for p in valued[:3]]
        in_amarr = await repo.most_valuable(NOW - timedelta(days=1), 3, systems=[AMARR])
        assert {k.solar_system_id for k in in_amarr} == {AMARR}
        assert await repo.floor(NOW - timedelta(days=1), 3) == kills[2].time
        assert await repo.floor(NOW - timedelta(days=1), 6) is None
        assert await repo.count(NOW - timedelta(hours=2)) == 3
        assert await repo.count(NOW - timedelta(days=1), systems=[AMARR]) == 2


async def test_names_match_ignoring_case_and_complete_by_prefix(db: Database) -> None:
    await store_names(db, {
        1: ("Goonswarm Federation", "alliance"),
        2: ("Goon Corp", "corporation"),
        3: ("100% Goon", None),
        4: ("Other", "character"),
    })
    async with db.session() as session:
        repo = KillQueryRepository(session)
        assert await repo.names("GOONSWARM federation ") == [
            NameMatch(1, "Goonswarm Federation", "alliance")
        ]
        assert await repo.names("") == []
        starting = await repo.names_starting("goon", 10)
        assert [m.name for m in starting] == ["Goon Corp", "Goonswarm Federation"]
        only = await repo.names_starting("Goon", 10, categories=["alliance"])
        assert [m.entity_id for m in only] == [1]
        # % and _ are taken literally, not as LIKE wildcards.
        assert [m.entity_id for m in await repo.names_starting("100%", 10)] == [3]
        assert await repo.names_starting("1_0", 10) == []
