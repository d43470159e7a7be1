"""Subscription commands: ``/watch``, ``/sub`` and ``/dm`` (a discord.py extension).

- ``/watch entity|proximity|radar|bigkills|ganks|supers`` — a preset for this channel;
- ``/sub add|list|show|edit|remove|pause|resume|test`` — this server's subscriptions by
  filter text, and a preview of a filter over the kills stored in the last day;
- ``/dm watch <preset>``, ``/dm add|list|remove|pause|resume`` — a member's own DMs.

Each command parses its options, makes one call on :class:`engine.subscriptions.Subscriptions`
(reached as ``bot.services``) and renders the answer, always ephemeral and never pinging.
Changing a server's subscriptions takes Manage Server or the configured manager role.
"""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from cogs.subscriptions.dm import DmGroup
from cogs.subscriptions.sub import SubGroup
from cogs.subscriptions.watch import ChannelWatch

__all__ = ["GROUPS", "groups", "setup"]

GROUPS = (ChannelWatch, SubGroup, DmGroup)


def groups() -> list[app_commands.Group]:
    """Fresh instances of the command groups this extension registers."""
    return [group() for group in GROUPS]


async def setup(bot: commands.Bot) -> None:
    for group in groups():
        bot.tree.add_command(group)
