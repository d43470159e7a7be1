"""The live battle summary: accumulating a burst of recorded kills, inferring sides, rendering."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from bot.render import BattleSummary, battle_embed, within_limits
from bot.render.battle import Group, Side
from bot.render.limits import embed_size
from engine.model import EnrichedKill
from tests.bot.render_kills import enricher, named_kills

# A faction warfare fight in Kehjari on 2014-05-25, 15:52-21:51: 15 recorded kills.
KEHJARI = 30045308
APOCALYPSE = 39086582  # the most expensive loss of that fight, 248m ISK

GOONS = Group("alliance", 1354830081)
HORDE = Group("alliance", 99005338)
FRAT = Group("alliance", 99003581)
BRAVE = Group("alliance", 99003214)


@pytest.fixture(scope="module")
def kills() -> dict[int, EnrichedKill]:
    return named_kills()


@pytest.fixture(scope="module")
def burst(kills) -> list[EnrichedKill]:
    fight = [
        k for k in kills.values() if k.place.system_id == KEHJARI and k.killmail.time.year == 2014
    ]
    assert len(fight) == 15
    return fight


def side_of(sides: tuple[Side, ...]) -> dict[Group, int]:
    return {tally.group: i for i, side in enumerate(sides) for tally in side.groups}


def lead_group(kill: EnrichedKill) -> Group | None:
    """The final blow's group: the pilot who finished the ship off flew for the killers."""
    blow = kill.killmail.final_blow
    if blow is None or blow.character_id is None:
        return None
    if blow.alliance_id is not None:
        return Group("alliance", blow.alliance_id)
    return Group("corporation", blow.corporation_id) if blow.corporation_id else None


def victim_group(kill: EnrichedKill) -> Group | None:
    victim = kill.killmail.victim
    if victim.alliance_id is not None:
        return Group("alliance", victim.alliance_id)
    return Group("corporation", victim.corporation_id) if victim.corporation_id else None


def test_a_burst_is_counted_with_its_time_span_systems_and_value(burst):
    summary = BattleSummary()
    for kill in reversed(burst):  # out of order: feeds do not promise order
        assert summary.add(kill)
    assert summary.kills == 15
    assert summary.isk_destroyed == pytest.approx(sum(k.value or 0 for k in burst))
    times = [k.killmail.time for k in burst]
    assert (summary.first, summary.last) == (min(times), max(times))
    assert summary.systems() == [(KEHJARI, "Kehjari", 15)]


def test_a_kill_seen_again_is_not_counted_twice(burst):
    summary = BattleSummary()
    for kill in burst:
        summary.add(kill)
    before = battle_embed(summary).to_dict()
    assert summary.add(burst[3]) is False
    assert summary.kills == 15
    assert battle_embed(summary).to_dict() == before


def test_in_a_real_fight_killers_and_victims_land_on_opposite_sides(burst):
    summary = BattleSummary()
    for kill in burst:
        summary.add(kill)
    sides = summary.sides()
    assert [s.third_party for s in sides] == [False, False]
    side = side_of(sides)
    checked = 0
    for kill in burst:
        killer, victim = lead_group(kill), victim_group(kill)
        if killer is not None and victim is not None:
            assert side[killer] != side[victim], kill.id
            checked += 1
    assert checked >= 12
    assert sum(s.ships_lost for s in sides) == 15
    assert sum(s.kills for s in sides) == 15
    assert sum(s.isk_lost for s in sides) == pytest.approx(summary.isk_destroyed)
    # Each side's kills are the other side's losses here (nobody else took part).
    assert sides[0].kills == sides[1].ships_lost
    assert sides[0].isk_destroyed == pytest.approx(sides[1].isk_lost)


def fought(base: EnrichedKill, kill_id: int, victim: Group, attackers: list[Group]) -> EnrichedKill:
    """``base`` re-enacted with other alliances: its real ships, pilots, damage and place."""
    km = base.killmail
    pilots = [a for a in km.attackers if a.character_id is not None]
    assert len(pilots) >= len(attackers)
    rewritten = msgspec.structs.replace(
        km,
        killmail_id=kill_id,
        victim=msgspec.structs.replace(km.victim, alliance_id=victim.id),
        attackers=tuple(
            msgspec.structs.replace(a, alliance_id=attackers[i % len(attackers)].id)
            for i, a in enumerate(pilots)
        ),
    )
    kill = enricher().enrich(rewritten)
    return msgspec.structs.replace(kill, names=base.names)


