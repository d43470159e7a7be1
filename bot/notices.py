"""Telling a server, once, that one of its channels stopped taking posts.

When Discord refuses a channel for good (403 missing access or permissions, 404 unknown
channel) its subscriptions are paused and nobody would notice: :func:`notify_gone` posts one
message to the server's log channel (``/killwatch config log_channel``), or DMs the server's
owner when there is none or it cannot be posted to. Each (destination, reason) is told once,
remembered in the store, so a restart or a retried send does not say it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, Literal

import discord

from bot.discord_bot import KillwatchBot
from bot.render.limits import truncate
from bot.render.text import md
from engine.subscriptions import SubscriptionView

__all__ = ["Notice", "gone_message", "notify_gone"]

log = logging.getLogger(__name__)

_CONTENT: Final = 2000
_SHOWN_IDS: Final = 20


@dataclass(frozen=True, slots=True)
class Notice:
    """Where a notice went: the log channel or the owner's DMs, and the message posted."""

    to: Literal["log_channel", "owner"]
    channel_id: int
    message_id: int


def gone_message(
    channel_id: int,
    guild_name: str,
    reason: str,
    paused: list[int],
    *,
    to_owner: bool,
    broken_log_channel: int | None = None,
) -> str:
    """The notice: which channel, why, what was paused and how to get it back."""
    where = f"<#{channel_id}> (channel id {channel_id})"
    if to_owner:
        where += f" in your server **{md(guild_name)}**"
    shown = ", ".join(f"#{n}" for n in paused[:_SHOWN_IDS])
    if len(paused) > _SHOWN_IDS:
        shown += f" and {len(paused) - _SHOWN_IDS} more"
    lines = [
        f"Killwatch can no longer post kills in {where}: {md(reason)}.",
        (f"Its subscriptions {shown} are paused." if paused
         else "Its subscriptions are paused."),
        "Give me **View Channel**, **Send Messages** and **Embed Links** there, then resume "
        "them with /sub resume — or remove them with /sub remove if the channel is gone.",
    ]
    if to_owner and broken_log_channel is not None:
        lines.append(
            "You get this as the server's owner because I cannot post in its log channel "
            f"<#{broken_log_channel}> either."
        )
    elif to_owner:
        lines.append(
            "You get this as the server's owner because no log channel is set: "
            "/killwatch config log_channel chooses one."
        )
    return truncate("\n".join(lines), _CONTENT)


async def notify_gone(bot: KillwatchBot, destination: str, reason: str) -> Notice | None:
    """Tell the server whose channel ``destination`` stopped taking posts, once per
    (destination, reason): in its log channel, else in its owner's DMs. Returns where it was
    told, or None when it was told before, concerns a member's DMs (nobody else to tell),
    the server is unknown, or no message could be delivered (logged, never raised)."""
    kind, _, number = destination.partition(":")
    guilds = bot.services.guilds
    if kind != "channel" or not number.isdigit():
        return None
    if guilds is None:
        log.warning("cannot tell anyone that %s is gone: no server settings", destination)
        return None
    channel_id = int(number)
    views = await bot.services.subscriptions.list(destination)
    guild = _guild_of(bot, channel_id, views)
    if guild is None:
        log.warning("cannot tell anyone that %s is gone: its server is unknown", destination)
        return None
    if not await guilds.first_notice(destination, reason):
        return None
    paused = [v.id for v in views if v.paused and v.pause_reason == reason]
    settings = await guilds.get(guild.id)
    log_channel = settings.log_channel_id
    # The log channel may be the very channel that is gone: then only the owner can be told.
    if log_channel is not None and log_channel != channel_id:
        text = gone_message(channel_id, guild.name, reason, paused, to_owner=False)
        target = bot.get_partial_messageable(log_channel, guild_id=guild.id)
        sent = await _send(target, text, destination)
        if sent is not None:
            return Notice("log_channel", log_channel, sent.id)
    if guild.owner_id is None:
        log.warning("cannot tell anyone that %s is gone: server %d has no known owner",
                    destination, guild.id)
        return None
    text = gone_message(
        channel_id, guild.name, reason, paused, to_owner=True, broken_log_channel=log_channel
    )
    try:
        dm = await bot.create_dm(discord.Object(guild.owner_id))
    except discord.HTTPException as exc:
        log.warning("could not open the DMs of the owner of server %d: %s", guild.id, exc)
        return None
    sent = await _send(dm, text, destination)
    return None if sent is None else Notice("owner", dm.id, sent.id)


def _guild_of(
    bot: KillwatchBot, channel_id: int, views: tuple[SubscriptionView, ...]
) -> discord.Guild | None:
    # A deleted channel is gone from the cache too; its subscriptions still know the server.
    channel = bot.get_channel(channel_id)
    if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return channel.guild
    guild_id = next((v.guild_id for v in views if v.guild_id is not None), None)
    return None if guild_id is None else bot.get_guild(guild_id)


async def _send(
    target: discord.abc.Messageable, text: str, destination: str
) -> discord.Message | None:
    try:
        return await target.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException as exc:
        log.warning("could not tell anyone that %s is gone: %s", destination, exc)
        return None
