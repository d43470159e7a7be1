"""A kill as Discord shows it, in the three styles a subscription can choose.

- ``full``: one embed with the ship render, victim, final blow, top damage, place, attackers,
  value and time;
- ``compact``: one embed whose description is two lines;
- ``link``: the zKillboard address alone as message content (Discord unfurls it).

Colour says what the kill means to the subscription: green when its entity killed, red when
its entity lost (a loss wins over a kill: an awox is a loss), grey when neither. A subscription
with no entity (big kills, radar, proximity) has no kill or loss to tell, so its embeds take
the game's colour for the system's security instead, which tells where at a glance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias

import discord

from bot.render.limits import fit_embed
from bot.render.links import entity_icon, ship_render, system_url, zkb_entity_url
from bot.render.parties import affiliation, entity_link, ship_name, who
from bot.render.perspective import Perspective
from bot.render.security import security_colour, security_text, space_label
from bot.render.text import duration, inert, link, md
from engine.dispatch.text import format_isk
from engine.model import EnrichedKill, Party

__all__ = [
    "KILL_COLOUR",
    "LATE_AFTER",
    "LOSS_COLOUR",
    "NEUTRAL_COLOUR",
    "EmbedStyle",
    "Style",
    "kill_colour",
    "kill_embed",
    "kill_link",
    "shown_labels",
]

Style: TypeAlias = Literal["full", "compact", "link"]
EmbedStyle: TypeAlias = Literal["full", "compact"]

# Discord's own brand green and red, and its "greyple".
KILL_COLOUR: Final = 0x57F287
LOSS_COLOUR: Final = 0xED4245
NEUTRAL_COLOUR: Final = 0x99AAB5
# A kill rendered this long after it happened says so: big fights reach feeds hours late.
LATE_AFTER: Final = timedelta(minutes=10)


def kill_link(kill: EnrichedKill) -> str:
    """The "link" style: the zKillboard page of the kill, as message content."""
    return kill.killmail.url


def kill_embed(
    kill: EnrichedKill,
    *,
    style: EmbedStyle,
    perspective: Perspective | None,
    now: datetime,
) -> discord.Embed:
    """The kill as one embed within Discord's limits; ``now`` (aware) dates a late post."""
    colour = kill_colour(kill, perspective)
    embed = _full(kill, colour, now) if style == "full" else _compact(kill, colour)
    return fit_embed(embed)


def kill_colour(kill: EnrichedKill, perspective: Perspective | None) -> int:
    if perspective is None:
        return security_colour(kill.place.security)
    outcome = perspective.outcome(kill)
    if outcome == "kill":
        return KILL_COLOUR
    if outcome == "loss":
        return LOSS_COLOUR
    return NEUTRAL_COLOUR


def shown_labels(kill: EnrichedKill) -> list[str]:
    """The labels worth a reader's attention, in a fixed order."""
    shown = []
    if kill.solo:
        shown.append("Solo")
    if kill.awox:
        shown.append("Awox")
    if "ganked" in kill.labels:
        shown.append("Ganked")
    if kill.npc:
        shown.append("NPC")
    return shown


def _full(kill: EnrichedKill, colour: int, now: datetime) -> discord.Embed:
    km = kill.killmail
    when = _utc(km.time)
    labels = shown_labels(kill)
    embed = discord.Embed(
        title=md(f"{kill.victim_ship.name} destroyed in {kill.place.system_name}"),
        url=km.url,
        colour=colour,
        timestamp=when,
        description=" · ".join(f"**{label}**" for label in labels) or None,
    )
    embed.set_thumbnail(url=ship_render(kill.victim_ship.type_id))
    _set_author(embed, kill)
    embed.add_field(name="Victim", value=_victim(kill))
    embed.add_field(name="Final blow", value=_attacker(kill, kill.attackers.final_blow))
    embed.add_field(name="Top damage", value=_top_damage(kill))
    embed.add_field(name="System", value=_system(kill))
    embed.add_field(name="Attackers", value=_attackers(kill))
    embed.add_field(name="Value", value=_value(kill))
    footer = f"Killmail {km.killmail_id} · {when:%Y-%m-%d %H:%M:%S} UTC"
    delay = _utc(now) - when
    if delay >= LATE_AFTER:
        footer += f" · posted {duration(delay)} after the kill"
    embed.set_footer(text=footer)
    return embed


