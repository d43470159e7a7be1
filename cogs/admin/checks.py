"""Who may run ``/killwatch``: the server's managers, as for changing its subscriptions.

The predicate is :func:`cogs.subscriptions.permissions.require_manager` (Manage Server, the
bot's configured manager role or the server's own); only the refusal is worded for settings.
Choosing the manager role itself takes Manage Server: a role must not be able to hand itself
on.
"""

from __future__ import annotations

import discord
from discord import app_commands

from cogs.subscriptions.context import server_id, services
from cogs.subscriptions.errors import MissingManagerPermission, Refusal
from cogs.subscriptions.permissions import require_manager
from engine.guilds import GuildSettings

__all__ = [
    "MissingAdminPermission",
    "NoServerSettings",
    "require_admin",
    "require_manage_server",
    "server_settings",
]


class MissingAdminPermission(Refusal, app_commands.CheckFailure):
    def __init__(self, role: str | None, *, server_only: bool = False) -> None:
        if server_only:
            text = "Only members with the **Manage Server** permission choose the manager role."
        else:
            text = (
                "You need the **Manage Server** permission"
                + (f" or the {role} role" if role else "")
                + " to manage Killwatch in this server."
            )
        super().__init__(text)


class NoServerSettings(Refusal):
    def __init__(self) -> None:
        super().__init__(
            "Server settings are not available in this Killwatch (it runs without its store)."
        )


async def require_admin(interaction: discord.Interaction) -> bool:
    """True, or raises why not (:class:`NotInServer` in a DM)."""
    try:
        return await require_manager(interaction)
    except MissingManagerPermission as refused:
        raise MissingAdminPermission(refused.role) from None


def require_manage_server(interaction: discord.Interaction) -> None:
    if not interaction.permissions.manage_guild:
        raise MissingAdminPermission(None, server_only=True)


def server_settings(interaction: discord.Interaction) -> tuple[int, GuildSettings]:
    """The server the command runs in and the settings facade."""
    guild_id = server_id(interaction)
    guilds = services(interaction).guilds
    if guilds is None:
        raise NoServerSettings()
    return guild_id, guilds
