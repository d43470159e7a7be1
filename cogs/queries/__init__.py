"""Query commands over the kills this bot has stored (a discord.py extension).

- ``/kills recent [system|region|entity]``, ``/kills top [period] [region]``;
- ``/intel character|corporation|alliance name [days]`` with activity and ship-class charts,
  ``/intel system name [hours]``;
- ``/battle report system [hours]``: the biggest fight around a system, by side.

Anyone may run them, anywhere; the answers are public (a query is for the whole channel) and
never ping. Each command defers, makes one call on :class:`engine.queries.Queries` (reached as
``bot.services.queries``), renders the answer and draws its charts off the event loop.
"""

from __future__ import annotations

from discord import app_commands
from discord.ext import commands

from cogs.queries.battle import BattleGroup
from cogs.queries.intel import IntelGroup
from cogs.queries.kills import KillsGroup

__all__ = ["GROUPS", "groups", "setup"]

GROUPS = (KillsGroup, IntelGroup, BattleGroup)


def groups() -> list[app_commands.Group]:
    """Fresh instances of the command groups this extension registers."""
    return [group() for group in GROUPS]


async def setup(bot: commands.Bot) -> None:
    for group in groups():
        bot.tree.add_command(group)
