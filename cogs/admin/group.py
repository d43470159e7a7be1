"""``/killwatch config|status|export|import|pause|resume|digest``: running Killwatch in a server.

Only the server's managers (Manage Server, or the manager role) may use them; every answer is
ephemeral. Each command parses its options, calls the engine's facades (``bot.services``:
:class:`engine.guilds.GuildSettings`, :class:`engine.subscriptions.Subscriptions`, and the
running engine and sender for the status) and renders the answer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, Literal

import discord
from discord import app_commands

from bot.render.text import md
from cogs.admin.checks import require_admin, require_manage_server, server_settings
from cogs.admin.digest import DigestGroup
from cogs.admin.render import (
    config_embed,
    exported_message,
    imported_message,
    paused_message,
    problems_message,
    resumed_message,
)
from cogs.admin.status import status_embed
from cogs.admin.transfer import (
    MAX_IMPORT_BYTES,
    ImportRejected,
    export_bytes,
    plan_import,
    read_export,
)
from cogs.subscriptions.arguments import MAX_AGE_MINUTES, Isk, StyleName
from cogs.subscriptions.context import services
from cogs.subscriptions.errors import BadArgument, NotInServer
from cogs.subscriptions.replies import NO_MENTIONS, answer, report_error
from engine.subscriptions import UNSET, InvalidBatch

__all__ = ["KillwatchGroup"]

Setting = Literal[
    "manager_role", "log_channel", "default_style", "default_max_age", "default_min_value"
]


class KillwatchGroup(
    app_commands.Group,
    name="killwatch",
    description="Killwatch in this server: settings, status, backup, pause",
    guild_only=True,
):
    def __init__(self) -> None:
        super().__init__()
        DigestGroup(parent=self)  # /killwatch digest on|off: adds itself under this group

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await require_admin(interaction)

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)

    @app_commands.command(name="config", description="Show or change this server's settings")
    @app_commands.describe(
        manager_role="members with this role may manage Killwatch here (Manage Server only)",
        log_channel="where Killwatch reports problems, such as a channel it lost",
        default_style="how new subscriptions post: full embed, compact or link",
        default_max_age="new subscriptions skip kills older than this many minutes (0: none)",
        default_min_value="new subscriptions skip kills worth less, e.g. 1.2b (0: none)",
        clear="a setting to unset",
    )
    async def config(
        self,
        interaction: discord.Interaction,
        manager_role: discord.Role | None = None,
        log_channel: discord.TextChannel | None = None,
        default_style: StyleName | None = None,
        default_max_age: app_commands.Range[int, 0, MAX_AGE_MINUTES] | None = None,
        default_min_value: Isk | None = None,
        clear: Setting | None = None,
    ) -> None:
        guild_id, guilds = server_settings(interaction)
        changes: dict[str, Any] = {}
        if manager_role is not None:
            if manager_role.is_default():
                raise BadArgument("@everyone cannot be the manager role: pick a role.")
            changes["manager_role_id"] = manager_role.id
        if log_channel is not None:
            _check_can_post(interaction, log_channel)
            changes["log_channel_id"] = log_channel.id
        if default_style is not None:
            changes["default_style"] = default_style
        if default_max_age is not None:
            changes["default_max_age"] = default_max_age or None
        if default_min_value is not None:
            changes["default_min_value"] = default_min_value or None
        if clear is not None:
            key = {"manager_role": "manager_role_id", "log_channel": "log_channel_id"}.get(
                clear, clear
            )
            if key in changes:
                raise BadArgument(f"Set {clear} or clear it, not both at once.")
            changes[key] = None
        if "manager_role_id" in changes:
            require_manage_server(interaction)
        if not changes:
            settings = await guilds.get(guild_id)
        else:
            settings = await guilds.set(guild_id, **{k: changes.get(k, UNSET) for k in _KEYS})
        await answer(interaction, embeds=[config_embed(settings, changed=sorted(changes))])

    @app_commands.command(name="status", description="Feeds, queues, posting, and this server")
    async def status(self, interaction: discord.Interaction) -> None:
        guild_id, guilds = server_settings(interaction)
        found = services(interaction)
        settings = await guilds.get(guild_id)
        views = await found.subscriptions.list_guild(guild_id)
        engine, sender = found.running.engine, found.running.sender
        embed = status_embed(
            engine.status() if engine is not None else None,
            sender.status() if sender is not None else None,
            views,
            lambda subscription_id: found.subscriptions.posting(subscription_id) is not None,
            settings,
            discord.utils.utcnow(),
        )
        await answer(interaction, embeds=[embed])

    @app_commands.command(name="export", description="This server's subscriptions as a file")
    async def export(self, interaction: discord.Interaction) -> None:
        guild_id, _ = server_settings(interaction)
        guild = _guild(interaction)
        views = await services(interaction).subscriptions.list_guild(guild_id)
        if not views:
            await answer(interaction, "This server has no subscriptions to export.")
            return
        now = discord.utils.utcnow()
        data = export_bytes(guild, views, now)
        upload = discord.File(
            io.BytesIO(data), filename=f"killwatch-{guild_id}-{now:%Y%m%d-%H%M}.json"
        )
        await interaction.response.send_message(
            exported_message(len(views)), file=upload, ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="import", description="Recreate subscriptions from an export")
    @app_commands.describe(file="a file made by /killwatch export, here or in another server")
    async def import_(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        server_settings(interaction)
        guild = _guild(interaction)
        if file.size > MAX_IMPORT_BYTES:
            raise BadArgument(
                f"The file is {file.size:,} bytes; an export is at most {MAX_IMPORT_BYTES:,}."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException as exc:
            raise BadArgument("I could not download the file; please try again.") from exc
        found = services(interaction)
        here = interaction.channel_id or 0
        try:
            plan = plan_import(
                read_export(data), guild, here, interaction.user.id,
                missing_permissions=lambda channel: _missing(interaction, channel),
                pings=found.pings, atlas=found.universe,
            )
        except ImportRejected as rejected:
            await answer(interaction, problems_message(rejected.problems))
            return
        try:
            views = await found.subscriptions.create_many(plan.subscriptions)
        except InvalidBatch as invalid:
            problems = [f"#{index + 1}: {md(str(error))}" for index, error in invalid.problems]
            await answer(interaction, problems_message(problems))
            return
        await answer(interaction, imported_message(views, plan.placed))

    @app_commands.command(name="pause", description="Stop posting in this whole server")
    @app_commands.describe(reason="why, shown in /killwatch status and config")
    async def pause(
        self,
        interaction: discord.Interaction,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        guild_id, guilds = server_settings(interaction)
        result = await guilds.pause(guild_id, reason)
        await answer(interaction, paused_message(result))

    @app_commands.command(name="resume", description="Post again in this server")
    async def resume(self, interaction: discord.Interaction) -> None:
        guild_id, guilds = server_settings(interaction)
        result = await guilds.resume(guild_id)
        await answer(interaction, resumed_message(result))


_KEYS = (
    "manager_role_id", "log_channel_id", "default_style", "default_max_age", "default_min_value"
)


def _guild(interaction: discord.Interaction) -> discord.Guild:
    if interaction.guild is None:  # pragma: no cover - guild_only, and the guild is cached
        raise NotInServer()
    return interaction.guild


def _missing(
    interaction: discord.Interaction, channel: discord.abc.GuildChannel | discord.Thread
) -> Sequence[str]:
    """What the bot lacks to post kills in ``channel`` (nothing when it cannot tell)."""
    if channel.id == interaction.channel_id:
        mine = interaction.app_permissions
    elif channel.guild.me is not None:
        mine = channel.permissions_for(channel.guild.me)
    else:  # pragma: no cover - the bot's own member comes with the guild
        return ()
    in_thread = isinstance(channel, discord.Thread)
    return [
        name
        for name, granted in (
            ("View Channel", mine.view_channel),
            ("Send Messages", mine.send_messages_in_threads if in_thread else mine.send_messages),
            ("Embed Links", mine.embed_links),
        )
        if not granted
    ]


def _check_can_post(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
    missing = [m for m in _missing(interaction, channel) if m != "Embed Links"]
    if missing:
        needed = ", ".join(f"**{name}**" for name in missing)
        raise BadArgument(
            f"I cannot post in {channel.mention}: I need {needed} there. Grant them, or pick "
            "another log channel."
        )
