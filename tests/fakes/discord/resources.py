"""REST: who the bot is, its application and commands, guilds, channels and DM channels."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.discord.messages import Messages
from tests.fakes.discord.models import channel_payload, member_payload, user_payload
from tests.fakes.discord.rules import check_commands, error_for_code
from tests.fakes.discord.state import BODY, json_response

__all__ = ["Resources"]


class Resources(Messages):
    # --- REST: identity ---

    async def _me(self, request: web.Request) -> web.Response:
        return json_response({**self._bot_user(), "verified": True, "mfa_enabled": False})

    async def _user(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["user_id"])
        for guild in self._guilds.values():
            member = guild.member(user_id)
            if member is not None:
                return json_response(user_payload(member.id, member.name, bot=member.bot))
        raise error_for_code(10013)

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_name,
                "icon": None,
                "description": "",
                "summary": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": user_payload(self.app_owner_id, "owner"),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "bot": self._bot_user(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
                "approximate_guild_count": len(self._guilds),
            }
        )

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    # --- REST: application commands ---

    def _check_application(self, request: web.Request) -> int | None:
        if int(request.match_info["application_id"]) != self.application_id:
            raise error_for_code(50001)
        raw = request.match_info.get("guild_id")
        if raw is None:
            return None
        if int(raw) not in self._guilds:
            raise error_for_code(50001)
        return int(raw)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return json_response(self._commands.get(self._check_application(request), []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._check_application(request)
        body = request[BODY]
        if not isinstance(body, list):
            raise error_for_code(50035, {"_": {"_errors": [{"code": "LIST_TYPE_CONVERT"}]}})
        check_commands(body)
        stored = []
        for command in body:
            kind = int(command.get("type", 1))
            key = (guild_id, kind, command["name"])
            command_id = self._command_ids.setdefault(key, self._snowflakes.next())
            entry = {
                "type": kind,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **command,
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self._snowflakes.next()),
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        self._commands[guild_id] = stored
        self.command_syncs.append(guild_id)
        return json_response(stored)

    # --- REST: guilds and channels ---

    async def _guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise error_for_code(10004)
        return json_response([channel_payload(guild.id, c) for c in guild.channels])

    async def _guild_member(self, request: web.Request) -> web.Response:
        guild = self._guilds.get(int(request.match_info["guild_id"]))
        if guild is None:
            raise error_for_code(10004)
        user_id = int(request.match_info["user_id"])
        member = self.bot_member(guild) if user_id == self.bot_id else guild.member(user_id)
        if member is None:
            raise error_for_code(10007)
        return json_response(member_payload(guild, member))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        guild = self._target(channel_id)
        if guild is None:
            return json_response(self._dm_payload(channel_id))
        channel = guild.channel(channel_id)
        assert channel is not None
        return json_response(channel_payload(guild.id, channel))

    def _dm_payload(self, channel_id: int) -> dict[str, Any]:
        member = self._any_member(self._dm_channels[channel_id])
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user_payload(member.id, member.name, bot=member.bot)],
        }

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = request[BODY] or {}
        user_id = int(body.get("recipient_id", 0))
        return json_response(self._dm_payload(self._dm_channel(user_id)))
