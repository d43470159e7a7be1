"""`killwatch enrich FILE.jsonl`: print the enriched view of each kill, one JSON object a line.

For looking at what filters and notifications will see. It reads the fixture format, R2Z2
envelopes, RedisQ packages or bare ESI killmails (whatever ``parse_killmail`` takes), reports
each line it cannot use on stderr and goes on. Offline, names come from the bundled universe
alone (types, places, NPC corporations, factions); online, ESI's names fill in players.
Names it cannot resolve are null.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import aiohttp
import orjson

from bot.config import Settings
from engine.enrich.catalog import TypeCatalog
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.esi.client import EsiClient
from engine.esi.names import NameResolver
from engine.model import (
    Attacker,
    EnrichedKill,
    KillmailRejected,
    Party,
    TypeInfo,
    Victim,
    parse_killmail,
)
from engine.sources.http import HttpTimeouts, user_agent

__all__ = ["EnrichCounts", "enrich_lines", "kill_view", "register"]

if TYPE_CHECKING:  # not subscriptable at run time before Python 3.12
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
EnrichCounts = tuple[int, int]  # kills printed, lines rejected


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "enrich",
        help="print every derived fact of the kills in a JSONL file, as JSON lines",
        description="Parse and enrich each kill of a JSONL file (the fixture format, R2Z2 "
        "envelopes, RedisQ packages or ESI killmails) and print one JSON object per kill: "
        "place, victim, attackers, flags, value. Lines that are not killmails are reported on "
        "stderr. Player names come from ESI (all in one lookup); with --offline, or when ESI "
        "cannot be reached, names not in the bundled static data are null.",
    )
    parser.add_argument("file", type=Path, help="the .jsonl file to read")
    parser.add_argument(
        "--offline",
        action="store_true",
        help="do not ask ESI for player names (also off when esi.enabled is false)",
    )
    parser.set_defaults(handler=_enrich)


def _enrich(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"killwatch: no such file: {path}", file=sys.stderr)
        return 2
    enricher = Enricher(Universe.load(data_dir=settings.engine.data_dir))
    names: dict[int, str] = {}
    if not args.offline and settings.esi.enabled:
        with path.open("rb") as lines:
            names = asyncio.run(esi_names(settings, _player_ids(lines)))
    try:
        with path.open("rb") as lines:
            enrich_lines(lines, enricher, sys.stdout, sys.stderr, names)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly like other Unix tools, and point
        # stdout at nothing so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


async def esi_names(settings: Settings, ids: set[int], budget: float = 10.0) -> dict[int, str]:
    """Player names from ESI, as many as it gives within `budget` s; never raises for ESI."""
    if not ids:
        return {}
    async with aiohttp.ClientSession() as session:
        client = EsiClient(
            session,
            base_url=settings.esi.url,
            user_agent=user_agent(settings.feeds.contact),
            timeouts=HttpTimeouts(
                settings.feeds.connect_timeout_seconds, settings.feeds.read_timeout_seconds
            ),
        )
        async with NameResolver(client, drain=0.0) as resolver:
            return await resolver.resolve(ids, budget)


def _player_ids(lines: Iterable[bytes]) -> set[int]:
    ids: set[int] = set()
    for line in lines:
        try:
            killmail = parse_killmail(line)
        except KillmailRejected:
            continue  # reported when the line is printed
        parties: list[Victim | Attacker] = [killmail.victim, *killmail.attackers]
        for party in parties:
            ids.update(
                entity
                for entity in (party.character_id, party.corporation_id, party.alliance_id)
                if entity is not None
            )
    return ids


def enrich_lines(
    lines: Iterable[bytes],
    enricher: Enricher,
    out: IO[str],
    err: IO[str],
    names: Mapping[int, str] | None = None,
) -> EnrichCounts:
    """Write the view of each kill in ``lines`` to ``out``; say on ``err`` what was skipped."""
    printed = rejected = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            kill = enricher.enrich(parse_killmail(line))
        except KillmailRejected as exc:
            rejected += 1
            print(f"line {number}: rejected: {exc}", file=err)
            continue
        out.write(orjson.dumps(kill_view(kill, enricher.types, names)).decode())
        out.write("\n")
        printed += 1
    return printed, rejected


def kill_view(
    kill: EnrichedKill, types: TypeCatalog, names: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The enriched kill as plain JSON-ready data.

    ``types`` names weapons and ship groups; ``names`` adds to the names the kill carries (NPC
    corporations and factions) those of players, alliances and the like.
    """
    known: Mapping[int, str] = kill.names if names is None else {**kill.names, **names}
    place = kill.place
    known_system = place.constellation_id is not None
    attackers = kill.attackers
    return {
        "killmail_id": kill.id,
        "time": kill.killmail.time.isoformat().replace("+00:00", "Z"),
        "url": kill.killmail.url,
        "system": {
            "id": place.system_id,
            "name": place.system_name if known_system else None,
            "security": place.security if known_system else None,
            "space": place.space,
            "wormhole_class": place.wormhole_class,
            "constellation": _entity(place.constellation_id, place.constellation_name),
            "region": _entity(place.region_id, place.region_name),
            "nearest_celestial": place.nearest_celestial,
        },
        "victim": {
            **_party(kill.victim, known),
            "tags": sorted(kill.victim_tags),
            "ship_class": kill.ship_class,
            "damage_taken": kill.victim.damage,
        },
        "attackers": {
            "count": attackers.count,
            "players": attackers.players,
            "npcs": attackers.npcs,
            "final_blow": _attacker(attackers.final_blow, types, known),
            "top_damage": _attacker(attackers.top_damage, types, known),
            "main_group": {
                "corporation": _named(attackers.main_corporation_id, known),
                "alliance": _named(attackers.main_alliance_id, known),
                "ship_group": _ship_group(attackers.main_ship_group_id, types),
            },
        },
        "value": kill.value,
        "value_source": kill.value_source,
        "npc": kill.npc,
        "solo": kill.solo,
        "awox": kill.awox,
        "labels": list(kill.labels),
        "points": kill.points,
        "modules": {
            "tech1": kill.modules.tech1,
            "tech2": kill.modules.tech2,
            "faction": kill.modules.faction,
            "deadspace": kill.modules.deadspace,
            "officer": kill.modules.officer,
            "other": kill.modules.other,
        },
    }


