"""Options read once, at the edge: ISK amounts, mentions, minutes, the style choice.

What the engine checks itself (ranges of cooldown and max age, a known style) it checks
again; here the text a member typed becomes the value the facade takes.
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeAlias

import discord
from discord import app_commands

from bot.render.text import md
from cogs.subscriptions.context import services
from cogs.subscriptions.errors import BadArgument
from engine.filters.lexer import parse_number

__all__ = [
    "MAX_AGE_MINUTES",
    "MAX_COOLDOWN_MINUTES",
    "Isk",
    "IskTransformer",
    "StyleName",
    "mention_value",
    "parse_isk",
]

StyleName: TypeAlias = Literal["full", "compact", "link"]
MAX_COOLDOWN_MINUTES: Final = 1440  # the engine allows a day
MAX_AGE_MINUTES: Final = 10_080  # the engine allows a week
_GROUPING: Final = re.compile(r"[,\s_]|isk$", re.IGNORECASE)
_ROLE_MENTION: Final = re.compile(r"<@&([0-9]{1,20})>|role:([0-9]{1,20})|([0-9]{15,20})")


def parse_isk(text: str) -> float:
    """``10b``, ``1.5b``, ``500m``, ``1,200,000,000`` or ``2t ISK`` as ISK, else
    :class:`BadArgument`."""
    number = parse_number(_GROUPING.sub("", text.strip()))
    if number is None or number < 0:
        raise BadArgument(f"“{md(text[:50])}” is not an ISK amount: write e.g. 10b, 500m or 1.5b.")
    return float(number)


class IskTransformer(app_commands.Transformer):
    """An ISK amount typed the way players write it."""

    async def transform(self, interaction: discord.Interaction, value: str) -> float:
        return parse_isk(value)


Isk: TypeAlias = app_commands.Transform[float, IskTransformer]


def mention_value(interaction: discord.Interaction, text: str | None) -> str | None:
    """A mention option as the engine stores it: None, ``here``, ``everyone`` or ``role:<id>``.

    Takes what autocomplete offers (``role:<id>``), a role mention, a role's name, ``@here`` or
    ``none``. A role must be one of this server's; pings must be allowed by the bot's
    configuration (``discord.pings``), which is what makes the invite ask for them.
    """
    if text is None:
        return None
    word = text.strip()
    if word.casefold() in ("", "none"):
        return "none"
    if not services(interaction).pings:
        raise BadArgument(
            "Pings are turned off for this bot, so subscriptions cannot mention anyone: the "
            "bot's operator can enable them with the `discord.pings` setting."
        )
    bare = word.removeprefix("@").casefold()
    if bare in ("here", "everyone"):
        return bare
    guild = interaction.guild
    if guild is None:
        raise BadArgument("Mentions only work in server channels.")
    role = _role(guild, word)
    if role is None:
        raise BadArgument(
            f"There is no role “{md(word[:100])}” in this server: pick one from the list, or "
            "use @here, @everyone or none."
        )
    return f"role:{role.id}"


def _role(guild: discord.Guild, word: str) -> discord.Role | None:
    match = _ROLE_MENTION.fullmatch(word)
    if match is not None:
        role_id = int(next(group for group in match.groups() if group))
        return guild.get_role(role_id)
    name = word.removeprefix("@").casefold()
    return next((r for r in guild.roles if r.name.casefold() == name and not r.is_default()), None)
