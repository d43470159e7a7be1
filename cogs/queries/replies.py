"""Answering a query: in public (a query is for everyone in the channel), never pinging.

A query reads the store and may draw charts, which can outlast the 3 s Discord allows for an
answer, so each command first defers with a public "thinking…" (:func:`begin`) that the
answer (:func:`send`) then fills. Refusals and errors go through :func:`report_query_error`:
the engine's :class:`~engine.queries.QueryError` is told as it is (escaped); anything else is
handled as the subscription commands handle it (an error id for the unexpected).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import discord
from discord import app_commands

from bot.render.limits import truncate
from bot.render.text import md
from cogs.subscriptions.context import services
from cogs.subscriptions.errors import Refusal
from cogs.subscriptions.render import CONTENT
from cogs.subscriptions.replies import NO_MENTIONS, error_text
from engine.queries import Queries, QueryError

__all__ = ["QueriesUnavailable", "Reply", "begin", "queries", "report_query_error", "send"]

log = logging.getLogger(__name__)


class QueriesUnavailable(Refusal):
    def __init__(self) -> None:
        super().__init__("Queries of stored kills are not set up on this bot.")


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: text, embeds, and PNG files by name (embeds show them as
    ``attachment://<name>``)."""

    content: str | None = None
    embeds: Sequence[discord.Embed] = ()
    files: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def queries(interaction: discord.Interaction) -> Queries:
    """The query facade the bot was started with."""
    found = services(interaction).queries
    if found is None:
        raise QueriesUnavailable()
    return found


async def begin(interaction: discord.Interaction) -> None:
    """Show a public "thinking…" while the store is read."""
    await interaction.response.defer(thinking=True)


async def send(interaction: discord.Interaction, replies: Sequence[Reply]) -> None:
    """The messages in order: the first fills the deferred answer, the rest follow it."""
    for reply in replies:
        files = [discord.File(io.BytesIO(data), filename=name) for name, data in reply.files]
        if interaction.response.is_done():
            await interaction.followup.send(
                reply.content or discord.utils.MISSING,
                embeds=list(reply.embeds),
                files=files,
                allowed_mentions=NO_MENTIONS,
            )
        else:
            await interaction.response.send_message(
                reply.content, embeds=list(reply.embeds), files=files,
                allowed_mentions=NO_MENTIONS,
            )


async def report_query_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """Why the query cannot be answered. Before the deferral (a bad option, a check) only the
    member sees it; after, it fills the "thinking…" everyone saw."""
    cause: BaseException = error
    if isinstance(error, app_commands.CommandInvokeError):
        cause = error.original
    if isinstance(cause, QueryError):
        text = truncate(md(str(cause)), CONTENT)
    else:
        text = error_text(interaction, error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
    except discord.HTTPException as exc:  # the interaction expired, or Discord is down
        log.warning("could not tell the member why /%s failed: %s",
                    interaction.command.qualified_name if interaction.command else "?", exc)
