"""The recorded kills, enriched and named as ESI would name them, for the rendering tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import msgspec
import orjson

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import (
    Attacker,
    EnrichedKill,
    Killmail,
    KillmailRejected,
    Victim,
    parse_killmail,
)

__all__ = ["DATA", "enricher", "named_kills"]

DATA = Path(__file__).resolve().parent.parent / "data"


@cache
def enricher() -> Enricher:
    return Enricher(Universe.load())


@cache
def named_kills() -> dict[int, EnrichedKill]:
    """Every usable fixture kill, with the names tests/data/esi_names.json knows for its ids.

    Ids the recording has no name for stay unnamed, as they would after a failed lookup.
    """
    known = {row["id"]: row["name"] for row in orjson.loads((DATA / "esi_names.json").read_bytes())}
    kills: dict[int, EnrichedKill] = {}
    for line in (DATA / "killmails.jsonl").read_bytes().splitlines():
        try:
            kill = enricher().enrich(parse_killmail(line))
        except KillmailRejected:
            continue
        names = {i: known[i] for i in _ids(kill.killmail) if i in known}
        kills[kill.id] = msgspec.structs.replace(kill, names={**names, **kill.names})
    return kills


def _ids(km: Killmail) -> set[int]:
    ids: set[int] = set()
    parties: list[Victim | Attacker] = [km.victim, *km.attackers]
    for party in parties:
        for entity in (
            party.character_id,
            party.corporation_id,
            party.alliance_id,
            party.faction_id,
        ):
            if entity is not None:
                ids.add(entity)
    return ids
