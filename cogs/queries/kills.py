"""``/kills recent`` and ``/kills top``: stored kills, newest or most valuable."""

from __future__ import annotations

from typing import Final

import discord
from discord import app_commands

from bot.render.text import md
from cogs.queries.completion import complete_stored_entity
from cogs.queries.render import kills_replies
from cogs.queries.replies import begin, queries, report_query_error, send
from cogs.subscriptions.completion import complete_region, complete_system
from engine.queries import Period

__all__ = ["KillsGroup"]

SHOWN: Final = 10
Name = app_commands.Range[str, 1, 100]


class KillsGroup(app_commands.Group, name="kills", description="Kills stored by this bot"):
    @app_commands.command(name="recent", description="The latest stored kills")
    @app_commands.describe(
        system="only in this solar system",
        region="only in this region",
        entity="only with this character, corporation or alliance on them (name or id)",
    )
    @app_commands.autocomplete(
        system=complete_system, region=complete_region, entity=complete_stored_entity
    )
    async def recent(
        self,
        interaction: discord.Interaction,
        system: Name | None = None,
        region: Name | None = None,
        entity: Name | None = None,
    ) -> None:
        await begin(interaction)
        kills = await queries(interaction).recent(
            system=system, region=region, entity=entity, limit=SHOWN
        )
        where = " · ".join(
            f"{what} **{md(value)}**"
            for what, value in (("in", system), ("in", region), ("with", entity))
            if value is not None
        )
        heading = (
            f"The latest {len(kills)} stored kill{'s' if len(kills) != 1 else ''}"
            + (f" {where}" if where else "")
            + ":"
            if kills
            else "No stored kills" + (f" {where}" if where else "") + " yet."
        )
        await send(interaction, kills_replies(heading, kills, discord.utils.utcnow()))

    @app_commands.command(name="top", description="The most valuable stored kills")
    @app_commands.describe(period="of the last day, week or month", region="only in this region")
    @app_commands.autocomplete(region=complete_region)
    async def top(
        self,
        interaction: discord.Interaction,
        period: Period = "week",
        region: Name | None = None,
    ) -> None:
        await begin(interaction)
        kills = await queries(interaction).top(period, region, limit=SHOWN)
        where = f" in **{md(region)}**" if region is not None else ""
        heading = (
            f"The {len(kills)} most valuable kill{'s' if len(kills) != 1 else ''} of the last "
            f"{period}{where}:"
            if kills
            else f"No kills with a value are stored for the last {period}{where}."
        )
        await send(interaction, kills_replies(heading, kills, discord.utils.utcnow()))

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_query_error(interaction, error)
