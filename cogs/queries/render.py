"""Query results as Discord shows them: pure functions, nothing here talks to Discord.

Names come from data and from members: every one goes through :func:`bot.render.text.md`
(or a masked link built by the render helpers), and replies carry no allowed mentions. Charts
are referenced as ``attachment://<name>``; the command draws them and attaches them under
those names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import discord

from bot.render import BattleSummary, battle_embed, kill_embed, pack
from bot.render.limits import FIELD_VALUE, fit_embed, fit_lines, truncate
from bot.render.links import EntityKind, system_url, zkb_entity_url
from bot.render.parties import entity_link
from bot.render.security import security_colour, security_text, space_label
from bot.render.text import duration, inert, link, md
from cogs.queries.replies import Reply
from cogs.subscriptions.render import CONTENT
from engine.dispatch.text import format_isk
from engine.model import EnrichedKill
from engine.queries import FIGHT_GAP, BattleReport, EntityIntel, SystemIntel, Tally, Window

__all__ = [
    "ACTIVITY_FILE",
    "INTEL_COLOUR",
    "SHIPS_FILE",
    "battle_reply",
    "entity_intel_reply",
    "kills_replies",
    "system_intel_reply",
]

ACTIVITY_FILE: Final = "activity.png"
SHIPS_FILE: Final = "ships.png"
INTEL_COLOUR: Final = 0x5865F2
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                    "Sunday")


def kills_replies(heading: str, kills: Sequence[EnrichedKill], now: datetime) -> list[Reply]:
    """A heading, then the kills as compact embeds, packed into as few messages as fit."""
    embeds = [kill_embed(k, style="compact", perspective=None, now=now) for k in kills]
    messages = pack(embeds)
    replies = [Reply(truncate(heading, CONTENT), messages[0] if messages else ())]
    replies += [Reply(None, group) for group in messages[1:]]
    return replies


def _plain(tally: Tally) -> str:
    return md(tally.name)


def _system_link(tally: Tally) -> str:
    return md(tally.name) if tally.id is None else link(tally.name, system_url(tally.id))


def _group_link(kind: EntityKind) -> Callable[[Tally], str]:
    def label(tally: Tally) -> str:
        if tally.id is None:
            return md(tally.name)
        return entity_link({tally.id: tally.name}, kind, tally.id)

    return label


def _tally_lines(tallies: Sequence[Tally], label: Callable[[Tally], str] = _plain) -> str:
    lines = [f"{t.count:,} × {label(t)}" for t in tallies]
    return fit_lines(lines, FIELD_VALUE) if lines else "none"


def _footer(window: Window, what: str) -> str:
    text = f"From {window.stored:,} {what} stored since {window.since:%Y-%m-%d %H:%M} UTC"
    if not window.complete:
        text += f" · only kills since {window.scanned_from:%Y-%m-%d %H:%M} were counted"
    return text


def _peak_hours(by_hour: Sequence[int]) -> str:
    ranked = sorted(range(24), key=lambda h: (-by_hour[h], h))
    busiest = [h for h in ranked[:3] if by_hour[h] > 0]
    return ", ".join(f"{h:02d}:00 ({by_hour[h]})" for h in busiest) or "none"


def _span(since: datetime, until: datetime) -> str:
    """A query's period as asked: "30 days", "24 hours", "1 hour"."""
    delta = until - since
    if delta >= timedelta(days=2) and delta % timedelta(days=1) == timedelta(0):
        days = delta // timedelta(days=1)
        return f"{days} days"
    if delta % timedelta(hours=1) == timedelta(0):
        hours = delta // timedelta(hours=1)
        return f"{hours} hour" + ("" if hours == 1 else "s")
    return duration(delta)


