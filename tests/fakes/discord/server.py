"""`FakeDiscord`: the server, its routes, the faults a test sets and what a test reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.models import Channel, Guild, channel_payload, guild_create_payload
from tests.fakes.discord.plumbing import Handler, Plumbing
from tests.fakes.discord.records import Interaction, InteractionResponse, Message, Request
from tests.fakes.discord.replies import Replies
from tests.fakes.discord.resources import Resources
from tests.fakes.discord.state import API, Fault

__all__ = ["FakeDiscord"]


class FakeDiscord(Gateway, Plumbing, Replies, Resources):
    """A fake Discord (REST + gateway) on 127.0.0.1; an async context manager owning its server.

    Constructor knobs (all keyword-only) are those of `FakeState`; see the package docstring.
    """

    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        self._changed = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        self._runner = web.AppRunner(
            app, shutdown_timeout=0.1, handle_signals=False, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            await self._close_connections()
        assert self._runner is not None
        await self._runner.cleanup()

    def environment(self) -> dict[str, str]:
        """KILLWATCH_* variables pointing a Killwatch process at this fake."""
        return {
            "KILLWATCH_DISCORD__TOKEN": self.token,
            "KILLWATCH_DISCORD__API_BASE_URL": self.api_base_url,
            "KILLWATCH_DISCORD__GATEWAY_URL": self.gateway_url,
        }

    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._gateway)
        r.add_get("/gateway", self._gateway)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app_commands = "/applications/{application_id}/commands"
        guild_commands = "/applications/{application_id}/guilds/{guild_id}/commands"
        webhook_message = "/webhooks/{application_id}/{token}/messages/{message_id}"
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/users/@me", self._me),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/users/{user_id}", self._user),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/applications/@me", self._application),
            ("GET", "/gateway", self._gateway_info),
            ("GET", "/gateway/bot", self._gateway_info),
            ("GET", app_commands, self._get_commands),
            ("PUT", app_commands, self._put_commands),
            ("GET", guild_commands, self._get_commands),
            ("PUT", guild_commands, self._put_commands),
            ("GET", "/guilds/{guild_id}/channels", self._guild_channels),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._guild_member),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("GET", "/channels/{channel_id}/messages", self._history),
            ("POST", "/channels/{channel_id}/messages", self._post_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{application_id}/{token}", self._followup),
            ("GET", webhook_message, self._wh_get),
            ("PATCH", webhook_message, self._wh_edit),
            ("DELETE", webhook_message, self._wh_delete),
        ]
        for method, path, handler in routes:
            r.add_route(method, API + path, handler)
        r.add_route("*", API + "/{tail:.*}", self._unknown)

    # --- faults and changes a test makes ---

    def fail_channel(self, channel_id: int, code: int) -> None:
        """Every request on the channel fails with this Discord code: 50001 or 50013 (403),
        50007 (403, for a DM channel), 10003 (404)."""
        self._failures[channel_id] = code

    def restore_channel(self, channel_id: int) -> None:
        """Undo `fail_channel` (and forget a deletion: the channel answers again)."""
        self._failures.pop(channel_id, None)
        self._deleted.discard(channel_id)

    def block_dms(self, user_id: int, blocked: bool = True) -> None:
        """Sends to this user's DM channel fail with 403/50007 (the user blocks DMs)."""
        if blocked:
            self._blocked_dms.add(user_id)
        else:
            self._blocked_dms.discard(user_id)

    def storm(
        self, seconds: float, *, channel_id: int | None = None, scope: str | None = None
    ) -> None:
        """429 every request for `seconds`: with `global: true` when `channel_id` is None
        (interaction callbacks and webhooks are spared), else those on one channel with scope
        "shared" (which Discord does not count as invalid), unless `scope` says otherwise."""
        default = "global" if channel_id is None else "shared"
        self._storms[channel_id] = (self.now() + seconds, scope or default)

    def fail_next(
        self,
        channel_id: int | None,
        status: int,
        *,
        code: int = 0,
        times: int = 1,
        retry_after: float = 0.05,
    ) -> None:
        """The next `times` requests on the channel (any request but interaction responses when
        None) fail: a 429 with `retry_after` and scope "user", a known `code` (its status),
        or `status` with code 0. A 5xx makes discord.py sleep 1 s, 3 s, … before retrying."""
        for _ in range(times):
            self._faults[channel_id].append(Fault(status, code, retry_after))

    def drop_next_response(self, channel_id: int | None, times: int = 1) -> None:
        """Carry out the next request on the channel, then cut the connection without an answer:
        the message exists but the bot never hears so (what a nonce makes safe to retry)."""
        self._drops[channel_id] += times

    async def delete_channel(self, channel_id: int, *, dispatch: bool = True) -> None:
        """The channel is gone: 404/10003 from now on, and CHANNEL_DELETE on the gateway."""
        guild, channel = self._find_channel(channel_id)
        self._deleted.add(channel_id)
        if guild is not None and channel is not None:
            kept = tuple(c for c in guild.channels if c.id != channel_id)
            self._guilds[guild.id] = replace(guild, channels=kept)
            if dispatch:
                await self.dispatch("CHANNEL_DELETE", channel_payload(guild.id, channel))

    async def add_channel(self, guild_id: int, channel: Channel, *, dispatch: bool = True) -> None:
        """A new channel: CHANNEL_CREATE on the gateway."""
        guild = self._guilds[guild_id]
        self._guilds[guild_id] = replace(guild, channels=(*guild.channels, channel))
        self._deleted.discard(channel.id)
        if dispatch:
            await self.dispatch("CHANNEL_CREATE", channel_payload(guild_id, channel))

    async def join_guild(self, guild: Guild) -> None:
        """The bot is added to a server: GUILD_CREATE."""
        self._guilds[guild.id] = guild
        await self.dispatch("GUILD_CREATE", guild_create_payload(guild, self.bot_member(guild)))

    async def leave_guild(self, guild_id: int) -> None:
        """The bot is removed from a server: GUILD_DELETE."""
        self._guilds.pop(guild_id)
        await self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    # --- what a test reads ---

    def messages(self, channel_id: int, *, include_deleted: bool = False) -> list[Message]:
        """Messages in the channel (public interaction replies included), oldest first."""
        shown = self._by_channel.get(channel_id, [])
        return [m for m in shown if include_deleted or not m.deleted]

    def all_messages(self, *, include_deleted: bool = False) -> list[Message]:
        """Every message in every channel and DM (not ephemeral replies), oldest first."""
        every = (m for ms in self._by_channel.values() for m in ms)
        return sorted((m for m in every if include_deleted or not m.deleted), key=lambda m: m.id)

    def take_records(self) -> dict[int, list[Message]]:
        """Channel id -> the messages posted there since the last call, oldest first; then
        forget them and every request record, so a long run reads as it goes in flat memory.
        A message stays known (for a nonce repeat to find it) while its nonce is within the
        nonce window."""
        taken = {channel: messages for channel, messages in self._by_channel.items() if messages}
        self._by_channel.clear()
        self.requests.clear()
        now = self.now()
        live: dict[tuple[int, str], tuple[int, float]] = {}
        for key, seen in self._nonces.items():
            if now - seen[1] < self.nonce_window:
                live[key] = seen
            else:
                self._messages.pop(seen[0], None)  # taken earlier, kept for its nonce till now
        self._nonces = live
        keep = {message_id for message_id, _ in live.values()}
        for messages in taken.values():
            for message in messages:
                if message.id not in keep:
                    self._messages.pop(message.id, None)
        return taken

    def message(self, message_id: int) -> Message:
        """Any message by id, ephemeral replies included."""
        return self._messages[message_id]

    def dm_channel_id(self, user_id: int) -> int | None:
        return self._dm_by_user.get(user_id)

    def dm_messages(self, user_id: int) -> list[Message]:
        channel = self._dm_by_user.get(user_id)
        return [] if channel is None else self.messages(channel)

    def interaction(self, interaction_id: int) -> Interaction:
        return self._interactions[interaction_id]

    def interaction_responses(self, interaction_id: int) -> list[InteractionResponse]:
        return list(self._interactions[interaction_id].responses)

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The commands registered globally (None) or for a guild, as Discord holds them."""
        return list(self._commands.get(guild_id, []))

    def requests_to(self, method: str, route: str) -> list[Request]:
        """Requests to a route template, e.g. ("POST", "/channels/{channel_id}/messages")."""
        return [r for r in self.requests if r.route == f"{method} {route}"]

    async def wait_for(self, condition: Callable[[], bool], *, within: float = 5.0) -> None:
        """Wait until `condition` holds; rechecked whenever the fake records something."""
        async with asyncio.timeout(within):
            while not condition():
                assert self._changed is not None
                changed = self._changed
                with contextlib.suppress(TimeoutError):
                    # Conditions on time change without a request: recheck now and then.
                    await asyncio.wait_for(changed.wait(), 0.05)

    async def wait_connected(self, count: int = 1, *, within: float = 10.0) -> None:
        """Wait until `count` gateway connections have identified."""
        await self.wait_for(lambda: self.connected >= count, within=within)

    # --- interactions a test sends ---

    async def invoke(self, payload: Mapping[str, Any], *, within: float = 3.0) -> Interaction:
        """Dispatch an interaction; return once the bot has called back (not after follow-ups)."""
        await self.dispatch("INTERACTION_CREATE", payload)
        interaction = self._interactions[int(payload["id"])]
        await self.wait_for(lambda: interaction.acknowledged, within=within)
        return interaction

    async def slash(self, name: str, *, within: float = 3.0, **kwargs: Any) -> Interaction:
        """`slash_command_payload(name, **kwargs)`, invoked."""
        return await self.invoke(self.slash_command_payload(name, **kwargs), within=within)

    async def autocomplete(
        self, name: str, *, within: float = 3.0, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """`autocomplete_payload(name, **kwargs)`, invoked; returns the choices offered."""
        interaction = await self.invoke(self.autocomplete_payload(name, **kwargs), within=within)
        return interaction.choices

    async def wait_for_responses(
        self, interaction_id: int, count: int = 1, *, within: float = 5.0
    ) -> list[InteractionResponse]:
        """Wait until the bot has answered the interaction `count` times (callback included)."""
        interaction = self._interactions[interaction_id]
        await self.wait_for(lambda: len(interaction.responses) >= count, within=within)
        return list(interaction.responses)
