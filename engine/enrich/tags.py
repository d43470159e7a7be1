"""What kind of thing died: the victim's tags and a one-word class for display.

Both depend on the victim's type alone (its group and category from the SDE), so they are
computed once per type and memoised by the caller. Group ids were checked against the SDE's
groups.csv (build 3650286); the categories are Ship 6, Drone 18, Deployable 22, Starbase 23,
Sovereignty Structures 40, Orbitals 46, Structure 65, Fighter 87.

Tags (a kill may carry several; ``capital`` + ``dreadnought``, ``structure`` + ``citadel``):

Ships (category 6)
    ``ship``            any ship except a capsule
    ``pod``             Capsule (group 29): the plain capsule and the Genolution one
    ``rookie``          Corvette (237, rookie ships) and Citizen Ships (2001)
    ``shuttle``         Shuttle (31)
    ``frigate``         Frigate, Assault Frigate, Interceptor, Covert Ops, Stealth Bomber,
                        Electronic Attack Ship, Logistics Frigate, Expedition Frigate,
                        Prototype Exploration Ship (25, 324, 831, 830, 834, 893, 1527, 1283, 1022)
    ``destroyer``       Destroyer, Interdictor, Tactical and Command Destroyer
                        (420, 541, 1305, 1534)
    ``cruiser``         Cruiser, HAC, Logistics, Force and Combat Recon, HIC, Strategic Cruiser,
                        Flag Cruiser (26, 358, 832, 833, 906, 894, 963, 1972)
    ``battlecruiser``   Combat and Attack Battlecruiser, Command Ship (419, 1201, 540)
    ``battleship``      Battleship, Elite Battleship, Black Ops, Marauder (27, 381, 898, 900)
    ``industrial``      what the game sells as Industrial Ships: Hauler (28), Deep Space
                        Transport (380), Blockade Runner (1202). Freighters, mining ships and
                        industrial command ships have tags of their own, not this one.
    ``mining``          Mining Barge (463), Exhumer (543), Expedition Frigate (1283), Industrial
                        Command Ship (941), Capital Industrial Ship (883), Expedition Command
                        Ship (4902), and the ORE mining hulls filed under other groups: Venture,
                        Venture Consortium Issue, Pioneer, Pioneer Consortium Issue, Citizen Venture
    ``industrial_command``  Orca, Porpoise (941)
    ``freighter``       Freighter (513) and Jump Freighter (902)
    ``jump_freighter``  Jump Freighter (902)
    ``capital``         Titan 30, Supercarrier 659, Carrier 547, Command Carrier 5120,
                        Dreadnought 485, Lancer Dreadnought 4594, Force Auxiliary 1538,
                        Capital Industrial Ship 883 and the freighters 513 and 902 (capital-sized
                        hulls built from capital components, as the data README lists them)
    ``supercapital``    Titan (30) and Supercarrier (659)
    ``titan``, ``supercarrier``, ``force_auxiliary``, ``rorqual`` (883)
    ``carrier``         Carrier (547) and Command Carrier (5120)
    ``dreadnought``     Dreadnought (485) and Lancer Dreadnought (4594)

Structures and other things in space
    ``structure``       anything anchored that is not a ship: Upwell structures (category 65),
                        starbases and their modules (23), sovereignty structures (40) and
                        orbitals such as customs offices and skyhooks (46)
    ``upwell``          category 65 alone
    ``citadel``         Citadel (1657): Astrahus, Fortizar, Keepstar and their faction variants
    ``engineering_complex``  Raitaru, Azbel, Sotiyo (1404) and the NPC ♦ Sotiyo (1876)
    ``refinery``        Athanor, Tatara (1406)
    ``flex``            Ansiblex jump bridge, Tenebrex cyno jammer, Pharolux cyno beacon
                        (1408, 2016, 2017)
    ``moon_drill``      Metenox (4744)
    ``starbase``        category 23; ``control_tower`` the tower itself (365)
    ``sovereignty``     category 40 (TCU, sovereignty hub)
    ``orbital``         category 46 (customs offices, skyhooks)
    ``deployable``      category 22 (mobile depots, tractor units, warp disruptors, ...)
    ``fighter``         category 87
    ``drone``           category 18

A type the static data does not know gets no tags and the class "Unknown".
"""

from __future__ import annotations

from typing import Final

from engine.model import TypeInfo

__all__ = ["TAGS", "classify"]

_SHIP: Final = 6
_DRONE: Final = 18
_DEPLOYABLE: Final = 22
_STARBASE: Final = 23
_SOVEREIGNTY: Final = 40
_ORBITAL: Final = 46
_UPWELL: Final = 65
_FIGHTER: Final = 87

