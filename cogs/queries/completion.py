"""Autocomplete for entity names: the characters, corporations and alliances the store has
seen (names ESI gave for parties of stored kills). Systems and regions complete from the
universe with the subscription commands' completers."""

from __future__ import annotations

import logging
from typing import Final

import discord
from discord import app_commands

from cogs.subscriptions.context import services
from engine.queries import EntityKind

__all__ = ["complete_stored_entity"]

log = logging.getLogger(__name__)

_MAX_CHOICES: Final = 25
_MAX_VALUE: Final = 100
_KINDS: Final[dict[str, EntityKind]] = {
    "character": "character", "corporation": "corporation", "alliance": "alliance",
}


async def complete_stored_entity(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Stored names by prefix, of the kind the subcommand is named after (any kind else)."""
    found = services(interaction).queries
    if found is None or not current.strip():
        return []
    command = interaction.command.name if interaction.command is not None else ""
    try:
        names = await found.complete_entity(current, _KINDS.get(command), _MAX_CHOICES)
    except Exception:  # a failed suggestion must not become an error the member sees
        log.exception("entity autocomplete failed for %r", current)
        return []
    return [
        app_commands.Choice(name=name, value=name)
        for name in names[:_MAX_CHOICES]
        if 0 < len(name) <= _MAX_VALUE
    ]