def _entity(entity_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if entity_id is None else {"id": entity_id, "name": name}


def _named(entity_id: int | None, names: Mapping[int, str]) -> dict[str, Any] | None:
    return None if entity_id is None else {"id": entity_id, "name": names.get(entity_id)}


def _party(party: Party, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "character": _named(party.character_id, names),
        "corporation": _named(party.corporation_id, names),
        "alliance": _named(party.alliance_id, names),
        "faction": _named(party.faction_id, names),
        "ship": _ship(party.ship),
    }


def _attacker(
    party: Party | None, types: TypeCatalog, names: Mapping[int, str]
) -> dict[str, Any] | None:
    if party is None:
        return None
    weapon = party.weapon_type_id
    return {
        **_party(party, names),
        "weapon": None if weapon is None else _type(types.info(weapon)),
        "damage": party.damage,
    }


def _type(info: TypeInfo) -> dict[str, Any]:
    known = info.group_id is not None  # an unknown type only has a placeholder name
    return {"type_id": info.type_id, "name": info.name if known else None}


def _ship(ship: TypeInfo | None) -> dict[str, Any] | None:
    if ship is None:
        return None
    return {
        **_type(ship),
        "group_id": ship.group_id,
        "group": ship.group_name,
        "category_id": ship.category_id,
        "category": ship.category_name,
    }


def _ship_group(group_id: int | None, types: TypeCatalog) -> dict[str, Any] | None:
    if group_id is None:
        return None
    group = types.universe.group(group_id)
    return {"id": group_id, "name": group.name if group is not None else None}
