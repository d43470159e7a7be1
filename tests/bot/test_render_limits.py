"""Discord's embed limits, enforced by fit_embed, fit_lines and pack."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import discord

from bot.render.limits import (
    AUTHOR,
    DESCRIPTION,
    ELLIPSIS,
    FIELD_NAME,
    FIELD_VALUE,
    FIELDS,
    FOOTER,
    TITLE,
    TOTAL,
    embed_size,
    fit_embed,
    fit_lines,
    pack,
    size,
    truncate,
    within_limits,
)

WHEN = datetime(2025, 11, 10, 5, 12, 31, tzinfo=UTC)


def oversized() -> discord.Embed:
    embed = discord.Embed(
        title="T" * 300,
        url="https://zkillboard.com/kill/131126432/",
        description="D" * 5000,
        colour=0x57F287,
        timestamp=WHEN,
    )
    embed.set_author(name="A" * 300, url="https://zkillboard.com/corporation/98480154/")
    embed.set_thumbnail(url="https://images.evetech.net/types/35834/render?size=128")
    for i in range(30):
        embed.add_field(name=f"{i:02d}" + "n" * 300, value=f"{i:02d}" + "v" * 2000)
    embed.set_footer(text="F" * 3000)
    return embed


def test_each_part_is_cut_to_its_limit_with_an_ellipsis():
    fitted = fit_embed(oversized())
    assert within_limits(fitted)
    assert fitted.title == "T" * (TITLE - 1) + ELLIPSIS
    assert fitted.author.name == "A" * (AUTHOR - 1) + ELLIPSIS
    assert fitted.footer.text == "F" * (FOOTER - 1) + ELLIPSIS
    assert embed_size(fitted) <= TOTAL


def test_a_part_within_its_limit_is_left_alone():
    embed = discord.Embed(title="T" * TITLE, description="D" * DESCRIPTION)
    fitted = fit_embed(embed)
    assert fitted.title == embed.title
    assert fitted.description == embed.description


def test_over_6000_the_description_gives_way_first_then_the_last_fields():
    fitted = fit_embed(oversized())
    assert len(fitted.fields) <= FIELDS
    assert embed_size(fitted) <= TOTAL
    # Title 256 + author 256 + footer 2048 leave 3,440 for the rest: the description goes
    # entirely, fields go from the end; two stay whole (1,280 each) and the third keeps 624
    # characters of its value.
    assert fitted.description is None
    assert [f.name[:2] for f in fitted.fields] == ["00", "01", "02"]
    for kept in fitted.fields[:2]:
        assert kept.value == kept.value[:2] + "v" * (FIELD_VALUE - 3) + ELLIPSIS
    assert size(str(fitted.fields[2].value)) == 3440 - 2 * (FIELD_NAME + FIELD_VALUE) - FIELD_NAME
    assert embed_size(fitted) == TOTAL


def test_more_than_25_fields_are_dropped_from_the_end():
    embed = discord.Embed(title="many")
    for i in range(30):
        embed.add_field(name=str(i), value="x")
    fitted = fit_embed(embed)
    assert [f.name for f in fitted.fields] == [str(i) for i in range(FIELDS)]


def test_fitting_keeps_colour_links_images_and_time_and_leaves_the_input_alone():
    original = oversized()
    before = json.dumps(original.to_dict())
    fitted = fit_embed(original)
    assert json.dumps(original.to_dict()) == before
    assert fitted.colour == discord.Colour(0x57F287)
    assert fitted.url == "https://zkillboard.com/kill/131126432/"
    assert fitted.timestamp == WHEN
    assert fitted.thumbnail.url == "https://images.evetech.net/types/35834/render?size=128"
    assert fitted.author.url == "https://zkillboard.com/corporation/98480154/"


def test_an_empty_field_gets_an_invisible_value_discord_accepts():
    embed = discord.Embed().add_field(name="", value="")
    fitted = fit_embed(embed)
    assert within_limits(fitted)
    assert not within_limits(embed)


def test_emoji_outside_the_bmp_count_twice_and_are_never_split():
    squares = "🟥" * DESCRIPTION  # 4,096 characters, 8,192 UTF-16 units
    assert size(squares) == 2 * DESCRIPTION
    cut = truncate(squares, DESCRIPTION)
    assert size(cut) <= DESCRIPTION
    assert cut == "🟥" * ((DESCRIPTION - 1) // 2) + ELLIPSIS
    cut.encode("utf-16-le")  # no lone surrogate


def test_fit_lines_keeps_whole_lines_and_says_how_many_were_left_out():
    lines = [f"line {i:02d}" for i in range(20)]  # 7 characters each
    assert fit_lines(lines, 1000) == "\n".join(lines)
    text = fit_lines(lines, 50)
    assert size(text) <= 50
    kept = text.split("\n")
    assert kept[:-1] == lines[: len(kept) - 1]
    assert kept[-1] == f"{ELLIPSIS} and {20 - (len(kept) - 1)} more"


def test_pack_splits_by_count_and_by_total_size():
    small = [discord.Embed(title=str(i)) for i in range(23)]
    assert [len(m) for m in pack(small)] == [10, 10, 3]
    big = [discord.Embed(description="x" * 2500) for _ in range(5)]
    assert [len(m) for m in pack(big)] == [2, 2, 1]
    assert pack([]) == []


def test_pack_fits_an_oversized_embed_into_a_message_of_its_own():
    messages = pack([oversized(), discord.Embed(description="x" * 100)])
    assert [len(m) for m in messages] == [1, 1]
    assert within_limits(messages[0][0])
