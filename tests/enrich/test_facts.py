"""Derived facts on real recorded kills: tags, attackers, flags, fits, pass-through zkb data."""

from __future__ import annotations

import pytest

from engine.enrich import tags as tags_module
from engine.enrich.attackers import party_ids
from engine.enrich.enricher import Enricher
from engine.enrich.facts import computed_flags
from engine.enrich.tags import TAGS
from engine.enrich.universe import Universe
from engine.model import EnrichedKill, Killmail, ModuleCounts, PartyIds
from tests.enrich.kills import load_kills


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(Universe.load())


@pytest.fixture(scope="module")
def kills(data_dir) -> dict[int, Killmail]:
    return load_kills(data_dir)


@pytest.fixture(scope="module")
def kill(enricher, kills):
    def enriched(killmail_id: int) -> EnrichedKill:
        return enricher.enrich(kills[killmail_id])

    return enriched


# -- victims: tags and display class ----------------------------------------------------------


def test_a_keepstar_is_a_citadel_structure_taken_down_by_thousands(kill):
    k = kill(131126432)
    assert k.victim_tags == {"structure", "upwell", "citadel"}
    assert k.ship_class == "Citadel"
    assert (k.victim.character_id, k.victim.corporation_id, k.victim.alliance_id) == (
        None, 98480154, 99005338,
    )
    assert k.victim.damage == 104481577
    assert k.victim_ids == PartyIds(
        corporations=frozenset({98480154}),
        alliances=frozenset({99005338}),
        ship_types=frozenset({35834}),
        ship_groups=frozenset({1657}),
        ship_categories=frozenset({65}),
    )
    a = k.attackers
    assert (a.count, a.players, a.npcs) == (3753, 3753, 0)
    # 2,761 of 3,753 attackers fly for one alliance, 1,028 fly battleships; the biggest
    # corporation has 549 (14.6 %), too few to call it the main one.
    assert (a.main_alliance_id, a.main_ship_group_id, a.main_corporation_id) == (
        1354830081, 27, None,
    )
    assert a.final_blow is not None
    assert a.final_blow.ship is not None
    assert (a.final_blow.character_id, a.final_blow.ship.name, a.final_blow.weapon_type_id) == (
        2117579881, "Aeon", 40565,
    )
    assert a.top_damage is not None
    assert (a.top_damage.character_id, a.top_damage.damage, a.top_damage.ship) == (
        95494338, 2774469, None,
    )
    assert k.final_blow_ship == a.final_blow.ship
    assert k.final_blow_ids == party_ids(a.final_blow)
    ids = k.attacker_ids
    assert (len(ids.characters), len(ids.corporations), len(ids.alliances)) == (3753, 407, 41)
    assert ids.factions == {500001, 500002, 500003, 500004, 500010, 500011}
    assert ids.ship_categories == {6}
    assert {27, 30, 659, 4594, 29} <= ids.ship_groups  # battleships, titans, supers, lancers, pods
    assert (len(ids.ship_types), len(ids.weapon_types)) == (178, 341)


@pytest.mark.parametrize("killmail_id", [3373653, 71179641])
def test_capsules_plain_and_genolution_are_pods_not_ships(kill, killmail_id):
    k = kill(killmail_id)
    assert k.victim_tags == {"pod"}
    assert k.ship_class == "Capsule"
    assert k.victim.ship is not None
    assert k.victim.ship.group_id == 29


def test_a_genolution_capsule_is_named_and_its_killers_share_a_ship_group(kill):
    k = kill(71179641)
    assert k.victim_ship.name == "Capsule - Genolution 'Auroral' 197-variant"
    # Three Muninns from one alliance; two of the three from one corporation.
    assert (k.attackers.main_alliance_id, k.attackers.main_corporation_id) == (
        99008244, 1431056470,
    )
    assert k.attackers.main_ship_group_id == 358  # Heavy Assault Cruiser


