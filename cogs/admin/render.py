"""Replies of ``/killwatch config``, ``pause``, ``resume``, ``export`` and ``import``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import discord

from bot.render.limits import fit_embed, fit_lines, truncate
from bot.render.text import duration, md
from cogs.admin.transfer import Placed
from cogs.subscriptions.render import CONTENT
from engine.dispatch.text import format_isk
from engine.guilds import ServerPause, ServerSettings
from engine.subscriptions import SubscriptionView

__all__ = [
    "config_embed",
    "exported_message",
    "imported_message",
    "paused_message",
    "problems_message",
    "resumed_message",
]

CONFIG_COLOUR: Final = 0x5865F2


def config_embed(settings: ServerSettings, *, changed: Sequence[str] = ()) -> discord.Embed:
    """The server's settings; ``changed`` names those just set (for the title)."""
    title = "Killwatch settings changed" if changed else "Killwatch settings for this server"
    embed = discord.Embed(title=title, colour=CONFIG_COLOUR)
    role = settings.manager_role_id
    embed.add_field(
        name="Manager role",
        value=f"<@&{role}>" if role is not None else "none (Manage Server only)",
    )
    log_channel = settings.log_channel_id
    embed.add_field(
        name="Log channel",
        value=f"<#{log_channel}>" if log_channel is not None else "none (the owner is DMed)",
    )
    embed.add_field(name="Default style", value=settings.default_style or "full")
    max_age = settings.default_max_age
    embed.add_field(
        name="Default max age",
        value=duration(timedelta(minutes=max_age)) if max_age is not None else "none",
    )
    min_value = settings.default_min_value
    embed.add_field(
        name="Default min value",
        value=format_isk(min_value) if min_value is not None else "none",
    )
    state = "**paused**" if settings.paused else "posting"
    if settings.paused and settings.paused_reason:
        state += f" ({md(truncate(settings.paused_reason, 200))})"
    embed.add_field(name="Server", value=state)
    embed.set_footer(
        text="Defaults apply to subscriptions made from now on; /sub edit changes existing "
        "ones. Amounts: 1.2b, 500m or 1,200,000,000. 0 clears a default."
    )
    return fit_embed(embed)


def paused_message(result: ServerPause) -> str:
    count = len(result.changed)
    return (
        f"Killwatch is paused in this server: {count} subscription{'s' if count != 1 else ''} "
        "stopped, and new ones start paused. /killwatch resume restarts exactly those it "
        "paused."
    )


def resumed_message(result: ServerPause) -> str:
    count = len(result.changed)
    lines = [
        f"Killwatch posts again in this server: {count} subscription"
        f"{'s' if count != 1 else ''} resumed."
    ]
    if result.left_paused:
        ids = ", ".join(f"#{n}" for n in result.left_paused)
        lines.append(f"{ids} stay paused: their filter no longer loads (/sub edit fixes it).")
    lines.append("Subscriptions paused for other reasons stay paused: /sub list shows them.")
    return truncate("\n".join(lines), CONTENT)


def exported_message(count: int) -> str:
    return (
        f"{count} subscription{'s' if count != 1 else ''} exported. /killwatch import with "
        "this file recreates them, here or in another server."
    )


def imported_message(views: Sequence[SubscriptionView], placed: Sequence[Placed]) -> str:
    lines = [
        f"#{view.id} → <#{where.channel_id}>"
        + (f" (no channel “{md(where.moved_from)}” here)" if where.moved_from else "")
        + (" · paused" if view.paused else "")
        for view, where in zip(views, placed, strict=True)
    ]
    head = f"Imported {len(views)} subscription{'s' if len(views) != 1 else ''}:"
    return fit_lines([head, *lines], CONTENT, lambda n: f"… and {n} more (/sub list)")


def problems_message(problems: Sequence[str]) -> str:
    head = "Nothing was imported:"
    body = fit_lines(list(problems), CONTENT - len(head) - 60)
    return truncate(f"{head}\n{body}\nFix the file and try again.", CONTENT)