# (tags, class) per ship group. The class is the coarse size or role word a reader knows.
_SHIP_GROUPS: Final[dict[int, tuple[tuple[str, ...], str]]] = {
    29: (("pod",), "Capsule"),
    237: (("rookie",), "Rookie"),
    2001: (("rookie",), "Rookie"),
    31: (("shuttle",), "Shuttle"),
    **dict.fromkeys((25, 324, 830, 831, 834, 893, 1022, 1527), (("frigate",), "Frigate")),
    1283: (("frigate", "mining"), "Frigate"),
    **dict.fromkeys((420, 541, 1305, 1534), (("destroyer",), "Destroyer")),
    **dict.fromkeys((26, 358, 832, 833, 894, 906, 963, 1972), (("cruiser",), "Cruiser")),
    **dict.fromkeys((419, 540, 1201), (("battlecruiser",), "Battlecruiser")),
    **dict.fromkeys((27, 381, 898, 900), (("battleship",), "Battleship")),
    **dict.fromkeys((28, 380, 1202), (("industrial",), "Industrial")),
    **dict.fromkeys((463, 543), (("mining",), "Barge")),
    941: (("mining", "industrial_command"), "Industrial"),
    4902: (("mining",), "Industrial"),
    513: (("freighter", "capital"), "Freighter"),
    902: (("freighter", "jump_freighter", "capital"), "Freighter"),
    883: (("mining", "rorqual", "capital"), "Rorqual"),
    547: (("carrier", "capital"), "Carrier"),
    5120: (("carrier", "capital"), "Carrier"),
    485: (("dreadnought", "capital"), "Dreadnought"),
    4594: (("dreadnought", "capital"), "Dreadnought"),
    1538: (("force_auxiliary", "capital"), "FAX"),
    659: (("supercarrier", "supercapital", "capital"), "Supercarrier"),
    30: (("titan", "supercapital", "capital"), "Titan"),
}

# ORE's mining hulls that the SDE files under Frigate or Destroyer.
_MINING_TYPES: Final = frozenset({32880, 89648, 89240, 89647, 48648})  # Venture ... Citizen Venture

_UPWELL_GROUPS: Final[dict[int, tuple[tuple[str, ...], str]]] = {
    1657: (("citadel",), "Citadel"),
    1404: (("engineering_complex",), "Engineering"),
    1876: (("engineering_complex",), "Engineering"),
    1406: (("refinery",), "Refinery"),
    1408: (("flex",), "FLEX"),
    2016: (("flex",), "FLEX"),
    2017: (("flex",), "FLEX"),
    4744: (("moon_drill",), "Drill"),
}

# Categories with one tag set and class for all their groups.
_CATEGORIES: Final[dict[int, tuple[tuple[str, ...], str]]] = {
    _STARBASE: (("structure", "starbase"), "Starbase"),
    _SOVEREIGNTY: (("structure", "sovereignty"), "Sovereignty"),
    _ORBITAL: (("structure", "orbital"), "Orbital"),
    _DEPLOYABLE: (("deployable",), "Deployable"),
    _FIGHTER: (("fighter",), "Fighter"),
    _DRONE: (("drone",), "Drone"),
}

_CONTROL_TOWER: Final = 365

TAGS: Final[frozenset[str]] = frozenset(
    {"ship", "upwell", "structure", "control_tower"}
    | {tag for tags, _ in _SHIP_GROUPS.values() for tag in tags}
    | {tag for tags, _ in _UPWELL_GROUPS.values() for tag in tags}
    | {tag for tags, _ in _CATEGORIES.values() for tag in tags}
)
"""Every tag :func:`classify` can give, e.g. to validate a filter."""


def classify(ship: TypeInfo) -> tuple[frozenset[str], str]:
    """The victim tags and display class of a victim's type."""
    category, group = ship.category_id, ship.group_id
    if category is None or group is None:
        return frozenset(), "Unknown"
    if category == _SHIP:
        tags, word = _SHIP_GROUPS.get(group, ((), "Ship"))
        extra: tuple[str, ...] = ("ship",) if group != 29 else ()
        if ship.type_id in _MINING_TYPES:
            extra += ("mining",)
        return frozenset((*tags, *extra)), word
    if category == _UPWELL:
        tags, word = _UPWELL_GROUPS.get(group, ((), "Structure"))
        return frozenset(("structure", "upwell", *tags)), word
    if category in _CATEGORIES:
        tags, word = _CATEGORIES[category]
        if group == _CONTROL_TOWER:
            tags = (*tags, "control_tower")
        return frozenset(tags), word
    # Anything else (an NPC entity, a celestial...) is shown by its category's name.
    return frozenset(), (ship.category_name or "Unknown").split()[0]
