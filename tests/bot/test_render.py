"""Kill embeds per style, on the recorded kills: what each part shows, colour, safety, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import discord
import msgspec
import pytest

from bot.render import (
    KILL_COLOUR,
    LOSS_COLOUR,
    NEUTRAL_COLOUR,
    Perspective,
    kill_embed,
    kill_link,
    pack,
    within_limits,
)
from bot.render.limits import EMBEDS_PER_MESSAGE, TOTAL, embed_size
from bot.render.security import SECURITY_COLOURS, security_colour, security_text
from engine.model import EnrichedKill
from tests.bot.render_kills import named_kills

KEEPSTAR = 131126432
CAPSULE = 3373653  # a pod in Kinakka (0.4), 4 attackers
CONCORD = 34663598  # a Velator killed by CONCORD in Nomaa (0.6)
AWOX = 71731860  # victim corporation 98176563 among the attackers
WORMHOLE = 62606584  # a Fortizar in J131520 (C5)
ABYSSAL = 71587146  # in AD199
SOLO = 3111908
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def kills() -> dict[int, EnrichedKill]:
    return named_kills()


def full(kill: EnrichedKill, perspective: Perspective | None = None) -> discord.Embed:
    return kill_embed(kill, style="full", perspective=perspective, now=NOW)


def field(embed: discord.Embed, name: str) -> str:
    values = [f.value for f in embed.fields if f.name == name]
    assert len(values) == 1, [f.name for f in embed.fields]
    return str(values[0])


def all_text(embed: discord.Embed) -> str:
    """Every string of the embed's payload (titles, texts, names, URLs)."""
    out: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(embed.to_dict())
    return "\n".join(out)


def test_keepstar_full_embed_shows_ship_place_value_and_attackers(kills):
    kill = kills[KEEPSTAR]
    embed = full(kill)
    assert embed.title == "Keepstar destroyed in R-AG7W"
    assert embed.url == "https://zkillboard.com/kill/131126432/"
    assert embed.thumbnail.url == "https://images.evetech.net/types/35834/render?size=128"
    assert field(embed, "Value") == "192b ISK"
    assert field(embed, "Attackers").startswith("3,753 (3,753 players)")
    assert "mostly [Goonswarm Federation](https://zkillboard.com/alliance/1354830081/)" in field(
        embed, "Attackers"
    )
    system = field(embed, "System")
    assert system.startswith("🟪 -0.3 [R-AG7W](https://zkillboard.com/system/30005099/)")
    assert "Perrigen Falls · Null-sec" in system
    final_blow = field(embed, "Final blow")
    assert final_blow.endswith("Aeon")
    assert "(https://zkillboard.com/character/2117579881/)" in final_blow
    # 2,774,469 of the Keepstar's 104,481,577 hit points.
    assert field(embed, "Top damage").endswith("2,774,469 damage (2.7%)")
    assert embed.timestamp == kill.killmail.time
    assert embed.footer.text is not None
    assert embed.footer.text.startswith("Killmail 131126432 · 2025-11-10 05:12:31 UTC")
    assert [f.name for f in embed.fields] == [
        "Victim", "Final blow", "Top damage", "System", "Attackers", "Value",
    ]  # fmt: skip


def test_a_structure_without_pilot_is_authored_by_its_corporation(kills):
    embed = full(kills[KEEPSTAR])
    assert embed.author.url == "https://zkillboard.com/corporation/98480154/"
    assert embed.author.icon_url == "https://images.evetech.net/corporations/98480154/logo?size=64"
    # No name is known for this corporation in the recording: it shows as its id.
    assert embed.author.name == "#98480154"
    victim = field(embed, "Victim")
    assert victim.splitlines() == [
        r"[\#98480154](https://zkillboard.com/corporation/98480154/)",
        "[Pandemic Horde](https://zkillboard.com/alliance/99005338/)",
    ]


def test_a_capsule_is_authored_by_its_pilot_with_portrait(kills):
    embed = full(kills[CAPSULE])
    assert embed.title == "Capsule destroyed in Kinakka"
    assert embed.thumbnail.url == "https://images.evetech.net/types/670/render?size=128"
    assert embed.author.url == "https://zkillboard.com/character/1612346627/"
    assert embed.author.icon_url == (
        "https://images.evetech.net/characters/1612346627/portrait?size=64"
    )
    assert field(embed, "System").startswith("🟧 0.4 [Kinakka]")
    assert field(embed, "Attackers") == "4 (4 players)"
    assert field(embed, "Value") == "10.0k ISK"
    # A faction warfare pilot: the faction is part of who the victim is.
    assert "[Caldari State](https://zkillboard.com/faction/500001/)" in field(embed, "Victim")


def test_an_npc_kill_names_the_npc_corporation_and_says_npc(kills):
    embed = full(kills[CONCORD])
    assert field(embed, "Final blow") == (
        "[CONCORD](https://zkillboard.com/corporation/1000125/)\nCONCORD Police Captain"
    )
    assert field(embed, "Attackers") == "1 NPC"
    assert embed.description == "**NPC**"
    assert field(embed, "Value") == "value unknown"  # recorded without zKillboard's block


