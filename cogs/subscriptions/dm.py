"""``/dm``: a member's own subscriptions, delivered to their DMs — from any server or a DM.

Nobody but the member can see or change them, and no server permission is needed; the number
a member may have is limited by the bot's configuration (``discord.dm_limit``).
"""

from __future__ import annotations

import discord
from discord import app_commands

from cogs.subscriptions.arguments import MAX_AGE_MINUTES, Isk, StyleName
from cogs.subscriptions.completion import complete_dm_subscription, complete_filter
from cogs.subscriptions.context import dm_target, services
from cogs.subscriptions.render import list_embed, saved_message
from cogs.subscriptions.replies import answer, report_error
from cogs.subscriptions.sub import FilterText, SubscriptionId
from cogs.subscriptions.watch import DmWatch

__all__ = ["DmGroup"]

_ID = "the subscription's number (/dm list shows yours)"


class DmGroup(app_commands.Group, name="dm", description="Kills delivered to your DMs"):
    watch = DmWatch()

    @app_commands.command(name="add", description="Kills matching a filter, in your DMs")
    @app_commands.rename(text="filter")
    @app_commands.describe(
        text="e.g. victim.alliance = \"Goonswarm Federation\" and value >= 1b",
        style="how kills are posted: full embed, compact (two lines) or link",
        max_age="skip kills older than this many minutes when they arrive",
        min_value="skip kills worth less, e.g. 500m or 1b",
    )
    @app_commands.autocomplete(text=complete_filter)
    async def add(
        self,
        interaction: discord.Interaction,
        text: FilterText,
        style: StyleName = "full",
        max_age: app_commands.Range[int, 1, MAX_AGE_MINUTES] | None = None,
        min_value: Isk | None = None,
    ) -> None:
        mine = dm_target(interaction)
        view = await services(interaction).subscriptions.create(
            mine.destination, None, mine.owner_id,
            text=text, style=style, max_age=max_age, min_value=min_value,
        )
        await answer(interaction, saved_message("created", view, mine.label))

    @app_commands.command(name="list", description="Your DM subscriptions")
    @app_commands.describe(page="which page, when there are many")
    async def list_(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        views = await services(interaction).subscriptions.list_dms(interaction.user.id)
        embed = list_embed(
            "Your DM subscriptions", views, page, with_place=False,
            empty="You have no DM subscriptions: /dm watch or /dm add makes one.",
        )
        await answer(interaction, embeds=[embed])

    @app_commands.command(name="remove", description="Delete one of your DM subscriptions")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_dm_subscription)
    async def remove(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.remove(
            subscription_id, owner_id=interaction.user.id
        )
        await answer(interaction, saved_message("removed", view, "your DMs"))

    @app_commands.command(name="pause", description="Stop one of your DM subscriptions for now")
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_dm_subscription)
    async def pause(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.pause(
            subscription_id, owner_id=interaction.user.id, reason="paused with /dm pause"
        )
        await answer(interaction, saved_message("paused", view, "your DMs"))

    @app_commands.command(
        name="resume", description="Resume a DM subscription (also after you reopened your DMs)"
    )
    @app_commands.rename(subscription_id="id")
    @app_commands.describe(subscription_id=_ID)
    @app_commands.autocomplete(subscription_id=complete_dm_subscription)
    async def resume(
        self, interaction: discord.Interaction, subscription_id: SubscriptionId
    ) -> None:
        view = await services(interaction).subscriptions.resume(
            subscription_id, owner_id=interaction.user.id
        )
        await answer(interaction, saved_message("resumed", view, "your DMs"))

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)
