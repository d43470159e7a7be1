"""Autocomplete for name arguments, answered from memory (the universe) well inside 3 s.

Systems, constellations, regions, ship types and ship groups complete by name prefix from the
universe; an entity name offers the players' names the store has seen on kills, then the
factions and NPC corporations the universe knows, and any other exact name is resolved when
submitted. The
filter text completes the value being typed after a name field (``region = Del`` ->
``region = Delve``). Subscription ids complete from the server's (or the member's DM)
subscriptions. Every callback returns at most 25 choices and never raises.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Final, TypeAlias, TypeVar

import discord
from discord import app_commands

from cogs.subscriptions.context import services
from engine.enrich.universe import Group, ItemType, Universe
from engine.filters.fields import FIELDS
from engine.filters.lexer import KEYWORDS
from engine.subscriptions import SubscriptionView

__all__ = [
    "MAX_CHOICES",
    "complete_constellation",
    "complete_dm_subscription",
    "complete_entity",
    "complete_filter",
    "complete_mention",
    "complete_region",
    "complete_server_subscription",
    "complete_ship_groups",
    "complete_ship_type",
    "complete_system",
    "filter_completions",
    "ship_groups",
    "ship_types",
]

log = logging.getLogger(__name__)

MAX_CHOICES: Final = 25
MAX_VALUE: Final = 100  # Discord's limit on a choice's name and value
SHIPS: Final = 6  # the Ship category
ChoiceT = TypeVar("ChoiceT", str, int)
Completer: TypeAlias = Callable[
    [discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[ChoiceT]]]
]


def _never_raises(fn: Completer[ChoiceT]) -> Completer[ChoiceT]:
    """A failed suggestion must not become an error the member sees: offer nothing instead."""

    @functools.wraps(fn)
    async def safe(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[ChoiceT]]:
        try:
            return (await fn(interaction, current))[:MAX_CHOICES]
        except Exception:
            log.exception("autocomplete %s failed for %r", fn.__name__, current)
            return []

    return safe


def _choices(names: Iterable[str]) -> list[app_commands.Choice[str]]:
    unique = dict.fromkeys(n for n in names if 0 < len(n) <= MAX_VALUE)
    return [app_commands.Choice(name=n, value=n) for n in list(unique)[:MAX_CHOICES]]


@functools.lru_cache(maxsize=4)
def ship_groups(universe: Universe) -> tuple[Group, ...]:
    """The published groups of the Ship category, by name (about fifty)."""
    every = universe.complete_groups("", 1_000_000, published_only=True)
    return tuple(g for g in every if g.category_id == SHIPS)


@functools.lru_cache(maxsize=4)
def ship_types(universe: Universe) -> tuple[ItemType, ...]:
    """The published ships, by name (a few hundred)."""
    every = universe.complete_types("", 1_000_000, published_only=True)
    return tuple(t for t in every if t.category_id == SHIPS)


def _prefixed(names: Iterable[str], prefix: str) -> list[str]:
    wanted = prefix.strip().casefold()
    return [n for n in names if n.casefold().startswith(wanted)]


@_never_raises
async def complete_system(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    universe = services(interaction).universe
    return _choices(s.name for s in universe.complete_systems(current.strip(), MAX_CHOICES))


@_never_raises
async def complete_constellation(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    universe = services(interaction).universe
    found = universe.complete_constellations(current.strip(), MAX_CHOICES)
    return _choices(c.name for c in found)


@_never_raises
async def complete_region(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    universe = services(interaction).universe
    return _choices(r.name for r in universe.complete_regions(current.strip(), MAX_CHOICES))


@_never_raises
async def complete_ship_type(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    ships = ship_types(services(interaction).universe)
    return _choices(_prefixed((t.name for t in ships), current)[:MAX_CHOICES])


@_never_raises
async def complete_ship_groups(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Ship groups, several separated by commas: the last one is the one completed."""
    *done, typing = current.split(",")
    head = ", ".join(part.strip() for part in done if part.strip())
    chosen = {part.strip().casefold() for part in done}
    names = [
        g.name
        for g in ship_groups(services(interaction).universe)
        if g.name.casefold() not in chosen
    ]
    found = _prefixed(names, typing)
    return _choices(f"{head}, {name}" if head else name for name in found)


