"""``/sub``: a server's channel subscriptions by filter text — add, list, show, edit, remove,
pause, resume, and test a filter against the kills stored over the last day.

Changing anything takes Manage Server or the manager role (:func:`manager_only`); reading
and testing do not. A subscription is always made for the channel the command runs in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
from discord import app_commands

from bot.render.text import md
from cogs.subscriptions.arguments import (
    MAX_AGE_MINUTES,
    MAX_COOLDOWN_MINUTES,
    Isk,
    StyleName,
    mention_value,
)
from cogs.subscriptions.completion import (
    complete_filter,
    complete_mention,
    complete_server_subscription,
)
from cogs.subscriptions.context import channel_target, server_id, services
from cogs.subscriptions.errors import BadArgument
from cogs.subscriptions.permissions import manager_only
from cogs.subscriptions.render import (
    list_embed,
    preview_reply,
    saved_message,
    subscription_embed,
)
from cogs.subscriptions.replies import answer, report_error
from engine.subscriptions import UNSET

__all__ = ["PREVIEW_HOURS", "PREVIEW_SHOWN", "SubGroup"]

PREVIEW_HOURS = 24
PREVIEW_SHOWN = 3

FilterText = app_commands.Range[str, 1, 4000]
SubscriptionId = app_commands.Range[int, 1, 2**53]
_FILTER = "e.g. region = Delve and value >= 1b (fields: victim.alliance, system, jumps from…)"
_STYLE = "how kills are posted: full embed, compact (two lines) or link"
_MENTION = "none, @here, @everyone or a role, pinged with each post"
_COOLDOWN = "minutes between two pings (default 15)"
_MAX_AGE = "skip kills older than this many minutes when they arrive"
_MIN_VALUE = "skip kills worth less, e.g. 500m or 1b"
_ID = "the subscription's number (/sub list shows them)"


class SubGroup(app_commands.Group, name="sub", description="This server's kill subscriptions"):
    @app_commands.command(name="add", description="Post kills matching a filter in this channel")
    @app_commands.rename(text="filter")
    @app_commands.describe(
        text=_FILTER, style=_STYLE, mention=_MENTION, cooldown=_COOLDOWN, max_age=_MAX_AGE,
        min_value=_MIN_VALUE,
    )
    @app_commands.autocomplete(text=complete_filter, mention=complete_mention)
    @manager_only()
    async def add(
        self,
        interaction: discord.Interaction,
        text: FilterText,
        style: StyleName | None = None,
        mention: app_commands.Range[str, 1, 100] | None = None,
        cooldown: app_commands.Range[int, 0, MAX_COOLDOWN_MINUTES] = 15,
        max_age: app_commands.Range[int, 1, MAX_AGE_MINUTES] | None = None,
        min_value: Isk | None = None,
    ) -> None:
        where = channel_target(interaction)
        view = await services(interaction).subscriptions.create(
            where.destination, where.guild_id, where.owner_id,
            text=text, style=style, mention=mention_value(interaction, mention),
            cooldown=cooldown * 60, max_age=max_age, min_value=min_value,
        )
        await answer(interaction, saved_message("created", view, where.label))

    @app_commands.command(name="list", description="This server's subscriptions")
    @app_commands.describe(page="which page, when there are many")
    async def list_(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        guild_id = server_id(interaction)
        views = await services(interaction).subscriptions.list_guild(guild_id)
        name = interaction.guild.name if interaction.guild is not None else "this server"
        embed = list_embed(
            f"Subscriptions in {md(name)}", views, page,
            empty="No subscriptions in this server yet: /watch or /sub add makes one.",
        )
        await answer(interaction, embeds=[embed])

    @app_commands.command(name="show", description="One subscription in full")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_server_subscription)
    async def show(self, interaction: discord.Interaction, subscription_id: SubscriptionId) -> None:
        view = await services(interaction).subscriptions.show(
            subscription_id, guild_id=server_id(interaction)
        )
        await answer(interaction, embeds=[subscription_embed(view)])

    @app_commands.command(name="edit", description="Change a subscription's filter or options")
    @app_commands.rename(subscription_id="id", text="filter")
    @app_commands.describe(
        subscription_id=_ID, text="the new filter (leave out to keep it)", style=_STYLE,
        mention=_MENTION, cooldown=_COOLDOWN, max_age=_MAX_AGE + " (0 removes the limit)",
        min_value=_MIN_VALUE + " (0 removes it)",
    )
    @app_commands.autocomplete(subscription_id=complete_server_subscription)
    @app_commands.autocomplete(text=complete_filter, mention=complete_mention)
    @manager_only()
    async def edit(
        self,
        interaction: discord.Interaction,
        subscription_id: SubscriptionId,
        text: FilterText | None = None,
        style: StyleName | None = None,
        mention: app_commands.Range[str, 1, 100] | None = None,
        cooldown: app_commands.Range[int, 0, MAX_COOLDOWN_MINUTES] | None = None,
        max_age: app_commands.Range[int, 0, MAX_AGE_MINUTES] | None = None,
        min_value: Isk | None = None,
    ) -> None:
        changes: dict[str, Any] = {
            "style": UNSET if style is None else style,
            "mention": UNSET if mention is None else mention_value(interaction, mention),
            "cooldown": UNSET if cooldown is None else cooldown * 60,
            "max_age": UNSET if max_age is None else (max_age or None),
            "min_value": UNSET if min_value is None else (min_value or None),
        }
        if text is None and all(value is UNSET for value in changes.values()):
            raise BadArgument("Nothing to change: give a new filter or at least one option.")
        view = await services(interaction).subscriptions.edit(
            subscription_id, guild_id=server_id(interaction), text=text, **changes
        )
        await answer(interaction, saved_message("changed", view))

    @app_commands.command(name="remove", description="Delete a subscription")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_server_subscription)
    @manager_only()
    async def remove(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.remove(
            subscription_id, guild_id=server_id(interaction)
        )
        await answer(interaction, saved_message("removed", view))

    @app_commands.command(name="pause", description="Stop posting a subscription for now")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_server_subscription)
    @manager_only()
    async def pause(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.pause(
            subscription_id, guild_id=server_id(interaction), reason="paused with /sub pause"
        )
        await answer(interaction, saved_message("paused", view))

    @app_commands.command(name="resume", description="Post a paused subscription again")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_server_subscription)
    @manager_only()
    async def resume(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.resume(
            subscription_id, guild_id=server_id(interaction)
        )
        await answer(interaction, saved_message("resumed", view))

    @app_commands.command(
        name="test", description="What a filter would have posted in the last day"
    )
    @app_commands.rename(text="filter")
    @app_commands.describe(text=_FILTER, max_age=_MAX_AGE, min_value=_MIN_VALUE)
    @app_commands.autocomplete(text=complete_filter)
    async def test(
        self,
        interaction: discord.Interaction,
        text: FilterText,
        max_age: app_commands.Range[int, 1, MAX_AGE_MINUTES] | None = None,
        min_value: Isk | None = None,
    ) -> None:
        await preview(interaction, text, max_age, min_value)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)


async def preview(
    interaction: discord.Interaction, text: str, max_age: int | None, min_value: float | None
) -> None:
    """Match the filter against the stored kills of the last day, newest first; save nothing."""
    # Reading and enriching a day of kills can outlast the 3 s an answer may take.
    await interaction.response.defer(ephemeral=True, thinking=True)
    found = services(interaction)
    now = discord.utils.utcnow()
    kills = await found.history.since(now - timedelta(hours=PREVIEW_HOURS))
    result = await found.subscriptions.preview(
        text, reversed(kills), now, max_age=max_age, min_value=min_value, first=PREVIEW_SHOWN
    )
    content, embeds = preview_reply(result, text, len(kills), now, hours=PREVIEW_HOURS)
    await answer(interaction, content, embeds=embeds)
