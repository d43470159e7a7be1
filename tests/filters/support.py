"""Helpers for the filter tests: enriched fixture kills, a fake entity lookup, and a plain
reference interpreter of filter trees to check the compiled predicates against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Within
from engine.model import EnrichedKill, KillmailRejected, PartyIds, parse_killmail

__all__ = ["FakeEntities", "evaluate", "load_enriched"]


def load_enriched(enricher: Enricher, path: Path) -> dict[int, EnrichedKill]:
    kills: dict[int, EnrichedKill] = {}
    for line in path.read_bytes().splitlines():
        try:
            kill = enricher.enrich(parse_killmail(line))
        except KillmailRejected:
            continue
        kills[kill.id] = kill
    return kills


class FakeEntities:
    """An EntityLookup answering from a table, recording each call (no ESI in tests)."""

    def __init__(self, table: Mapping[str, Sequence[tuple[str, int]]]) -> None:
        self.table = {name.lower(): list(found) for name, found in table.items()}
        self.calls: list[list[str]] = []

    async def lookup(self, names: Sequence[str]) -> Mapping[str, Sequence[tuple[str, int]]]:
        self.calls.append(list(names))
        return {n.lower(): self.table[n.lower()] for n in names if n.lower() in self.table}


_PARTY_ATTRIBUTE = {
    "character": "characters", "corporation": "corporations", "alliance": "alliances",
    "faction": "factions", "ship_type": "ship_types", "ship_group": "ship_groups",
    "ship_category": "ship_categories", "weapon_type": "weapon_types",
}


def _party(kill: EnrichedKill, role: str, attribute: str) -> set[int]:
    groups: list[PartyIds] = {
        "victim": [kill.victim_ids],
        "attacker": [kill.attacker_ids],
        "final_blow": [kill.final_blow_ids],
        "involved": [kill.victim_ids, kill.attacker_ids],
    }[role]
    return {i for ids in groups for i in getattr(ids, _PARTY_ATTRIBUTE[attribute])}


def _fact(field: str, kill: EnrichedKill, now: float) -> object:
    place = kill.place
    simple = {
        "system": place.system_id, "constellation": place.constellation_id,
        "region": place.region_id, "security": place.security, "space": place.space,
        "wormhole_class": place.wormhole_class, "value": kill.value, "points": kill.points,
        "attackers": kill.attackers.count, "npc": kill.npc, "solo": kill.solo,
        "awox": kill.awox, "labels": set(kill.labels), "tags": set(kill.victim_tags),
        "hour": kill.killmail.time.hour,
    }
    if field in simple:
        return simple[field]
    if field == "age_minutes":
        return (now - kill.killmail.time.timestamp()) / 60
    role, attribute = field.split(".")
    return _party(kill, role, attribute)


def evaluate(node: Node, kill: EnrichedKill, now: float, distances: Distances) -> bool:
    """What a filter means, written as plainly as possible."""
    if isinstance(node, AllOf):
        return all(evaluate(c, kill, now, distances) for c in node.children)
    if isinstance(node, AnyOf):
        return any(evaluate(c, kill, now, distances) for c in node.children)
    if isinstance(node, Not):
        return not evaluate(node.child, kill, now, distances)
    assert isinstance(node, Leaf)
    op, want = node.op, node.value
    if op == "within":
        assert isinstance(want, Within)
        system = kill.place.system_id
        if node.field == "jumps":
            jumps = distances.jumps(want.origin, system)
            return jumps is not None and jumps <= want.max
        return distances.lightyears(want.origin, system) <= want.max
    got = _fact(node.field, kill, now)
    if isinstance(got, set):
        values = set(want) if isinstance(want, tuple) else {want}
        shared = bool(got & values)
        return not shared if op in ("ne", "not_in") else shared
    if op in ("eq", "in", "contains", "contains_any"):
        return got in (want if isinstance(want, tuple) else (want,))
    if op in ("ne", "not_in"):
        return got not in (want if isinstance(want, tuple) else (want,))
    if got is None:
        return False
    if op == "between":
        low, high = want
        return low <= got <= high
    return {"gt": got > want, "gte": got >= want, "lt": got < want, "lte": got <= want}[op]