@pytest.mark.parametrize(
    ("name", "tags", "ship_class"),
    [
        ("Keepstar", {"structure", "upwell", "citadel"}, "Citadel"),
        ("'Moreau' Fortizar", {"structure", "upwell", "citadel"}, "Citadel"),
        ("Raitaru", {"structure", "upwell", "engineering_complex"}, "Engineering"),
        ("Tatara", {"structure", "upwell", "refinery"}, "Refinery"),
        ("Ansiblex Jump Bridge", {"structure", "upwell", "flex"}, "FLEX"),
        ("Metenox Moon Drill", {"structure", "upwell", "moon_drill"}, "Drill"),
        ("Caldari Control Tower", {"structure", "starbase", "control_tower"}, "Starbase"),
        ("Sovereignty Hub", {"structure", "sovereignty"}, "Sovereignty"),
        ("Customs Office", {"structure", "orbital"}, "Orbital"),
        ("Mobile Tractor Unit", {"deployable"}, "Deployable"),
        ("Templar I", {"fighter"}, "Fighter"),
        ("Hobgoblin II", {"drone"}, "Drone"),
        ("Avatar", {"ship", "capital", "supercapital", "titan"}, "Titan"),
        ("Nyx", {"ship", "capital", "supercapital", "supercarrier"}, "Supercarrier"),
        ("Archon", {"ship", "capital", "carrier"}, "Carrier"),
        ("Revelation", {"ship", "capital", "dreadnought"}, "Dreadnought"),
        ("Hubris", {"ship", "capital", "dreadnought"}, "Dreadnought"),
        ("Apostle", {"ship", "capital", "force_auxiliary"}, "FAX"),
        ("Rorqual", {"ship", "capital", "mining", "rorqual"}, "Rorqual"),
        ("Charon", {"ship", "capital", "freighter"}, "Freighter"),
        ("Rhea", {"ship", "capital", "freighter", "jump_freighter"}, "Freighter"),
        ("Badger", {"ship", "industrial"}, "Industrial"),
        ("Bustard", {"ship", "industrial"}, "Industrial"),
        ("Crane", {"ship", "industrial"}, "Industrial"),
        ("Orca", {"ship", "mining", "industrial_command"}, "Industrial"),
        ("Hulk", {"ship", "mining"}, "Barge"),
        ("Venture", {"ship", "frigate", "mining"}, "Frigate"),
        ("Ibis", {"ship", "rookie"}, "Rookie"),
        ("Amarr Shuttle", {"ship", "shuttle"}, "Shuttle"),
        ("Malediction", {"ship", "frigate"}, "Frigate"),
        ("Sabre", {"ship", "destroyer"}, "Destroyer"),
        ("Tengu", {"ship", "cruiser"}, "Cruiser"),
        ("Drake", {"ship", "battlecruiser"}, "Battlecruiser"),
        ("Golem", {"ship", "battleship"}, "Battleship"),
    ],
)
def test_victim_types_get_their_documented_tags_and_class(enricher, name, tags, ship_class):
    universe_type = enricher.types.universe.find_type(name)
    assert universe_type is not None, name
    assert enricher.types.classify(universe_type.id) == (tags, ship_class)


def test_an_unknown_type_has_no_tags_and_shows_as_unknown(enricher):
    assert enricher.types.classify(999_999_999) == (frozenset(), "Unknown")


def test_every_tag_is_documented_in_the_tags_module():
    undocumented = {tag for tag in TAGS if f"``{tag}``" not in (tags_module.__doc__ or "")}
    assert not undocumented


# -- attackers ---------------------------------------------------------------------------------


def test_an_npc_only_abyssal_kill_counts_npc_characters_as_npcs(kill):
    k = kill(71587146)
    assert (k.place.system_name, k.place.space, k.place.wormhole_class) == (
        "AD199", "abyssal", None,
    )
    a = k.attackers
    # A Vexor lost to two Drifter battleships (one "flown" by the NPC character 3019609) and
    # the Unstable Abyssal Depths, an environment hazard with no owner at all.
    assert (a.count, a.players, a.npcs) == (3, 0, 3)
    assert k.npc is True
    assert k.solo is False
    assert k.awox is False
    assert k.attacker_ids.characters == {3019609}
    assert k.attacker_ids.corporations == {1000274}
    assert a.top_damage is not None
    assert a.top_damage.damage == 9785
    assert a.top_damage.character_id is None
    assert a.final_blow is not None
    assert a.final_blow.character_id == 3019609


def test_a_pochven_rorqual_names_the_main_corporation_and_ship_group(kill):
    k = kill(72359224)
    assert (k.place.system_name, k.place.region_name, k.place.space, k.place.security) == (
        "Otanuomi", "Pochven", "pochven", -1.0,
    )
    assert k.victim_tags == {"ship", "capital", "mining", "rorqual"}
    a = k.attackers
    # Nine attackers: three of corporation 98569141, three Black Ops (Sin, Widow, Marshal),
    # eight pilots and one Guristas rat; nobody in an alliance.
    assert (a.count, a.players, a.npcs) == (9, 8, 1)
    assert (a.main_corporation_id, a.main_ship_group_id, a.main_alliance_id) == (
        98569141, 898, None,
    )
    assert a.final_blow == a.top_damage
    assert a.final_blow is not None
    assert a.final_blow.ship is not None
    assert (a.final_blow.ship.name, a.final_blow.damage) == ("Hel", 1084045)
    assert k.attacker_ids.ship_categories == {6, 11}  # ships and an NPC entity


