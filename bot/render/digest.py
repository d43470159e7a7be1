"""The weekly digest as one embed: the most valuable kills of the week, one entry each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import discord

from bot.render.limits import DESCRIPTION, fit_embed, fit_lines
from bot.render.links import system_url
from bot.render.parties import affiliation, who
from bot.render.security import security_text
from bot.render.text import link, md
from engine.dispatch.text import format_isk
from engine.model import EnrichedKill

__all__ = ["DIGEST_COLOUR", "DIGEST_TITLE", "digest_embed"]

DIGEST_TITLE: Final = "Top kills of the week"
DIGEST_COLOUR: Final = 0xF1C40F  # gold: a ranking, not one side's kill or loss


def digest_embed(kills: Sequence[EnrichedKill], since: datetime, until: datetime) -> discord.Embed:
    """The kills (most valuable first) numbered, each with ship, value, victim, system and
    its zKillboard page; every name escaped."""
    entries = [_entry(rank, kill) for rank, kill in enumerate(kills, start=1)]
    embed = discord.Embed(
        title=DIGEST_TITLE,
        colour=DIGEST_COLOUR,
        description=fit_lines(entries, DESCRIPTION) if entries else "No kills were stored.",
    )
    embed.set_footer(
        text=f"Kills stored by Killwatch from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    )
    return fit_embed(embed)


def _entry(rank: int, kill: EnrichedKill) -> str:
    place = kill.place
    value = "value unknown" if kill.value is None else format_isk(kill.value)
    victim = who(kill, kill.victim)
    group = affiliation(kill, kill.victim)
    if group is not None:
        victim += f" ({group})"
    system = link(place.system_name, system_url(place.system_id))
    where = f"{security_text(place.security)} {system}"
    if place.region_name:
        where += f", {md(place.region_name)}"
    return (
        f"**{rank}. {md(kill.victim_ship.name)}** · **{value}**\n"
        f"{victim} · {where} · {link('zKillboard', kill.killmail.url)}"
    )
