"""Attach universe facts to a killmail: place, ship types, value, the names we know locally."""

from __future__ import annotations

from engine.enrich.space import display_security, space_band
from engine.enrich.universe import Universe
from engine.model import Attacker, EnrichedKill, Killmail, Place, TypeInfo, Victim

__all__ = ["Enricher"]


class Enricher:
    """Pure and synchronous: everything it needs is in memory, so it never holds a kill back."""

    def __init__(self, universe: Universe) -> None:
        self._universe = universe

    def enrich(self, killmail: Killmail) -> EnrichedKill:
        final_blow = killmail.final_blow
        zkb = killmail.zkb
        value = zkb.total_value if zkb is not None else None
        return EnrichedKill(
            killmail=killmail,
            place=self.place(killmail.solar_system_id),
            victim_ship=self.type_info(killmail.victim.ship_type_id),
            final_blow_ship=(
                self.type_info(final_blow.ship_type_id)
                if final_blow is not None and final_blow.ship_type_id is not None
                else None
            ),
            value=value,
            value_source="zkb" if value is not None else None,
            names=self._local_names(killmail),
        )

    def place(self, system_id: int) -> Place:
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
        return Place(
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

    def type_info(self, type_id: int) -> TypeInfo:
        u = self._universe
        item_type = u.type(type_id)
        if item_type is None:
            return TypeInfo(type_id, f"Type {type_id}", None, None, None, None)
        group = u.group(item_type.group_id)
        category = u.category(item_type.category_id)
        return TypeInfo(
            type_id,
            item_type.name,
            item_type.group_id,
            group.name if group else None,
            item_type.category_id,
            category.name if category else None,
        )

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