def _compact(kill: EnrichedKill, colour: int) -> discord.Embed:
    km = kill.killmail
    place = kill.place
    victim = who(kill, kill.victim)
    group = _victim_group(kill)
    if group:
        victim += f" ({group})"
    first = f"**{link(kill.victim_ship.name, km.url)}** · {victim} · **{_value(kill)}**"
    where = _where(kill)
    if place.region_name:
        where += f", {md(place.region_name)}"
    count = kill.attackers.count
    attackers = f"{count:,} attacker" + ("" if count == 1 else "s")
    final = kill.attackers.final_blow
    blow = f"final blow {who(kill, final)}"
    if (ship := ship_name(final)) is not None:
        blow += f" ({ship})"
    second = f"{where} · {attackers}, {blow} · {_utc(km.time):%Y-%m-%d %H:%M} UTC"
    labels = shown_labels(kill)
    if labels:
        second += " · " + ", ".join(labels)
    return discord.Embed(description=f"{first}\n{second}", colour=colour)


def _set_author(embed: discord.Embed, kill: EnrichedKill) -> None:
    victim = kill.victim
    if victim.character_id is not None:
        kind: Literal["character", "corporation"] = "character"
        entity_id = victim.character_id
    elif victim.corporation_id is not None:
        kind, entity_id = "corporation", victim.corporation_id
    else:
        return
    embed.set_author(
        name=inert(kill.names.get(entity_id, f"#{entity_id}")),
        url=zkb_entity_url(kind, entity_id),
        icon_url=entity_icon(kind, entity_id),
    )


def _victim(kill: EnrichedKill) -> str:
    victim = kill.victim
    names = kill.names
    lines = []
    if victim.character_id is not None:
        lines.append(entity_link(names, "character", victim.character_id))
    if victim.corporation_id is not None:
        lines.append(entity_link(names, "corporation", victim.corporation_id))
    if victim.alliance_id is not None:
        lines.append(entity_link(names, "alliance", victim.alliance_id))
    if victim.faction_id is not None:
        lines.append(entity_link(names, "faction", victim.faction_id))
    return "\n".join(lines) or "unknown"


def _victim_group(kill: EnrichedKill) -> str | None:
    """Corporation / alliance for the compact line (who() named a pilotless victim's corp)."""
    victim = kill.victim
    names = kill.names
    parts = []
    if victim.character_id is not None and victim.corporation_id is not None:
        parts.append(entity_link(names, "corporation", victim.corporation_id))
    if victim.alliance_id is not None:
        parts.append(entity_link(names, "alliance", victim.alliance_id))
    return " / ".join(parts) or None


def _attacker(kill: EnrichedKill, party: Party | None) -> str:
    if party is None:
        return "unknown"
    lines = [who(kill, party)]
    group = affiliation(kill, party)
    if group is not None:
        lines.append(group)
    ship = ship_name(party)
    if ship is not None:
        lines.append(ship)
    return "\n".join(lines)


def _top_damage(kill: EnrichedKill) -> str:
    top = kill.attackers.top_damage
    if top is None:
        return "unknown"
    text = _attacker(kill, top)
    taken = kill.victim.damage
    if top.damage > 0:
        text += f"\n{top.damage:,} damage"
        if taken > 0:
            share = top.damage / taken
            # "2.7%" of a structure's hit points says more than a rounded "3%".
            text += f" ({share:.1%})" if share < 0.1 else f" ({share:.0%})"
    return text


def _attackers(kill: EnrichedKill) -> str:
    summary = kill.attackers
    npcs = f"{summary.npcs:,} NPC" + ("" if summary.npcs == 1 else "s")
    if summary.players == 0:
        text = npcs
    else:
        players = f"{summary.players:,} player" + ("" if summary.players == 1 else "s")
        text = f"{summary.count:,} ({players}" + (f", {npcs})" if summary.npcs else ")")
    if summary.main_alliance_id is not None:
        text += f"\nmostly {entity_link(kill.names, 'alliance', summary.main_alliance_id)}"
    elif summary.main_corporation_id is not None:
        text += f"\nmostly {entity_link(kill.names, 'corporation', summary.main_corporation_id)}"
    return text


def _system(kill: EnrichedKill) -> str:
    place = kill.place
    lines = [_where(kill)]
    band = space_label(place)
    lines.append(f"{md(place.region_name)} · {band}" if place.region_name else band)
    return "\n".join(lines)


def _where(kill: EnrichedKill) -> str:
    """Security as the game shows it (``🟧 0.4``) and the system, linked."""
    place = kill.place
    return f"{security_text(place.security)} {link(place.system_name, system_url(place.system_id))}"


def _value(kill: EnrichedKill) -> str:
    if kill.value is None:
        return "value unknown"
    text = format_isk(kill.value)
    # A value we computed from market prices is an estimate; zKillboard's is the reference.
    return f"≈ {text}" if kill.value_source == "computed" else text


def _utc(moment: datetime) -> datetime:
    # Feeds give UTC; a naive time would otherwise be read by discord.py as local time.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