def entity_intel_reply(intel: EntityIntel) -> Reply:
    """Intel on a character, corporation or alliance; charts as :data:`ACTIVITY_FILE` and
    :data:`SHIPS_FILE`. Plain text when nothing of it is stored."""
    who = intel.entity
    span = _span(intel.window.since, intel.window.until)
    if not intel.found:
        return Reply(
            f"No kills or losses of the {who.kind} **{md(who.name)}** are stored for the last "
            f"{span}."
        )
    destroyed, lost = intel.isk_destroyed, intel.isk_lost
    lines = [
        f"**{intel.kills:,}** kill{'s' if intel.kills != 1 else ''} "
        f"(**{format_isk(destroyed)}** destroyed) · **{intel.losses:,}** "
        f"loss{'es' if intel.losses != 1 else ''} (**{format_isk(lost)}** lost)",
    ]
    if destroyed + lost > 0:
        lines.append(f"ISK efficiency **{destroyed / (destroyed + lost):.1%}**")
    if intel.last_seen is not None:
        lines.append(f"Last seen {discord.utils.format_dt(intel.last_seen, 'R')}")
    embed = discord.Embed(
        title=md(f"{who.name} · last {span}"),
        url=zkb_entity_url(who.kind, who.id),
        colour=INTEL_COLOUR,
        description="\n".join(lines),
    )
    embed.add_field(name="Ships flown", value=_tally_lines(intel.ships_flown))
    embed.add_field(name="Ships lost", value=_tally_lines(intel.ships_lost))
    embed.add_field(name="Active systems", value=_tally_lines(intel.systems, _system_link))
    busiest_day = max(range(7), key=lambda d: (intel.by_weekday[d], -d))
    embed.add_field(
        name="Active hours (UTC)",
        value=f"{_peak_hours(intel.by_hour)}\nbusiest day: {_WEEKDAYS[busiest_day]}",
        inline=False,
    )
    embed.set_image(url=f"attachment://{ACTIVITY_FILE}")
    embed.set_footer(text=_footer(intel.window, "kills"))
    ships = discord.Embed(title="Ship classes flown and lost", colour=INTEL_COLOUR)
    ships.set_image(url=f"attachment://{SHIPS_FILE}")
    return Reply(None, [fit_embed(embed), ships])


def system_intel_reply(intel: SystemIntel) -> Reply:
    """Intel on a system; the class mix chart as :data:`SHIPS_FILE`."""
    place = intel.place
    span = _span(intel.window.since, intel.window.until)
    if intel.kills == 0:
        return Reply(f"No kills are stored in **{md(place.system_name)}** for the last {span}.")
    where = f"{security_text(place.security)} {space_label(place)}"
    if place.region_name:
        where += f" · {md(place.region_name)}"
    embed = discord.Embed(
        title=md(f"{place.system_name} · last {span}"),
        url=system_url(place.system_id),
        colour=security_colour(place.security),
        description=(
            f"**{intel.kills:,}** kill{'s' if intel.kills != 1 else ''}, "
            f"**{format_isk(intel.isk_destroyed)}** destroyed\n{where}"
        ),
    )
    alliances = _tally_lines(intel.alliances, _group_link("alliance"))
    corporations = _tally_lines(intel.corporations, _group_link("corporation"))
    embed.add_field(name="Most active alliances", value=alliances)
    embed.add_field(name="Most active corporations", value=corporations)
    embed.add_field(name="Ships lost", value=_tally_lines(intel.classes_lost[:5]))
    latest = [
        f"{link(k.victim_ship.name, k.killmail.url)} · "
        f"{format_isk(k.value) if k.value is not None else 'value unknown'} · "
        f"{discord.utils.format_dt(k.killmail.time, 'R')}"
        for k in intel.recent
    ]
    embed.add_field(name="Latest kills", value=fit_lines(latest, FIELD_VALUE), inline=False)
    embed.set_image(url=f"attachment://{SHIPS_FILE}")
    embed.set_footer(text=_footer(intel.window, "kills"))
    return Reply(None, [fit_embed(embed)])


def battle_reply(report: BattleReport) -> Reply:
    """The biggest fight as a battle summary; plain text when there was none."""
    centre = report.centre
    around = len(report.systems) - 1
    span = _span(report.since, report.until)
    if not report.fights:
        return Reply(
            f"No kills are stored in **{md(centre.system_name)}** or the {around} "
            f"system{'s' if around != 1 else ''} next to it for the last {span}."
        )
    summary = BattleSummary()
    for kill in report.fights[0].kills:
        summary.add(kill)
    embed = battle_embed(summary)
    gap = int(FIGHT_GAP / timedelta(minutes=1))
    footer = (
        f"Battle report · {inert(centre.system_name)} and {around} systems around it, last "
        f"{span} · kills at most {gap} min apart"
    )
    if not report.complete:
        footer += " · only the latest kills were read"
    embed.set_footer(text=footer)
    content = None
    others = len(report.fights) - 1
    if others:
        content = (
            f"{len(report.fights)} separate fights around **{md(centre.system_name)}** in the "
            f"last {span}; the biggest:"
        )
    return Reply(content, [fit_embed(embed)])
