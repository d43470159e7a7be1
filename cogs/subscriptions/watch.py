"""``/watch <preset>`` and ``/dm watch <preset>``: a ready-made subscription from a few answers.

The presets are declared once, in :class:`PresetGroup`; a subclass says where the
subscription goes (this channel, or the member's DMs) and who may make it. Options beyond the
preset's own (mention, cooldown, max age, min value) are set afterwards with ``/sub edit``.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands

from cogs.subscriptions.arguments import Isk, StyleName
from cogs.subscriptions.completion import (
    complete_entity,
    complete_region,
    complete_ship_groups,
    complete_system,
)
from cogs.subscriptions.context import Target, channel_target, dm_target, services
from cogs.subscriptions.permissions import require_manager
from cogs.subscriptions.render import saved_message
from cogs.subscriptions.replies import answer, report_error
from engine.subscriptions import PRESETS, WatchArgs

__all__ = ["ChannelWatch", "DmWatch", "PresetGroup"]

_STYLE = "how kills are posted: full embed, compact (two lines) or link"


class PresetGroup(app_commands.Group):
    """The ``/watch`` presets; subclasses choose the destination."""

    def target(self, interaction: discord.Interaction) -> Target:
        raise NotImplementedError

    async def _watch(
        self, interaction: discord.Interaction, preset: str, args: WatchArgs, style: str | None
    ) -> None:
        where = self.target(interaction)
        view = await services(interaction).subscriptions.watch(
            where.destination, where.guild_id, where.owner_id, preset, args, style=style
        )
        await answer(interaction, saved_message("created", view, where.label))

    @app_commands.command(name="entity", description=PRESETS["entity"])
    @app_commands.describe(
        name="a character, corporation, alliance or faction (name or id)",
        kind="what the name is, when it could be several (needed with an id)",
        side="kills, losses or both",
        style=_STYLE,
    )
    @app_commands.autocomplete(name=complete_entity)
    async def entity(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        kind: Literal["character", "corporation", "alliance", "faction"] | None = None,
        side: Literal["both", "kills", "losses"] = "both",
        style: StyleName | None = None,
    ) -> None:
        args = WatchArgs(entity=name, kind=kind, side=side)
        await self._watch(interaction, "entity", args, style)

    @app_commands.command(name="proximity", description=PRESETS["proximity"])
    @app_commands.describe(
        system="the solar system at the centre", jumps="stargate jumps around it", style=_STYLE
    )
    @app_commands.autocomplete(system=complete_system)
    async def proximity(
        self,
        interaction: discord.Interaction,
        system: app_commands.Range[str, 1, 100],
        jumps: app_commands.Range[int, 0, 50] = 5,
        style: StyleName | None = None,
    ) -> None:
        await self._watch(interaction, "proximity", WatchArgs(system=system, jumps=jumps), style)

    @app_commands.command(name="radar", description=PRESETS["radar"])
    @app_commands.describe(
        system="the solar system at the centre",
        lightyears="light years around it",
        ship_groups="attacking ship groups, separated by commas (default: all capitals)",
        style=_STYLE,
    )
    @app_commands.autocomplete(system=complete_system, ship_groups=complete_ship_groups)
    async def radar(
        self,
        interaction: discord.Interaction,
        system: app_commands.Range[str, 1, 100],
        lightyears: app_commands.Range[float, 0.1, 100.0] = 7.0,
        ship_groups: app_commands.Range[str, 1, 300] | None = None,
        style: StyleName | None = None,
    ) -> None:
        groups = tuple(g.strip() for g in (ship_groups or "").split(",") if g.strip())
        args = WatchArgs(system=system, lightyears=lightyears, ship_groups=groups)
        await self._watch(interaction, "radar", args, style)

    @app_commands.command(name="bigkills", description=PRESETS["bigkills"])
    @app_commands.describe(
        value="the least ISK value, e.g. 10b or 500m (default 10b)",
        region="only in this region",
        style=_STYLE,
    )
    @app_commands.autocomplete(region=complete_region)
    async def bigkills(
        self,
        interaction: discord.Interaction,
        value: Isk | None = None,
        region: app_commands.Range[str, 1, 100] | None = None,
        style: StyleName | None = None,
    ) -> None:
        args = WatchArgs(min_isk=10_000_000_000 if value is None else value, region=region)
        await self._watch(interaction, "bigkills", args, style)

    @app_commands.command(name="ganks", description=PRESETS["ganks"])
    @app_commands.describe(style=_STYLE)
    async def ganks(self, interaction: discord.Interaction, style: StyleName | None = None) -> None:
        await self._watch(interaction, "ganks", WatchArgs(), style)

    @app_commands.command(name="supers", description=PRESETS["supers"])
    @app_commands.describe(style=_STYLE)
    async def supers(
        self, interaction: discord.Interaction, style: StyleName | None = None
    ) -> None:
        await self._watch(interaction, "supers", WatchArgs(), style)


class ChannelWatch(
    PresetGroup,
    name="watch",
    description="Post kills in this channel from a ready-made filter",
    guild_only=True,
):
    """``/watch``: for managers of the server, into the channel the command runs in."""

    def target(self, interaction: discord.Interaction) -> Target:
        return channel_target(interaction)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await require_manager(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)


class DmWatch(PresetGroup, name="watch", description="Kills in your DMs from a ready-made filter"):
    """``/dm watch``: anyone, for their own DMs (errors are reported by ``/dm``)."""

    def target(self, interaction: discord.Interaction) -> Target:
        return dm_target(interaction)
