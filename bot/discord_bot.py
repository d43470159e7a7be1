"""The Discord client: its lifetime, its intents, its command tree, its invite link.

Everything a command needs comes in as `BotServices` (the engine's facades); the cogs reach
them as ``bot.services`` and never touch the store or the engine's insides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.ext import commands

from engine.digests import DigestChannels, WeeklySlot
from engine.enrich.universe import Universe
from engine.guilds import GuildSettings
from engine.history import History
from engine.queries import Queries
from engine.subscriptions import Subscriptions

if TYPE_CHECKING:
    from bot.sender import DiscordSender
    from engine.pipeline import Engine

__all__ = ["COGS", "BotServices", "KillwatchBot", "Running", "invite_permissions", "point_at"]

log = logging.getLogger(__name__)

COGS: tuple[str, ...] = ("cogs.subscriptions", "cogs.admin", "cogs.queries")


@dataclass(slots=True)
class Running:
    """What exists only once the bot is serving: the engine and the sender, for status."""

    engine: Engine | None = None
    sender: DiscordSender | None = None


@dataclass(frozen=True, slots=True)
class BotServices:
    subscriptions: Subscriptions
    universe: Universe
    history: History  # stored kills, for `/sub test` previews and queries
    manager_role: str | None = None
    pings: bool = False
    running: Running = field(default_factory=Running)
    guilds: GuildSettings | None = None  # per-server settings, for /killwatch and notices
    queries: Queries | None = None  # stored kills, for /kills, /intel and /battle
    digests: DigestChannels | None = None  # channels opted in to the weekly digest
    digest_slot: WeeklySlot = field(default_factory=WeeklySlot)  # when it is posted


def invite_permissions(*, pings: bool) -> discord.Permissions:
    """Only what the bot uses; Mention Everyone only when subscriptions may ping."""
    permissions = discord.Permissions(
        view_channel=True, send_messages=True, embed_links=True, attach_files=True
    )
    permissions.mention_everyone = pings
    return permissions


def point_at(api_base_url: str | None, gateway_url: str | None) -> None:
    """Talk to another Discord (a local fake in tests). Process-wide, as discord.py is."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class KillwatchBot(commands.Bot):
    def __init__(
        self,
        services: BotServices,
        *,
        test_guild_id: int | None = None,
        cogs: Sequence[str] = COGS,
        **options: Any,
    ) -> None:
        # No privileged intent: slash commands need none, and guilds gives channels and roles.
        intents = discord.Intents.none()
        intents.guilds = True
        options.setdefault("guild_ready_timeout", 2.0)
        # A 429 longer than this is raised rather than slept through, so the sender can hand
        # the post back to the outbox to retry instead of holding a worker.
        options.setdefault("max_ratelimit_timeout", 30.0)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.services = services
        self._test_guild_id = test_guild_id
        self._cogs = tuple(cogs)

    async def setup_hook(self) -> None:
        for cog in self._cogs:
            await self.load_extension(cog)
        if self._test_guild_id is not None:
            guild = discord.Object(id=self._test_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("%d slash commands registered in server %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("%d slash commands registered globally (Discord may take up to an hour "
                     "to show them everywhere)", len(synced))

    async def on_ready(self) -> None:
        assert self.user is not None
        invite = discord.utils.oauth_url(
            self.user.id,
            permissions=invite_permissions(pings=self.services.pings),
            scopes=("bot", "applications.commands"),
        )
        log.info("logged in to Discord as %s in %d servers; invite: %s",
                 self.user, len(self.guilds), invite)