@_never_raises
async def complete_entity(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Characters, corporations and alliances the store has seen on kills, then factions and
    NPC corporations, by prefix; any other exact name is still resolved on submit."""
    found = services(interaction)
    prefix = current.strip()
    if not prefix:
        return []
    seen = await found.queries.complete_entity(prefix) if found.queries is not None else []
    factions = [f.name for f in found.universe.complete_factions(prefix, MAX_CHOICES)]
    corporations = [
        c.name for c in found.universe.complete_npc_corporations(prefix, MAX_CHOICES)
    ]
    return _choices([*seen, *factions, *corporations])


@_never_raises
async def complete_mention(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """none, @here, @everyone and this server's roles (a role's value is ``role:<id>``)."""
    wanted = current.strip().removeprefix("@").casefold()
    fixed = [("none", "none"), ("@here", "@here"), ("@everyone", "@everyone")]
    roles: list[tuple[str, str]] = []
    if interaction.guild is not None:
        roles = [
            (f"@{r.name}"[:MAX_VALUE], f"role:{r.id}")
            for r in sorted(interaction.guild.roles, key=lambda r: r.name.casefold())
            if not r.is_default() and not r.managed
        ]
    return [
        app_commands.Choice(name=name, value=value)
        for name, value in [*fixed, *roles]
        if name.removeprefix("@").casefold().startswith(wanted)
    ][:MAX_CHOICES]


def _subscription_choices(
    views: Sequence[SubscriptionView], current: str
) -> list[app_commands.Choice[int]]:
    wanted = current.strip().removeprefix("#").casefold()
    found: list[app_commands.Choice[int]] = []
    for view in reversed(views):  # newest first: the one just made is the likeliest
        label = f"#{view.id} {'(paused) ' if view.paused else ''}{view.filter_text}"
        if wanted and not (str(view.id).startswith(wanted) or wanted in label.casefold()):
            continue
        if len(label) > MAX_VALUE:
            label = label[: MAX_VALUE - 1] + "…"
        found.append(app_commands.Choice(name=label, value=view.id))
        if len(found) == MAX_CHOICES:
            break
    return found


@_never_raises
async def complete_server_subscription(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[int]]:
    if interaction.guild_id is None:
        return []
    views = await services(interaction).subscriptions.list_guild(interaction.guild_id)
    return _subscription_choices(views, current)


@_never_raises
async def complete_dm_subscription(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[int]]:
    views = await services(interaction).subscriptions.list_dms(interaction.user.id)
    return _subscription_choices(views, current)


# -- the filter text ---------------------------------------------------------------------------

# The value being typed: after `=`, `!=`, `(`, `,` or `from`, up to the end of the text.
_VALUE_AT_END: Final = re.compile(
    r"^(?P<before>.*(?:==?|!=|<>|\(|,|\bfrom\b)\s*)(?P<partial>\"?[^=()<>!,\"]*)$",
    re.IGNORECASE | re.DOTALL,
)
# The field that value belongs to: the last one before the operator (and an open list).
_FIELD_BEFORE: Final = re.compile(
    r"(?P<field>[a-z_]+(?:\.[a-z_]+)?)\s*(?:==?|!=|<>|\bnot\s+in\b|\bin\b|\bfrom\b)\s*"
    r"(?:\([^()]*)?$",
    re.IGNORECASE,
)
_BARE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def _as_value(name: str) -> str:
    """A name as the filter text takes it: bare when it is one plain word, else quoted."""
    bare = _BARE_NAME.fullmatch(name) and name.casefold() not in KEYWORDS
    return name if bare else '"' + name.replace('"', "") + '"'


def _names_for(universe: Universe, field: str, prefix: str) -> list[str]:
    spec = FIELDS.get(field.casefold())
    kind = spec.ids if spec is not None else None
    if kind == "system":
        return [s.name for s in universe.complete_systems(prefix, MAX_CHOICES)]
    if kind == "constellation":
        return [c.name for c in universe.complete_constellations(prefix, MAX_CHOICES)]
    if kind == "region":
        return [r.name for r in universe.complete_regions(prefix, MAX_CHOICES)]
    if kind == "group":
        pool = ship_groups(universe) if field.endswith("ship_group") else ()
        names = _prefixed((g.name for g in pool), prefix)
        if len(names) < MAX_CHOICES:
            more = universe.complete_groups(prefix, MAX_CHOICES, published_only=True)
            names += [g.name for g in more]
        return names
    if kind == "type":
        if field.endswith("ship_type"):
            return _prefixed((t.name for t in ship_types(universe)), prefix)
        return [t.name for t in universe.complete_types(prefix, MAX_CHOICES, published_only=True)]
    if kind == "category":
        return [c.name for c in universe.complete_categories(prefix, MAX_CHOICES)]
    if kind == "faction":
        return [f.name for f in universe.complete_factions(prefix, MAX_CHOICES)]
    return []  # characters, corporations, alliances: ESI names, resolved on submit


def filter_completions(universe: Universe, text: str) -> list[str]:
    """Whole filter texts completing the name being typed at the end of ``text``."""
    value = _VALUE_AT_END.match(text)
    if value is None:
        return []
    before, partial = value.group("before"), value.group("partial")
    field = _FIELD_BEFORE.search(before)
    if field is None:
        return []
    names = _names_for(universe, field.group("field"), partial.lstrip('"').strip())
    found = [before + _as_value(name) for name in dict.fromkeys(names)]
    return [f for f in found if len(f) <= MAX_VALUE][:MAX_CHOICES]


@_never_raises
async def complete_filter(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return _choices(filter_completions(services(interaction).universe, current))
