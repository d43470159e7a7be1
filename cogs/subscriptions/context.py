"""Who runs a command, where, and where the subscription it makes will post.

A channel subscription always targets the channel the command runs in: there is no channel
option, so no command can subscribe a channel of another server.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.discord_bot import BotServices
from cogs.subscriptions.errors import BotCannotPost, NotInServer

__all__ = ["Target", "channel_target", "dm_target", "server_id", "services"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a new subscription posts, and who answers for it."""

    destination: str  # "channel:<id>" or "user:<id>"
    guild_id: int | None  # None for DMs
    owner_id: int
    label: str  # how a reply names it: "<#id>" or "your DMs"


def services(interaction: discord.Interaction) -> BotServices:
    """The engine facades the bot was started with."""
    found = getattr(interaction.client, "services", None)
    if not isinstance(found, BotServices):
        raise TypeError("subscription commands need a KillwatchBot (bot.services)")
    return found


def server_id(interaction: discord.Interaction) -> int:
    """The server the command runs in; :class:`NotInServer` in a DM."""
    if interaction.guild_id is None:
        raise NotInServer()
    return interaction.guild_id


def channel_target(interaction: discord.Interaction) -> Target:
    """The channel the command runs in, once the bot is known to be able to post there."""
    guild_id = server_id(interaction)
    channel_id = interaction.channel_id
    if channel_id is None:  # pragma: no cover - Discord always sends it for slash commands
        raise NotInServer()
    mine = interaction.app_permissions
    in_thread = isinstance(interaction.channel, discord.Thread)
    can_send = mine.send_messages_in_threads if in_thread else mine.send_messages
    missing = [
        name
        for name, granted in (
            ("View Channel", mine.view_channel),
            ("Send Messages", can_send),
            ("Embed Links", mine.embed_links),
        )
        if not granted
    ]
    if missing:
        raise BotCannotPost(missing)
    return Target(f"channel:{channel_id}", guild_id, interaction.user.id, f"<#{channel_id}>")


def dm_target(interaction: discord.Interaction) -> Target:
    """The invoking member's own DMs, wherever the command runs."""
    user_id = interaction.user.id
    return Target(f"user:{user_id}", None, user_id, "your DMs")
