"""``/intel character|corporation|alliance|system``: what the store knows of someone or
somewhere, with charts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import discord
from discord import app_commands

from bot.charts import activity_chart, class_mix_chart
from cogs.queries.completion import complete_stored_entity
from cogs.queries.render import (
    ACTIVITY_FILE,
    SHIPS_FILE,
    entity_intel_reply,
    system_intel_reply,
)
from cogs.queries.replies import begin, queries, report_query_error, send
from cogs.subscriptions.completion import complete_system
from engine.queries import MAX_SYSTEM_HOURS, EntityIntel, EntityKind, SystemIntel, Tally

__all__ = ["IntelGroup"]

Name = app_commands.Range[str, 1, 100]
Days = app_commands.Range[int, 1, 90]
_NAME = "the name as in game (or the id)"
_DAYS = "how many days back (default 30)"


def _rows(tallies: tuple[Tally, ...]) -> list[tuple[str, int]]:
    return [(t.name, t.count) for t in tallies]


class IntelGroup(app_commands.Group, name="intel", description="What the stored kills tell"):
    async def _entity(
        self, interaction: discord.Interaction, kind: EntityKind, name: str, days: int
    ) -> None:
        await begin(interaction)
        intel = await queries(interaction).intel(kind, name, timedelta(days=days))
        reply = entity_intel_reply(intel)
        if intel.found:
            reply = dataclasses.replace(reply, files=await _entity_charts(intel))
        await send(interaction, [reply])

    @app_commands.command(name="character", description="A character's kills, losses and habits")
    @app_commands.describe(name=_NAME, days=_DAYS)
    @app_commands.autocomplete(name=complete_stored_entity)
    async def character(
        self, interaction: discord.Interaction, name: Name, days: Days = 30
    ) -> None:
        await self._entity(interaction, "character", name, days)

    @app_commands.command(name="corporation", description="A corporation's kills and losses")
    @app_commands.describe(name=_NAME, days=_DAYS)
    @app_commands.autocomplete(name=complete_stored_entity)
    async def corporation(
        self, interaction: discord.Interaction, name: Name, days: Days = 30
    ) -> None:
        await self._entity(interaction, "corporation", name, days)

    @app_commands.command(name="alliance", description="An alliance's kills and losses")
    @app_commands.describe(name=_NAME, days=_DAYS)
    @app_commands.autocomplete(name=complete_stored_entity)
    async def alliance(
        self, interaction: discord.Interaction, name: Name, days: Days = 30
    ) -> None:
        await self._entity(interaction, "alliance", name, days)

    @app_commands.command(name="system", description="Recent activity in a solar system")
    @app_commands.describe(name="the solar system", hours="how many hours back (default 24)")
    @app_commands.autocomplete(name=complete_system)
    async def system(
        self,
        interaction: discord.Interaction,
        name: Name,
        hours: app_commands.Range[int, 1, MAX_SYSTEM_HOURS] = 24,
    ) -> None:
        await begin(interaction)
        intel = await queries(interaction).system_intel(name, hours)
        reply = system_intel_reply(intel)
        if intel.kills:
            reply = dataclasses.replace(reply, files=await _system_charts(intel))
        await send(interaction, [reply])

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_query_error(interaction, error)


async def _entity_charts(intel: EntityIntel) -> list[tuple[str, bytes]]:
    name = intel.entity.name
    activity = await activity_chart(
        intel.by_hour, intel.by_weekday, title=f"{name}: kills and losses by time (UTC)"
    )
    ships = await class_mix_chart(
        {"flown": _rows(intel.classes_flown), "lost": _rows(intel.classes_lost)},
        title=f"{name}: ship classes",
    )
    return [(ACTIVITY_FILE, activity), (SHIPS_FILE, ships)]


async def _system_charts(intel: SystemIntel) -> list[tuple[str, bytes]]:
    ships = await class_mix_chart(
        {"flown by attackers": _rows(intel.classes_flown), "lost": _rows(intel.classes_lost)},
        title=f"{intel.place.system_name}: ship classes",
    )
    return [(SHIPS_FILE, ships)]
