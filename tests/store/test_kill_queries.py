"""The query repository on SQLite and PostgreSQL: bodies by time, place and value (by
participant: test_participants.py)."""

from __future__ import annotations

from datetime import timedelta

from engine.store.database import Database
from engine.store.queries import KillQueryRepository, NameMatch
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
