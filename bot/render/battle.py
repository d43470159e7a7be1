"""The live battle summary: one message edited as a fight's kills arrive, instead of a flood.

:class:`BattleSummary` accumulates kills (pure, no I/O; a kill seen twice counts once) and
:func:`battle_embed` renders it within Discord's limits.

Sides are not in the data; they are inferred. Each pilot's group is its alliance, else its
corporation. Every kill is evidence: the victim's group is hostile to each attacking group, and
the attacking groups are friendly with the one that brought the most pilots. When rendering,
the most involved group founds the first side; then, pass after pass, each group joins the side
the evidence favours (friendship with a side's groups and hostility to the other side's both
count for it). Groups with no evidence either way, such as a lone group killed by NPCs, are
shown as third parties. NPC attackers belong to no side.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

import discord

from bot.render.limits import FIELD_VALUE, fit_embed, fit_lines
from bot.render.links import related_url
from bot.render.parties import entity_link, name
from bot.render.text import duration, link, md
from engine.dispatch.text import format_isk
from engine.model import EnrichedKill

__all__ = [
    "BATTLE_COLOUR",
    "BattleSummary",
    "Group",
    "GroupTally",
    "NotableLoss",
    "Side",
    "battle_embed",
    "shown_count",
]

BATTLE_COLOUR: Final = 0xE67E22
_GROUPS_TEXT: Final = 400  # characters of group names per side field
_COUNT: Final = re.compile(r"\*\*([\d,]+) ships? destroyed\*\*")  # as _overview writes it


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """A corporation or alliance on the field."""

    kind: Literal["alliance", "corporation"]
    id: int


@dataclass(frozen=True, slots=True)
class GroupTally:
    group: Group
    name: str  # raw, unescaped (``#id`` until a lookup names it)
    pilots: int
    ships_lost: int
    isk_lost: float


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the fight; ``third_party`` for groups not tied to either side."""

    groups: tuple[GroupTally, ...]  # most pilots first
    pilots: int
    kills: int  # kills where this side brought the most pilots
    isk_destroyed: float
    ships_lost: int
    isk_lost: float
    losses_by_class: tuple[tuple[str, int], ...]  # most lost first
    third_party: bool = False


@dataclass(frozen=True, slots=True)
class NotableLoss:
    killmail_id: int
    url: str
    ship: str
    value: float | None
    victim: Group | None
    system: str
    time: datetime


@dataclass(slots=True)
class _GroupState:
    pilots: set[int] = field(default_factory=set)
    appearances: int = 0  # kills it took part in, on either end
    ships_lost: int = 0
    isk_lost: float = 0.0
    classes: Counter[str] = field(default_factory=Counter)


