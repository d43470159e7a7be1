"""Answering a member: always privately, never pinging, and never with a traceback.

:func:`report_error` is what the command groups' ``on_error`` calls: the refusals and errors a
member can act on are told as they are; anything else is logged with an error id and answered
with a short apology quoting that id.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence

import discord
from discord import app_commands

from bot.render.limits import truncate
from bot.render.text import md
from cogs.subscriptions.errors import Refusal
from cogs.subscriptions.render import CONTENT, filter_error_message
from engine.filters import FilterError
from engine.subscriptions import SubscriptionError

__all__ = ["NO_MENTIONS", "answer", "error_text", "report_error"]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


async def answer(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embeds: Sequence[discord.Embed] = (),
) -> None:
    """An ephemeral reply: the response if none was given yet, else a follow-up (after a
    deferral, the first follow-up fills the "thinking…" message)."""
    if interaction.response.is_done():
        await interaction.followup.send(
            content or discord.utils.MISSING,
            embeds=list(embeds),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
    else:
        await interaction.response.send_message(
            content, embeds=list(embeds), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


def error_text(interaction: discord.Interaction, error: app_commands.AppCommandError) -> str:
    """What to tell the member; unexpected errors are logged here, with the id quoted."""
    cause: BaseException = error
    if isinstance(error, app_commands.CommandInvokeError):
        cause = error.original
    if isinstance(cause, FilterError):
        return filter_error_message(cause)
    if isinstance(cause, SubscriptionError):
        return truncate(md(str(cause)), CONTENT)
    if isinstance(cause, Refusal):
        return str(cause)
    if isinstance(cause, app_commands.TransformerError):
        return f"The value “{md(str(cause.value)[:100])}” does not fit that option."
    if isinstance(cause, app_commands.CheckFailure):
        return "You cannot use this command here."
    error_id = secrets.token_hex(4)
    command = interaction.command.qualified_name if interaction.command else "?"
    log.error("/%s failed (error id %s)", command, error_id, exc_info=cause)
    return (
        f"Sorry, something went wrong on my side (error id `{error_id}`). It has been logged; "
        "please try again later or tell the bot's operator the error id."
    )


async def report_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    text = error_text(interaction, error)
    try:
        await answer(interaction, text)
    except discord.HTTPException as exc:  # the interaction expired, or Discord is down
        log.warning("could not tell the member why /%s failed: %s",
                    interaction.command.qualified_name if interaction.command else "?", exc)
