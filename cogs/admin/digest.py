"""``/killwatch digest on|off [channel]``: the weekly "top kills" post in a channel.

Managers only, as the rest of ``/killwatch``; the answer is ephemeral. The channel is the one
the command runs in unless another of the server's channels is given. Turning it on checks
that the bot can post embeds there; the posting itself is the digest job's
(:mod:`bot.digest`).
"""

from __future__ import annotations

import discord
from discord import app_commands

from cogs.admin.checks import require_admin
from cogs.subscriptions.context import server_id, services
from cogs.subscriptions.errors import BadArgument, Refusal
from cogs.subscriptions.replies import answer
from engine.digests import DigestChannels

__all__ = ["DigestGroup", "digest_off_message", "digest_on_message"]


class NoDigest(Refusal):
    def __init__(self) -> None:
        super().__init__("The weekly digest is not available in this Killwatch.")


class DigestGroup(app_commands.Group, name="digest", description="The weekly top kills post"):
    """Added under ``/killwatch`` (its parent answers errors)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return await require_admin(interaction)

    @app_commands.command(name="on", description="Post the week's top kills here every week")
    @app_commands.describe(channel="another channel of this server to post them in")
    async def on(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        guild_id, digests, channel_id = _where(interaction, channel)
        missing = _missing(interaction, channel)
        if missing:
            needed = ", ".join(f"**{name}**" for name in missing)
            raise BadArgument(f"I cannot post the digest in <#{channel_id}>: I need {needed} "
                              "there. Grant them, or pick another channel.")
        added = await digests.opt_in(channel_id, guild_id)
        await answer(interaction, digest_on_message(
            channel_id, services(interaction).digest_slot.describe(), already=not added
        ))

    @app_commands.command(name="off", description="Stop the weekly top kills post here")
    @app_commands.describe(channel="another channel of this server to stop it in")
    async def off(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        _, digests, channel_id = _where(interaction, channel)
        removed = await digests.opt_out(channel_id)
        await answer(interaction, digest_off_message(channel_id, was_on=removed))


def digest_on_message(channel_id: int, when: str, *, already: bool) -> str:
    state = "already gets" if already else "will get"
    return f"<#{channel_id}> {state} the top kills of the week, {when}."


def digest_off_message(channel_id: int, *, was_on: bool) -> str:
    if not was_on:
        return f"<#{channel_id}> was not getting the weekly digest."
    return f"<#{channel_id}> will no longer get the weekly digest."


def _where(
    interaction: discord.Interaction, channel: discord.TextChannel | None
) -> tuple[int, DigestChannels, int]:
    guild_id = server_id(interaction)
    digests = services(interaction).digests
    if digests is None:
        raise NoDigest()
    channel_id = channel.id if channel is not None else interaction.channel_id
    if channel_id is None:  # pragma: no cover - Discord always sends it for slash commands
        raise BadArgument("Run this in a channel, or name one.")
    return guild_id, digests, channel_id


def _missing(interaction: discord.Interaction, channel: discord.TextChannel | None) -> list[str]:
    """What the bot lacks to post the digest (embeds) in the channel."""
    if channel is None or channel.id == interaction.channel_id:
        mine = interaction.app_permissions
    else:
        mine = channel.permissions_for(channel.guild.me)
    in_thread = isinstance(interaction.channel, discord.Thread) and channel is None
    return [
        name
        for name, granted in (
            ("View Channel", mine.view_channel),
            ("Send Messages", mine.send_messages_in_threads if in_thread else mine.send_messages),
            ("Embed Links", mine.embed_links),
        )
        if not granted
    ]