def test_labels_worth_showing_are_listed_in_order(kills):
    assert full(kills[SOLO]).description == "**Solo**"
    assert "**Awox**" in str(full(kills[AWOX]).description)
    ganked = msgspec.structs.replace(kills[CAPSULE], labels=("ganked", "pvp", "loc:highsec"))
    assert full(ganked).description == "**Ganked**"
    assert full(kills[KEEPSTAR]).description is None  # pvp, tz, isk labels are noise here


def test_wormhole_and_abyssal_systems_name_their_kind_of_space(kills):
    assert field(full(kills[WORMHOLE]), "System").endswith("· C5 wormhole")
    assert field(full(kills[ABYSSAL]), "System").endswith("Abyssal deadspace")


def test_a_computed_value_is_marked_as_an_estimate(kills):
    kill = msgspec.structs.replace(kills[CAPSULE], value_source="computed")
    assert field(full(kill), "Value") == "≈ 10.0k ISK"


def test_a_kill_rendered_late_says_how_late_in_the_footer(kills):
    kill = kills[CAPSULE]
    late = kill_embed(
        kill, style="full", perspective=None, now=kill.killmail.time + timedelta(hours=3, minutes=7)
    )
    assert str(late.footer.text).endswith("· posted 3h 07m after the kill")
    prompt = kill_embed(
        kill, style="full", perspective=None, now=kill.killmail.time + timedelta(minutes=2)
    )
    assert str(prompt.footer.text) == "Killmail 3373653 · 2008-08-14 16:39:00 UTC"


@pytest.mark.parametrize(
    ("shown", "emoji", "colour"),
    [
        (1.0, "🟦", 0x2C75E1),
        (0.9, "🟦", 0x399AEB),
        (0.8, "🟦", 0x4ECEF8),
        (0.7, "🟩", 0x60DBA3),
        (0.6, "🟩", 0x71E754),
        (0.5, "🟨", 0xF5FF83),
        (0.4, "🟧", 0xDC6C06),
        (0.3, "🟧", 0xCE440F),
        (0.2, "🟥", 0xBB1116),
        (0.1, "🟥", 0x731F1F),
        (0.0, "🟪", 0x8D3163),
        (-0.3, "🟪", 0x8D3163),
        (-1.0, "🟪", 0x8D3163),
    ],
)
def test_security_is_shown_with_the_game_colour(shown, emoji, colour):
    assert security_text(shown) == f"{emoji} {shown:.1f}"
    assert security_colour(shown) == colour


def test_security_colours_step_down_by_a_tenth():
    floors = [floor for floor, _ in SECURITY_COLOURS[:-1]]
    assert floors == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    # A value computed as 0.7999999 is still 0.8.
    assert security_colour(0.1 * 8) == 0x4ECEF8


def test_colour_is_green_for_our_kill_red_for_our_loss_grey_otherwise(kills):
    kill = kills[KEEPSTAR]
    goons = Perspective.of("alliance", 1354830081)  # among the attackers
    horde = Perspective.of("alliance", 99005338)  # the victim's alliance
    bystander = Perspective.of("corporation", 1000125)
    assert full(kill, goons).colour == discord.Colour(KILL_COLOUR)
    assert full(kill, horde).colour == discord.Colour(LOSS_COLOUR)
    assert full(kill, bystander).colour == discord.Colour(NEUTRAL_COLOUR)
    pilot = Perspective.of("character", [2117579881])
    assert kill_embed(kill, style="compact", perspective=pilot, now=NOW).colour == discord.Colour(
        KILL_COLOUR
    )


def test_an_awox_is_a_loss_for_the_corporation_it_happened_in(kills):
    kill = kills[AWOX]
    corp = Perspective.of("corporation", 98176563)
    assert corp.outcome(kill) == "loss"
    assert full(kill, corp).colour == discord.Colour(LOSS_COLOUR)


def test_without_perspective_the_colour_is_the_systems_security(kills):
    assert full(kills[CAPSULE]).colour == discord.Colour(0xDC6C06)  # Kinakka 0.4
    assert full(kills[KEEPSTAR]).colour == discord.Colour(0x8D3163)  # R-AG7W -0.3
    # An empty perspective watches nobody: neither a kill nor a loss.
    assert full(kills[KEEPSTAR], Perspective()).colour == discord.Colour(NEUTRAL_COLOUR)


def test_compact_is_two_lines_and_no_fields(kills):
    kill = kills[KEEPSTAR]
    embed = kill_embed(kill, style="compact", perspective=None, now=NOW)
    assert embed.fields == []
    assert embed.title is None
    first, second = str(embed.description).split("\n")
    assert first.startswith("**[Keepstar](https://zkillboard.com/kill/131126432/)** · ")
    assert "[Pandemic Horde](https://zkillboard.com/alliance/99005338/)" in first
    assert first.endswith("· **192b ISK**")
    assert second.startswith("🟪 -0.3 [R-AG7W](https://zkillboard.com/system/30005099/)")
    assert "3,753 attackers, final blow [" in second
    assert second.endswith("(Aeon) · 2025-11-10 05:12 UTC")


