"""Attach every derived fact to a killmail: place, victim, attackers, flags, value, fit.

What each fact means is documented where it is computed: ``tags`` (victim tags and class),
``attackers`` (counts, final blow, top damage, main side, ids), ``facts`` (flags, modules),
``values`` (a computed loss value), ``space`` (security and space bands).
"""

from __future__ import annotations

from typing import Final

from engine.enrich.attackers import party_ids, summarize_attackers
from engine.enrich.catalog import TypeCatalog
from engine.enrich.facts import kill_flags, module_counts, victim_party
from engine.enrich.space import display_security, space_band
from engine.enrich.universe import Universe
from engine.enrich.values import PriceLookup, loss_value
from engine.model import Attacker, EnrichedKill, Killmail, PartyIds, Place, TypeInfo, Victim

__all__ = ["VALUE_COMPUTED", "VALUE_ZKB", "Enricher"]

VALUE_ZKB: Final = "zkb"  # zKillboard's totalValue
VALUE_COMPUTED: Final = "computed"  # ship + items at the prices given to the Enricher


class Enricher:
    """Pure and synchronous: everything it needs is in memory, so it never holds a kill back.

    ``prices`` values kills that come without zKillboard's value; it is read at enrichment
    time, so a price book refreshed in place is used from the next kill on.
    """

    def __init__(self, universe: Universe, prices: PriceLookup | None = None) -> None:
        self._universe = universe
        self._types = TypeCatalog(universe)
        self._prices = prices
        self._places: dict[int, Place] = {}

    @property
    def types(self) -> TypeCatalog:
        return self._types

    def enrich(self, killmail: Killmail) -> EnrichedKill:
        types = self._types
        ship = types.info(killmail.victim.ship_type_id)
        victim = victim_party(killmail.victim, ship)
        tags, ship_class = types.classify(ship.type_id)
        attackers, attacker_ids = summarize_attackers(killmail.attackers, types)
        final_blow = attackers.final_blow
        npc, solo, awox = kill_flags(killmail, types)
        value, value_source = self._value(killmail)
        zkb = killmail.zkb
        return EnrichedKill(
            killmail=killmail,
            place=self.place(killmail.solar_system_id),
            victim_ship=ship,
            final_blow_ship=final_blow.ship if final_blow is not None else None,
            value=value,
            value_source=value_source,
            names=self._local_names(killmail),
            victim=victim,
            victim_tags=tags,
            ship_class=ship_class,
            attackers=attackers,
            victim_ids=party_ids(victim),
            attacker_ids=attacker_ids,
            final_blow_ids=party_ids(final_blow) if final_blow is not None else _NO_IDS,
            npc=npc,
            solo=solo,
            awox=awox,
            labels=zkb.labels if zkb is not None else (),
            points=zkb.points if zkb is not None else None,
            modules=module_counts(killmail.victim.items, types),
        )

    def place(self, system_id: int) -> Place:
        found = self._places.get(system_id)
        if found is not None:
            return found
        u = self._universe
        system = u.system(system_id)
        if system is None:
            # A system newer than our static data: keep the kill, say what we know.
            return Place(
                system_id, f"System {system_id}", None, None, None, None, 0.0, "unknown", None
            )
        constellation = u.constellation(system.constellation_id)
        region = u.region(system.region_id)
        space = space_band(system)
        place = Place(
            system.id,
            system.name,
            system.constellation_id,
            constellation.name if constellation else None,
            system.region_id,
            region.name if region else None,
            display_security(system.security),
            space,
            # The static data gives k-space classes too (7 high, 8 low, 9 null); a filter on
            # wormhole class means J-space, Thera and the like.
            system.wormhole_class if space == "wormhole" else None,
        )
        self._places[system_id] = place
        return place

    def type_info(self, type_id: int) -> TypeInfo:
        return self._types.info(type_id)

    def _value(self, killmail: Killmail) -> tuple[float | None, str | None]:
        zkb = killmail.zkb
        if zkb is not None and zkb.total_value is not None:
            return zkb.total_value, VALUE_ZKB
        if self._prices is not None:
            value = loss_value(killmail.victim, self._prices)
            if value is not None:
                return value, VALUE_COMPUTED
        return None, None

    def _local_names(self, killmail: Killmail) -> dict[int, str]:
        """NPC corporations and factions are in the static data; players need ESI."""
        u = self._universe
        names: dict[int, str] = {}
        parties: list[Victim | Attacker] = [killmail.victim, *killmail.attackers]
        for party in parties:
            corp_id, faction_id = party.corporation_id, party.faction_id
            if corp_id is not None and corp_id not in names:
                corp = u.npc_corporation(corp_id)
                if corp is not None:
                    names[corp_id] = corp.name
            if faction_id is not None and faction_id not in names:
                faction = u.faction(faction_id)
                if faction is not None:
                    names[faction_id] = faction.name
        return names


_NO_IDS: Final = PartyIds()
