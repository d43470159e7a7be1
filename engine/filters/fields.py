"""Every field a filter can test: its value type, the ops it allows, how to read it off a kill.

Party fields are ``ROLE.ATTRIBUTE`` with roles ``victim``, ``attacker`` (any attacker),
``final_blow`` and ``involved`` (the victim or any attacker). They read sets of ids from
:class:`~engine.model.EnrichedKill` (``victim_ids``, ``attacker_ids``, ``final_blow_ids``), so
``in`` holds when any party of that role has one of the values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final, Literal, TypeAlias

from engine.model import EnrichedKill

__all__ = [
    "FIELDS",
    "OPS",
    "PARTY_ATTRIBUTES",
    "ROLES",
    "SPACE_BANDS",
    "FieldSpec",
    "IdKind",
    "Kind",
    "field",
]

Kind: TypeAlias = Literal["party", "place", "number", "bool", "space", "strings", "range"]
IdKind: TypeAlias = Literal[
    "character", "corporation", "alliance", "faction", "type", "group", "category",
    "system", "constellation", "region",
]
Getter: TypeAlias = Callable[[EnrichedKill], Any]

OPS: Final = (
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte",
    "between", "contains", "contains_any", "within",
)
SPACE_BANDS: Final = ("highsec", "lowsec", "nullsec", "wormhole", "pochven", "abyssal")
ROLES: Final = ("victim", "attacker", "final_blow", "involved")
# attribute -> (PartyIds attribute, what its ids name)
PARTY_ATTRIBUTES: Final[Mapping[str, tuple[str, IdKind]]] = {
    "character": ("characters", "character"),
    "corporation": ("corporations", "corporation"),
    "alliance": ("alliances", "alliance"),
    "faction": ("factions", "faction"),
    "ship_type": ("ship_types", "type"),
    "ship_group": ("ship_groups", "group"),
    "ship_category": ("ship_categories", "category"),
    "weapon_type": ("weapon_types", "type"),
}
_ROLE_IDS: Final = {
    "victim": ("victim_ids",),
    "attacker": ("attacker_ids",),
    "final_blow": ("final_blow_ids",),
    "involved": ("victim_ids", "attacker_ids"),
}
_INDEX_ROLES: Final = {
    "victim": ("victim",),
    "attacker": ("attacker",),
    "final_blow": ("final_blow",),
    "involved": ("victim", "attacker"),
}

_SET = frozenset({"eq", "ne", "in", "not_in"})
_STRINGS = _SET | {"contains", "contains_any"}
_ORDERED = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "between"})
_WHOLE = _ORDERED | {"in", "not_in"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field.

    ``getters`` read the field: for party fields one frozenset per role read (two for
    ``involved``), for the others a single getter of a scalar (None when the kill lacks it).
    ``index`` names the matcher's index dimensions the field's values live in, if any.
    ``clocked`` fields depend on the time of matching (``age_minutes``) and have no getter.
    """

    name: str
    kind: Kind
    ops: frozenset[str]
    doc: str
    ids: IdKind | None = None
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    getters: tuple[Getter, ...] = ()
    index: tuple[str, ...] = ()
    clocked: bool = False


def _hour(kill: EnrichedKill) -> int:
    return kill.killmail.time.hour


def _party_fields() -> list[FieldSpec]:
    specs = []
    for role in ROLES:
        for attribute, (ids_attr, id_kind) in PARTY_ATTRIBUTES.items():
            if attribute == "weapon_type" and role != "attacker":
                continue  # only attackers have weapons
            who = {
                "victim": "the victim's",
                "attacker": "any attacker's",
                "final_blow": "the final blow's",
                "involved": "the victim's or any attacker's",
            }[role]
            specs.append(
                FieldSpec(
                    name=f"{role}.{attribute}",
                    kind="party",
                    ops=_SET,
                    doc=f"{who} {attribute.replace('_', ' ')} (id)",
                    ids=id_kind,
                    getters=tuple(attrgetter(f"{r}.{ids_attr}") for r in _ROLE_IDS[role]),
                    index=tuple(f"{r}.{attribute}" for r in _INDEX_ROLES[role]),
                )
            )
    return specs


def _other_fields() -> list[FieldSpec]:
    return [
        FieldSpec("system", "place", _SET, "solar system (id)", ids="system",
                  getters=(attrgetter("place.system_id"),), index=("system",)),
        FieldSpec("constellation", "place", _SET, "constellation (id)", ids="constellation",
                  getters=(attrgetter("place.constellation_id"),), index=("constellation",)),
        FieldSpec("region", "place", _SET, "region (id)", ids="region",
                  getters=(attrgetter("place.region_id"),), index=("region",)),
        FieldSpec("security", "number", _ORDERED, "security status as displayed (-1.0 to 1.0)",
                  minimum=-1.0, maximum=1.0, getters=(attrgetter("place.security"),)),
        FieldSpec("space", "space", _SET, "space band: " + ", ".join(SPACE_BANDS),
                  getters=(attrgetter("place.space"),), index=("space",)),
        FieldSpec("wormhole_class", "number", _WHOLE, "wormhole class (J-space only)",
                  integer=True, minimum=1, maximum=99,
                  getters=(attrgetter("place.wormhole_class"),)),
        FieldSpec("value", "number", _ORDERED, "ISK value of the loss", minimum=0,
                  maximum=1e16, getters=(attrgetter("value"),), index=("value",)),
        FieldSpec("points", "number", _WHOLE, "zKillboard points", integer=True,
                  minimum=-1_000_000, maximum=1_000_000, getters=(attrgetter("points"),)),
        FieldSpec("attackers", "number", _WHOLE, "number of attackers", integer=True,
                  minimum=0, maximum=100_000, getters=(attrgetter("attackers.count"),)),
        FieldSpec("npc", "bool", frozenset({"eq", "ne"}), "only NPCs attacked",
                  getters=(attrgetter("npc"),), index=("npc",)),
        FieldSpec("solo", "bool", frozenset({"eq", "ne"}), "one player, no help",
                  getters=(attrgetter("solo"),), index=("solo",)),
        FieldSpec("awox", "bool", frozenset({"eq", "ne"}), "killed by its own corp or alliance",
                  getters=(attrgetter("awox"),), index=("awox",)),
        FieldSpec("labels", "strings", _STRINGS, "zKillboard labels (e.g. ganked, pvp)",
                  getters=(attrgetter("labels"),), index=("labels",)),
        FieldSpec("tags", "strings", _STRINGS, "victim tags (pod, capital, structure, ...)",
                  getters=(attrgetter("victim_tags"),), index=("tags",)),
        FieldSpec("age_minutes", "number", _ORDERED - {"eq", "ne"},
                  "minutes since the kill happened", minimum=0, maximum=10_000_000,
                  clocked=True),
        FieldSpec("hour", "number", _WHOLE, "hour of the kill (UTC, 0-23)", integer=True,
                  minimum=0, maximum=23, getters=(_hour,), index=("hour",)),
        FieldSpec("jumps", "range", frozenset({"within"}),
                  "stargate jumps from a system: {from, max}", ids="system", integer=True,
                  minimum=0, maximum=50, index=("system",)),
        FieldSpec("lightyears", "range", frozenset({"within"}),
                  "light years from a system: {from, max}", ids="system", minimum=0,
                  maximum=100, index=("system",)),
    ]


FIELDS: Final[Mapping[str, FieldSpec]] = {f.name: f for f in _party_fields() + _other_fields()}


def field(name: str) -> FieldSpec | None:
    return FIELDS.get(name)
