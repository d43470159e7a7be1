"""Revision 0007 on both backends: kills stored before it get their participants, in batches,
and a downgrade takes the table away again without touching the kills."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import URL, func, insert, inspect, select
from sqlalchemy.engine import Connection

from engine.store.database import Database
from engine.store.migrate import downgrade, upgrade
from engine.store.participants import participants_of
from engine.store.queries import KillQueryRepository
from engine.store.tables import KillmailRow, KillParticipantRow
from tests.engine.query_support import NOW, recorded

# More than the revision's batch of 2,000 kills, so that it has to go on past the first.
KILLS = 2_150
UNREADABLE, BODILESS = 1, 2


def _stored_before(count: int) -> tuple[list[dict[str, Any]], set[tuple[int, int, str]]]:
    """Rows for `killmails` as revision 0006 held them, and the participants they imply."""
    kills = [km for km, _ in recorded()]
    rows: list[dict[str, Any]] = []
    expected: set[tuple[int, int, str]] = set()
    for n in range(count):
        killmail_id = 10 + n
        km = msgspec.structs.replace(
            kills[n % len(kills)], killmail_id=killmail_id, time=NOW - timedelta(minutes=n)
        )
        rows.append(_row(killmail_id, km.time, msgspec.json.encode(km)))
        expected |= {(killmail_id, p.entity_id, p.role) for p in participants_of(km)}
    rows.append(_row(UNREADABLE, NOW, b'{"victim": nonsense'))
    rows.append(_row(BODILESS, NOW, None))
    return rows, expected


def _row(killmail_id: int, when: Any, body: bytes | None) -> dict[str, Any]:
    return {
        "killmail_id": killmail_id,
        "hash": "h",
        "killmail_time": when,
        "solar_system_id": 30000142,
        "value": None,
        "received_at": NOW,
        "body": body,
    }


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_fills_participants_from_stored_bodies_and_downgrade_drops_them(
    database_url: URL,
) -> None:
    await upgrade(database_url, "0006")
    rows, expected = _stored_before(KILLS)
    async with Database(database_url) as db, db.session() as session, session.begin():
        await session.execute(insert(KillmailRow), rows)

    await upgrade(database_url)

    party = KillParticipantRow
    async with Database(database_url) as db, db.session() as session:
        found = await session.execute(select(party.killmail_id, party.entity_id, party.role))
        assert {(k, e, r) for k, e, r in found} == expected
        # The last kill of the second batch, with its kill's time.
        times = await session.scalars(
            select(party.killmail_time).where(party.killmail_id == 10 + KILLS - 1)
        )
        assert set(times) == {NOW - timedelta(minutes=KILLS - 1)}
        # Read back through the index as /kills does.
        somebody = next(e for k, e, _ in expected if k == 10)
        newest = await KillQueryRepository(session).newest(1, mentioning=[somebody])
        assert [k.killmail_id for k in newest] == [10]

    await downgrade(database_url, "0006")
    async with Database(database_url) as db:
        async with db.engine.connect() as connection:
            assert "kill_participants" not in await connection.run_sync(_tables)
        async with db.session() as session:
            stored = await session.execute(select(func.count()).select_from(KillmailRow))
            assert stored.scalar_one() == KILLS + 2
