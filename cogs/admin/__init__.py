"""Server admin commands: ``/killwatch config|status|export|import|pause|resume`` (an extension).

- ``config``: the manager role, the log channel, and the style, max age and min value new
  subscriptions start with;
- ``status``: feed lag, kills and posts per minute, queues, 429s, and this server's paused or
  disabled subscriptions;
- ``export`` / ``import``: the server's subscriptions as a JSON file, all or nothing;
- ``pause`` / ``resume``: the whole server.

Managers only (Manage Server or the manager role); every answer is ephemeral.
"""

from __future__ import annotations

from discord.ext import commands

from cogs.admin.group import KillwatchGroup

__all__ = ["KillwatchGroup", "setup"]


async def setup(bot: commands.Bot) -> None:
    bot.tree.add_command(KillwatchGroup())