class BattleSummary:
    """Everything the summary message shows, updated one kill at a time."""

    def __init__(self, *, notable: int = 5) -> None:
        self._notable_size = notable
        self._seen: set[int] = set()
        self._names: dict[int, str] = {}
        self._groups: dict[Group, _GroupState] = {}
        self._friendly: dict[Group, Counter[Group]] = {}
        self._hostile: dict[Group, Counter[Group]] = {}
        # Per kill: the attacking group with most pilots, and the value destroyed.
        self._leads: list[tuple[Group | None, float]] = []
        self._notable: list[tuple[float, int, NotableLoss]] = []  # a min-heap by value
        self._systems: Counter[int] = Counter()
        self._system_names: dict[int, str] = {}
        self._isk = 0.0
        self._first: datetime | None = None
        self._last: datetime | None = None

    def add(self, kill: EnrichedKill) -> bool:
        """Count ``kill``; False (and nothing changes) when it was counted already."""
        if kill.id in self._seen:
            return False
        self._seen.add(kill.id)
        self._names.update(kill.names)
        km = kill.killmail
        when = km.time if km.time.tzinfo else km.time.replace(tzinfo=UTC)
        self._first = when if self._first is None else min(self._first, when)
        self._last = when if self._last is None else max(self._last, when)
        self._systems[kill.place.system_id] += 1
        self._system_names[kill.place.system_id] = kill.place.system_name
        value = kill.value or 0.0
        self._isk += value

        victim = _group_of(km.victim.alliance_id, km.victim.corporation_id)
        if victim is not None:
            state = self._state(victim)
            state.appearances += 1
            state.ships_lost += 1
            state.isk_lost += value
            state.classes[kill.ship_class or kill.victim_ship.name] += 1
            if km.victim.character_id is not None:
                state.pilots.add(km.victim.character_id)

        pilots: Counter[Group] = Counter()
        for attacker in km.attackers:
            group = _group_of(attacker.alliance_id, attacker.corporation_id)
            if attacker.character_id is None or group is None:
                continue  # NPCs take no side
            pilots[group] += 1
            self._state(group).pilots.add(attacker.character_id)
        lead = min(pilots, key=lambda g: (-pilots[g], g)) if pilots else None
        for group in pilots:
            self._state(group).appearances += 1
            if lead is not None and group != lead:
                _link(self._friendly, group, lead)
            if victim is not None and group != victim:  # an awox is no evidence of sides
                _link(self._hostile, group, victim)
        self._leads.append((lead, value))

        loss = NotableLoss(
            killmail_id=kill.id,
            url=km.url,
            ship=kill.victim_ship.name,
            value=kill.value,
            victim=victim,
            system=kill.place.system_name,
            time=when,
        )
        entry = (value, -kill.id, loss)  # equal values: the earlier killmail stays
        if len(self._notable) < self._notable_size:
            heapq.heappush(self._notable, entry)
        elif entry > self._notable[0]:
            heapq.heapreplace(self._notable, entry)
        return True

    @property
    def kills(self) -> int:
        return len(self._seen)

    @property
    def isk_destroyed(self) -> float:
        return self._isk

    @property
    def first(self) -> datetime | None:
        return self._first

    @property
    def last(self) -> datetime | None:
        return self._last

    @property
    def names(self) -> Mapping[int, str]:
        return self._names

    def systems(self) -> list[tuple[int, str, int]]:
        """(system id, name, kills), busiest first."""
        ranked = sorted(self._systems.items(), key=lambda item: (-item[1], item[0]))
        return [(sid, self._system_names[sid], n) for sid, n in ranked]

    def notable_losses(self) -> list[NotableLoss]:
        """The most valuable losses, most valuable first."""
        return [loss for _, _, loss in sorted(self._notable, reverse=True)]

    def sides(self) -> tuple[Side, ...]:
        """The two sides (the most involved group's first), then any third parties."""
        assigned = self._assign_sides()
        members: dict[int, list[Group]] = {}
        for group in self._ranked_groups():
            members.setdefault(assigned.get(group, 2), []).append(group)
        kills: Counter[int] = Counter()
        destroyed: dict[int, float] = {}
        for lead, value in self._leads:
            if lead is not None:
                index = assigned.get(lead, 2)
                kills[index] += 1
                destroyed[index] = destroyed.get(index, 0.0) + value
        return tuple(
            self._side(members[index], kills[index], destroyed.get(index, 0.0), index == 2)
            for index in sorted(members)
        )

    def _state(self, group: Group) -> _GroupState:
        state = self._groups.get(group)
        if state is None:
            state = self._groups[group] = _GroupState()
        return state

    def _ranked_groups(self) -> list[Group]:
        groups = self._groups
        return sorted(groups, key=lambda g: (-len(groups[g].pilots), -groups[g].appearances, g))

    def _assign_sides(self) -> dict[Group, int]:
        order = self._ranked_groups()
        if not order:
            return {}
        assigned = {order[0]: 0}
        changed = True
        while changed:
            changed = False
            for group in order:
                if group in assigned:
                    continue
                score = [0, 0]
                for other, weight in self._friendly.get(group, {}).items():
                    if other in assigned:
                        score[assigned[other]] += weight
                for other, weight in self._hostile.get(group, {}).items():
                    if other in assigned:
                        score[1 - assigned[other]] += weight
                if score[0] != score[1]:
                    assigned[group] = 0 if score[0] > score[1] else 1
                    changed = True
        return assigned

    def _side(self, groups: list[Group], kills: int, destroyed: float, third: bool) -> Side:
        states = [self._groups[g] for g in groups]
        classes: Counter[str] = Counter()
        for state in states:
            classes.update(state.classes)
        tallies = tuple(
            GroupTally(g, name(self._names, g.id), len(s.pilots), s.ships_lost, s.isk_lost)
            for g, s in zip(groups, states, strict=True)
        )
        return Side(
            groups=tallies,
            pilots=sum(t.pilots for t in tallies),
            kills=kills,
            isk_destroyed=destroyed,
            ships_lost=sum(s.ships_lost for s in states),
            isk_lost=sum(s.isk_lost for s in states),
            losses_by_class=tuple(sorted(classes.items(), key=lambda item: (-item[1], item[0]))),
            third_party=third,
        )


