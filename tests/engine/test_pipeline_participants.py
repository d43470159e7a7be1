"""The pipeline stores who took part in each kill, as the recorded ESI JSON lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.tables import KillParticipantRow
from tests.conftest import KILLMAILS

_KEYS = ("character_id", "corporation_id", "alliance_id", "faction_id")


def _expected(esi: dict[str, Any]) -> set[tuple[int, int, str]]:
    victim = _ids([esi["victim"]])
    attackers = _ids(esi["attackers"])
    sides = {e: "victim" for e in victim - attackers}
    sides |= {e: "attacker" for e in attackers - victim}
    sides |= {e: "both" for e in victim & attackers}
    return {(esi["killmail_id"], e, side) for e, side in sides.items()}


def _ids(parties: list[dict[str, Any]]) -> set[int]:
    return {p[k] for p in parties for k in _KEYS if p.get(k) is not None}


async def test_every_stored_kill_has_its_participants(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kw.db'}"
    await upgrade(url)
    expected: set[tuple[int, int, str]] = set()
    for line in KILLMAILS.read_bytes().splitlines():
        record = orjson.loads(line)
        if record["esi"] is not None:
            expected |= _expected(record["esi"])
    async with Database(url) as database:
        engine = Engine(
            sources=[ReplaySource(KILLMAILS)],
            enricher=Enricher(Universe.load()),
            database=database,
            sinks=(),
            max_age=None,
            batch_size=50,
        )
        async with engine:
            await engine.wait()
        party = KillParticipantRow
        async with database.session() as session:
            found = await session.execute(select(party.killmail_id, party.entity_id, party.role))
            assert {(k, e, r) for k, e, r in found} == expected
