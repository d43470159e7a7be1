"""Who may change a server's subscriptions: Manage Server, or the configured manager role.

:func:`require_manager` is the one predicate; :func:`manager_only` registers it on a command,
and ``/watch`` runs it as its group's ``interaction_check``. Reading (``/sub list``, ``show``,
``test``) and a member's own ``/dm`` commands need neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import discord
from discord import app_commands

from bot.render.text import md
from cogs.subscriptions.context import server_id, services
from cogs.subscriptions.errors import MissingManagerPermission

__all__ = ["has_manager_role", "manager_only", "require_manager"]

T = TypeVar("T")


def has_manager_role(member: discord.Member, manager_role: str | None) -> bool:
    """Whether the member holds the configured role, given by id or by name (any case)."""
    if not manager_role:
        return False
    wanted = manager_role.strip().removeprefix("@").casefold()
    return any(str(role.id) == wanted or role.name.casefold() == wanted for role in member.roles)


def _role_label(manager_role: str | None, server_role_id: int | None = None) -> str | None:
    labels: list[str] = []
    if manager_role:
        text = manager_role.strip()
        # A role mention renders as the role's name and, with no allowed mentions, pings nobody.
        labels.append(f"<@&{text}>" if text.isdigit() else f"**{md(text.removeprefix('@'))}**")
    if server_role_id is not None:
        labels.append(f"<@&{server_role_id}>")
    return " or the ".join(labels) or None


async def require_manager(interaction: discord.Interaction) -> bool:
    """True, or raises why not: :class:`NotInServer` in a DM, else
    :class:`MissingManagerPermission` naming what is missing. The manager role is the bot's
    configured one or the server's own (``/killwatch config manager_role``)."""
    guild_id = server_id(interaction)
    if interaction.permissions.manage_guild:
        return True
    found = services(interaction)
    server_role_id = None
    if found.guilds is not None:
        server_role_id = (await found.guilds.get(guild_id)).manager_role_id
    user = interaction.user
    if isinstance(user, discord.Member) and (
        has_manager_role(user, found.manager_role)
        or (server_role_id is not None and user.get_role(server_role_id) is not None)
    ):
        return True
    raise MissingManagerPermission(_role_label(found.manager_role, server_role_id))


def manager_only() -> Callable[[T], T]:
    """A command only Manage Server members (or the manager role) may run."""
    check: Callable[[T], T] = app_commands.check(require_manager)
    return check