def battle_embed(summary: BattleSummary) -> discord.Embed:
    """The summary as one embed within Discord's limits."""
    systems = summary.systems()
    first, last = summary.first, summary.last
    if not systems or first is None or last is None:
        return discord.Embed(
            title="Battle summary", description="No kills yet.", colour=BATTLE_COLOUR
        )
    main_id, main_name, _ = systems[0]
    title = f"Battle in {main_name}"
    if len(systems) > 1:
        more = len(systems) - 1
        title += f" and {more} more system" + ("" if more == 1 else "s")
    embed = discord.Embed(
        title=md(title),
        url=related_url(main_id, first),
        colour=BATTLE_COLOUR,
        timestamp=last,
        description=_overview(summary, systems, first, last),
    )
    sides = summary.sides()
    shown = [s for s in sides if not s.third_party] + [s for s in sides if s.third_party]
    for number, side in enumerate(shown, start=1):
        embed.add_field(name=_side_name(side, number), value=_side_text(side), inline=False)
    losses = summary.notable_losses()
    if losses:
        lines = [_loss_line(summary.names, loss) for loss in losses]
        embed.add_field(name="Notable losses", value=fit_lines(lines, FIELD_VALUE), inline=False)
    embed.set_footer(text=f"Live summary, updated as kills arrive · last kill {last:%H:%M:%S} UTC")
    return fit_embed(embed)


def shown_count(embed: Mapping[str, object]) -> int | None:
    """The kill count a summary embed (as Discord returns it) shows; None if it is not one."""
    found = _COUNT.search(str(embed.get("description") or ""))
    return None if found is None else int(found.group(1).replace(",", ""))


def _overview(
    summary: BattleSummary, systems: list[tuple[int, str, int]], first: datetime, last: datetime
) -> str:
    kills = summary.kills
    end = "%H:%M" if first.date() == last.date() else "%Y-%m-%d %H:%M"
    lines = [
        f"**{kills:,} ship" + ("" if kills == 1 else "s") + f" destroyed**, "
        f"**{format_isk(summary.isk_destroyed)}** lost in all",
        f"{first:%Y-%m-%d %H:%M} – {last:{end}} UTC ({duration(last - first)})",
    ]
    places = [f"{md(system)} ({n})" for _, system, n in systems]
    lines.append("Systems: " + _capped(places, 600))
    return "\n".join(lines)


def _side_name(side: Side, number: int) -> str:
    if side.third_party:
        return "Third parties"
    lead = side.groups[0].name
    more = len(side.groups) - 1
    return md(f"Side {number}: {lead}" + (f" +{more}" if more else ""))


def _side_text(side: Side) -> str:
    groups = [f"{md(t.name)} ({t.pilots})" for t in side.groups]
    lines = [
        _capped(groups, _GROUPS_TEXT),
        f"**{side.pilots:,}** pilots · killed **{side.kills:,}** "
        f"({format_isk(side.isk_destroyed)}) · lost **{side.ships_lost:,}** "
        f"({format_isk(side.isk_lost)})",
    ]
    if side.losses_by_class:
        lost = [f"{n} {md(ship_class)}" for ship_class, n in side.losses_by_class]
        lines.append("Lost: " + _capped(lost, 300))
    return "\n".join(lines)


def _loss_line(names: Mapping[int, str], loss: NotableLoss) -> str:
    value = format_isk(loss.value) if loss.value is not None else "value unknown"
    line = f"{link(loss.ship, loss.url)} **{value}**"
    if loss.victim is not None:
        line += f" · {entity_link(names, loss.victim.kind, loss.victim.id)}"
    return f"{line} · {md(loss.system)} {loss.time:%H:%M}"


def _capped(items: list[str], limit: int) -> str:
    """Items joined by commas within about ``limit`` characters, then "and N more"."""
    shown: list[str] = []
    used = 0
    for item in items:
        if shown and used + len(item) + 2 > limit:
            break
        shown.append(item)
        used += len(item) + 2
    text = ", ".join(shown)
    left = len(items) - len(shown)
    return f"{text} and {left} more" if left else text


def _group_of(alliance_id: int | None, corporation_id: int | None) -> Group | None:
    if alliance_id is not None:
        return Group("alliance", alliance_id)
    if corporation_id is not None:
        return Group("corporation", corporation_id)
    return None


def _link(edges: dict[Group, Counter[Group]], a: Group, b: Group) -> None:
    edges.setdefault(a, Counter())[b] += 1
    edges.setdefault(b, Counter())[a] += 1
