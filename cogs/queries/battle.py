"""``/battle report``: the kills around a system clustered into fights, the biggest shown as
a battle summary (sides by alliance, ships lost, ISK per side)."""

from __future__ import annotations

import discord
from discord import app_commands

from cogs.queries.render import battle_reply
from cogs.queries.replies import begin, queries, report_query_error, send
from cogs.subscriptions.completion import complete_system
from engine.queries import MAX_BATTLE_HOURS

__all__ = ["BattleGroup"]


class BattleGroup(app_commands.Group, name="battle", description="Fights in the stored kills"):
    @app_commands.command(
        name="report", description="The biggest fight in and around a system, by side"
    )
    @app_commands.describe(
        system="the solar system (its neighbours one jump away are included)",
        hours="how many hours back (default 2)",
    )
    @app_commands.autocomplete(system=complete_system)
    async def report(
        self,
        interaction: discord.Interaction,
        system: app_commands.Range[str, 1, 100],
        hours: app_commands.Range[int, 1, MAX_BATTLE_HOURS] = 2,
    ) -> None:
        await begin(interaction)
        found = await queries(interaction).battle(system, hours)
        await send(interaction, [battle_reply(found)])

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_query_error(interaction, error)