def test_compact_lists_labels_on_the_second_line(kills):
    embed = kill_embed(kills[CONCORD], style="compact", perspective=None, now=NOW)
    lines = str(embed.description).split("\n")
    assert len(lines) == 2
    assert lines[1].endswith("· NPC")
    assert "1 attacker, final blow [CONCORD]" in lines[1]


def test_link_style_is_the_zkillboard_address(kills):
    assert kill_link(kills[KEEPSTAR]) == "https://zkillboard.com/kill/131126432/"


HOSTILE = "@everyone **Free ISK** [click](https://evil.example) <@123456789012345678> @here"
EVIL_CORP = "]](https://evil.example) `x` _y_"
MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d|<#\d")


@pytest.mark.parametrize("style", ["full", "compact"])
def test_names_from_data_can_neither_ping_nor_format(kills, style):
    kill = kills[CAPSULE]
    victim = kill.victim
    assert victim.character_id is not None
    assert victim.corporation_id is not None
    names = {**kill.names, victim.character_id: HOSTILE, victim.corporation_id: EVIL_CORP}
    ship = msgspec.structs.replace(kill.victim_ship, name="@here Capsule")
    hostile = msgspec.structs.replace(kill, names=names, victim_ship=ship)
    embed = kill_embed(hostile, style=style, perspective=None, now=NOW)
    everything = all_text(embed)
    assert "everyone" in everything  # the name is there...
    assert MENTION.search(everything) is None  # ...but inert
    # Where markdown renders (all but the author line, checked below) it is escaped.
    text = all_text(embed.copy().remove_author())
    assert "**Free ISK**" not in text.replace(r"\*", "")  # not bold: the asterisks are escaped
    assert r"\*\*Free ISK\*\*" in text
    # No name closes the link it sits in or opens its own: every bracket is escaped.
    assert re.search(r"(?<!\\)\]\(https://evil", text) is None
    assert r"\]\](https://evil.example)" in text
    assert r"\`x\` \_y\_" in text
    assert within_limits(embed)


def test_the_author_line_shows_a_hostile_name_verbatim_but_inert(kills):
    kill = kills[CAPSULE]
    assert kill.victim.character_id is not None
    hostile = msgspec.structs.replace(kill, names={**kill.names, kill.victim.character_id: HOSTILE})
    author = str(full(hostile).author.name)
    # Author names render no markdown: escaping would show backslashes; mentions stay broken.
    assert "**Free ISK**" in author
    assert "@\u200beveryone" in author
    assert MENTION.search(author) is None


def test_every_recorded_kill_renders_within_discord_limits_in_every_style(kills):
    assert len(kills) == 374
    watch = Perspective.of("alliance", 1354830081)
    for kill in kills.values():
        assert kill_link(kill) == f"https://zkillboard.com/kill/{kill.id}/"
        for style in ("full", "compact"):
            for perspective in (None, watch):
                embed = kill_embed(kill, style=style, perspective=perspective, now=NOW)
                assert within_limits(embed), (kill.id, style)
                assert embed.colour is not None
        assert len(full(kill).fields) == 6


def test_a_backlog_packs_ten_compact_embeds_per_message_in_order(kills):
    embeds = [
        kill_embed(kill, style="compact", perspective=None, now=NOW)
        for kill in list(kills.values())[:25]
    ]
    messages = pack(embeds)
    assert [len(m) for m in messages] == [10, 10, 5]
    assert [e.description for m in messages for e in m] == [e.description for e in embeds]


def test_a_backlog_of_full_embeds_fills_each_message_up_to_6000_characters(kills):
    embeds = [full(kill) for kill in kills.values()]
    messages = pack(embeds)
    assert [e.url for m in messages for e in m] == [e.url for e in embeds]
    sizes = [sum(embed_size(e) for e in m) for m in messages]
    assert max(sizes) <= TOTAL
    # Greedy: a message was closed only when the next embed would not have fitted.
    for message, size, following in zip(messages, sizes, messages[1:], strict=False):
        assert len(message) == EMBEDS_PER_MESSAGE or size + embed_size(following[0]) > TOTAL
    # Full embeds run to 600-800 characters: 7 to 10 of them per message.
    assert min(len(m) for m in messages[:-1]) >= 7


def test_a_backlog_of_large_embeds_packs_within_6000_characters(kills):
    embeds = []
    for kill in list(kills.values())[:9]:
        embed = full(kill)
        embed.description = "x" * 2000  # a long text: about 2,600 characters each
        embeds.append(embed)
    messages = pack(embeds)
    assert [len(m) for m in messages] == [2, 2, 2, 2, 1]
    for message in messages:
        assert len(message) <= EMBEDS_PER_MESSAGE
        assert sum(embed_size(e) for e in message) <= TOTAL