def test_a_lone_attacker_is_never_the_main_side(kill):
    a = kill(35212608).attackers
    assert (a.count, a.main_corporation_id, a.main_alliance_id, a.main_ship_group_id) == (
        1, None, None, None,
    )


# -- flags --------------------------------------------------------------------------------------


def test_a_solo_kill_with_a_zkb_block_uses_zkbs_flags(kill):
    k = kill(35212608)
    assert k.killmail.zkb is not None
    assert k.killmail.zkb.solo
    assert (k.npc, k.solo, k.awox) == (False, True, False)
    assert k.attackers.players == 1


def test_an_awox_by_a_corpmate_is_flagged(kill, kills, enricher):
    k = kill(39077457)
    assert k.killmail.zkb is not None
    assert k.awox is True
    assert k.solo is True
    # The rule computed without zkb agrees: the Incursus pilot shares the Tristan's corporation.
    assert computed_flags(kills[39077457], enricher.types) == (False, True, True)


def test_a_wormhole_kill_carries_its_class(kill):
    place = kill(10624110).place
    assert (place.system_name, place.space, place.wormhole_class, place.security) == (
        "J100246", "wormhole", 2, -1.0,
    )


def test_killing_an_npc_structure_is_an_npc_kill_whoever_shoots(kills, enricher):
    # A ♦ Sotiyo of an NPC corporation, killed by six supercapital pilots.
    assert computed_flags(kills[70899859], enricher.types) == (True, False, False)


def test_flags_are_computed_when_the_kill_has_no_zkb_block(kill):
    k = kill(132588538)  # a Heron killed by one Purifier, recorded without zkb
    assert k.killmail.zkb is None
    assert (k.npc, k.solo, k.awox) == (False, True, False)
    assert (k.labels, k.points, k.value, k.value_source) == ((), None, None, None)


def test_an_npc_corporation_is_not_a_corp_for_awox(kills, enricher):
    # The Rorqual's pilot and one attacker are both in the NPC corporation 1000111.
    killmail = kills[72359224]
    assert killmail.victim.corporation_id == 1000111
    assert any(a.corporation_id == 1000111 and a.character_id for a in killmail.attackers)
    assert computed_flags(killmail, enricher.types) == (False, False, False)


def test_computed_npc_and_solo_agree_with_zkb_on_every_recorded_kill(kills, enricher):
    checked = 0
    for killmail in kills.values():
        if killmail.zkb is None:
            continue
        npc, solo, _ = computed_flags(killmail, enricher.types)
        assert (npc, solo) == (killmail.zkb.npc, killmail.zkb.solo), killmail.killmail_id
        checked += 1
    assert checked == 349


def test_computed_awox_agrees_with_zkb_on_every_recorded_kill(kills, enricher):
    """The final blow from the victim's own corporation; alliance mates on the mail are not."""
    ours = {i for i, k in kills.items() if k.zkb and computed_flags(k, enricher.types)[2]}
    theirs = {i for i, k in kills.items() if k.zkb and k.zkb.awox}
    assert theirs == {39077457, 71731860, 71897493, 71996580, 74233396}
    assert ours == theirs
    assert 131126432 not in ours  # 23 of the Keepstar's own alliance on the mail


def test_zkb_labels_and_points_pass_through(kill):
    k = kill(131126432)
    assert k.labels == ("tz:usw", "cat:65", "#:1000+", "pvp", "loc:nullsec", "isk:100b+")
    assert k.points == 1


# -- the fit ---------------------------------------------------------------------------------


def test_fitted_modules_are_counted_by_meta_group_and_charges_are_not(kill):
    # A Malediction: 3 Tech I and 8 Tech II modules; the rockets in its launchers don't count.
    assert kill(35212608).modules == ModuleCounts(tech1=3, tech2=8)


def test_modules_of_ships_in_the_hold_are_not_the_victims_fit(kill):
    # An Orca fitted with 8 Tech II, 2 faction (Dread Guristas, ORE) and 2 deadspace modules;
    # its ship hangar holds three fitted frigates and an Osprey whose fits don't count.
    assert kill(52844772).modules == ModuleCounts(tech2=8, faction=2, deadspace=2)


def test_a_kill_without_items_has_no_modules(kill):
    assert kill(131126432).modules == ModuleCounts()