def test_sides_follow_who_shot_whom_and_who_fought_together(kills):
    base = kills[20720198]  # a Drake killed by 8 pilots in Enaluri
    summary = BattleSummary()
    # Goons (with Frat helping) kill a Horde ship; Horde kills a Goon and a Frat ship.
    summary.add(fought(base, 1, HORDE, [GOONS, GOONS, GOONS, FRAT]))
    summary.add(fought(base, 2, GOONS, [HORDE]))
    summary.add(fought(base, 3, FRAT, [HORDE]))
    # Brave loses a ship to NPCs alone: no evidence ties it to either side.
    concord = kills[34663598]
    npc_only = msgspec.structs.replace(
        concord.killmail,
        killmail_id=4,
        victim=msgspec.structs.replace(concord.killmail.victim, alliance_id=BRAVE.id),
    )
    summary.add(enricher().enrich(npc_only))
    sides = summary.sides()
    # The side of the group with most pilots comes first: Horde (8 pilots and its victim).
    assert [{t.group for t in s.groups} for s in sides] == [{HORDE}, {GOONS, FRAT}, {BRAVE}]
    assert [s.third_party for s in sides] == [False, False, True]
    horde_side, goons_side, others = sides
    assert (goons_side.kills, goons_side.ships_lost) == (1, 2)
    assert (horde_side.kills, horde_side.ships_lost) == (2, 1)
    assert (others.kills, others.ships_lost) == (0, 1)  # NPCs belong to no side
    assert goons_side.groups[0].group == GOONS  # most pilots first
    assert goons_side.losses_by_class == (("Battlecruiser", 2),)


def test_notable_losses_are_the_most_expensive_first_with_links(burst):
    summary = BattleSummary(notable=3)
    for kill in burst:
        summary.add(kill)
    losses = summary.notable_losses()
    values = sorted((k.value or 0 for k in burst), reverse=True)[:3]
    assert [loss.value for loss in losses] == values
    assert losses[0].killmail_id == APOCALYPSE
    assert losses[0].url == f"https://zkillboard.com/kill/{APOCALYPSE}/"
    assert losses[0].ship == "Apocalypse"


def test_the_summary_embed_shows_sides_losses_and_the_zkillboard_report(burst):
    summary = BattleSummary()
    for kill in burst:
        summary.add(kill)
    embed = battle_embed(summary)
    assert within_limits(embed)
    assert embed.title == "Battle in Kehjari"
    assert embed.url == "https://zkillboard.com/related/30045308/201405251500/"
    assert embed.timestamp == summary.last
    names = [f.name for f in embed.fields]
    assert names[0].startswith("Side 1: ")
    assert names[1].startswith("Side 2: ")
    assert names[-1] == "Notable losses"
    description = str(embed.description)
    assert description.startswith("**15 ships destroyed**, **361m ISK** lost in all")
    assert "2014-05-25 15:52 – 21:51 UTC (5h 59m)" in description
    assert "Systems: Kehjari (15)" in description
    losses = str(embed.fields[-1].value).split("\n")
    assert len(losses) == 5
    assert losses[0].startswith(
        f"[Apocalypse](https://zkillboard.com/kill/{APOCALYPSE}/) **248m ISK**"
    )
    assert "Lost: 9 Frigate, 5 Destroyer, 1 Battleship" in str(embed.fields[1].value)


def test_the_embed_is_edited_as_kills_arrive(burst):
    summary = BattleSummary()
    summary.add(burst[0])
    first = battle_embed(summary)
    assert str(first.description).startswith("**1 ship destroyed**")
    for kill in burst[1:]:
        summary.add(kill)
    assert battle_embed(summary).to_dict() != first.to_dict()


def test_every_recorded_kill_at_once_still_fits_one_embed(kills):
    summary = BattleSummary()
    for kill in kills.values():
        summary.add(kill)
    embed = battle_embed(summary)
    assert within_limits(embed)
    assert embed_size(embed) <= 6000
    assert str(embed.title).startswith("Battle in ")
    assert "more systems" in str(embed.title)
    # Hundreds of groups: the side fields name the biggest and count the rest.
    assert " more" in str(embed.fields[0].value).split("\n")[0]
    assert summary.last is not None
    assert summary.first is not None
    assert summary.last - summary.first > timedelta(days=365)
    assert "–" in str(embed.description)


def test_an_empty_summary_says_so():
    embed = battle_embed(BattleSummary())
    assert embed.description == "No kills yet."
    assert within_limits(embed)
