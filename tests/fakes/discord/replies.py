"""Interactions: the payloads a test dispatches, and the bot's callbacks, follow-ups and edits."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aiohttp import web

from tests.fakes.discord.interactions import Invocation, build_interaction
from tests.fakes.discord.messages import Messages
from tests.fakes.discord.models import Guild, Upload, channel_permissions
from tests.fakes.discord.records import (
    EPHEMERAL,
    LOADING,
    Attachment,
    Interaction,
    InteractionResponse,
    Message,
)
from tests.fakes.discord.rules import DiscordError, check_message, error_for_code
from tests.fakes.discord.state import BODY, FILES, json_response, no_content

__all__ = ["Replies"]


class Replies(Messages):
    # --- interactions the test sends ---

    def slash_command_payload(
        self,
        name: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """INTERACTION_CREATE data for `/name` ("sub add", "watch entity", …) as `user_id` in
        `channel_id` (a DM with the bot when None). Option types come from what the bot
        registered; `permissions` overrides the member's computed channel permissions."""
        return self._interaction_payload(
            name, user_id, channel_id, options, None, permissions, locale
        )

    def autocomplete_payload(
        self,
        name: str,
        *,
        focused: str,
        value: str,
        user_id: int,
        channel_id: int | None = None,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """An autocomplete interaction: the user has typed `value` into option `focused`."""
        values = {**(options or {}), focused: value}
        return self._interaction_payload(
            name, user_id, channel_id, values, focused, permissions, locale
        )

    def upload(self, upload: Upload, *, channel_id: int = 0) -> dict[str, Any]:
        """Store a user's file (served at its `url`) and return its attachment payload."""
        attachment = self._attachment_of(
            channel_id, upload.filename, upload.content_type, upload.data
        )
        self._uploads[attachment.id] = attachment
        return attachment.payload()

    def _interaction_payload(
        self,
        name: str,
        user_id: int,
        channel_id: int | None,
        values: Mapping[str, Any] | None,
        focused: str | None,
        permissions: int | None,
        locale: str,
    ) -> dict[str, Any]:
        root, *path = name.split()
        if channel_id is None:
            guild, channel = None, None
            member = self._any_member(user_id)
            dm_id = self._dm_channel(user_id)
            app_permissions = 0
        else:
            guild, channel = self._find_channel(channel_id)
            if guild is None or channel is None:
                raise LookupError(f"channel {channel_id} is in no guild")
            found = guild.member(user_id)
            if found is None:
                raise LookupError(f"user {user_id} is not a member of guild {guild.id}")
            member, dm_id = found, None
            app_permissions = channel_permissions(guild, self.bot_member(guild), channel)
        command = self._registered(root, None if guild is None else guild.id)
        return build_interaction(
            interaction_id=self._snowflakes.next(),
            application_id=self.application_id,
            token="fake-interaction-" + secrets.token_urlsafe(24),
            command=command,
            path=path,
            values=values or {},
            focused=focused,
            invocation=Invocation(
                member=member,
                guild=guild,
                channel=channel,
                dm_channel_id=dm_id,
                permissions=permissions,
                app_permissions=app_permissions,
                locale=locale,
            ),
            store_upload=lambda u: self.upload(u, channel_id=channel_id or 0),
        )

    def _registered(self, name: str, guild_id: int | None) -> dict[str, Any]:
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and int(command.get("type", 1)) == 1:
                    return command
        raise LookupError(f"/{name} was never registered (synced) for guild {guild_id} or globally")

    # --- REST: interaction responses ---

    def _respond(
        self,
        interaction: Interaction,
        kind: Literal["callback", "followup", "edit", "delete"],
        kind_type: int | None,
        data: Mapping[str, Any],
        message: Message | None,
        attachments: Sequence[Attachment] = (),
    ) -> None:
        ephemeral = (
            message.ephemeral
            if message is not None
            else bool(int(data.get("flags") or 0) & EPHEMERAL)
        )
        interaction.responses.append(
            InteractionResponse(
                interaction_id=interaction.id,
                kind=kind,
                type=kind_type,
                data=dict(data),
                attachments=tuple(attachments),
                message_id=None if message is None else message.id,
                ephemeral=ephemeral,
                at=self.now(),
            )
        )

    def _interaction_guild(self, interaction: Interaction) -> Guild | None:
        guild_id = interaction.payload.get("guild_id")
        return self._guilds.get(int(guild_id)) if guild_id else None

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self._interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise error_for_code(10062)
        if self.now() - interaction.dispatched_at > self.interaction_deadline:
            raise error_for_code(10062)
        if interaction.acknowledged:
            raise error_for_code(40060)
        body = request[BODY] or {}
        files = request[FILES]
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        guild = self._interaction_guild(interaction)
        message: Message | None = None
        if kind == 8:
            if interaction.type != 4:
                raise error_for_code(50035, {"type": {"_errors": [{"code": "INTERACTION_TYPE"}]}})
            self._check_choices(data.get("choices") or [])
        elif kind == 4:
            check_message(data, files=len(files))
            message = self._create(
                interaction.channel_id, guild, data, files, interaction_id=interaction.id
            )
        elif kind == 5:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._create(
                interaction.channel_id, guild, {}, (), interaction_id=interaction.id, flags=flags
            )
        interaction.callback_type = kind
        interaction.original = message
        attachments = message.attachments if message is not None else []
        self._respond(interaction, "callback", kind, data, message, attachments)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        answer: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(message and message.ephemeral),
        }
        resource: dict[str, Any] = {"type": kind}
        if message is not None:
            answer["response_message_id"] = str(message.id)
            resource["message"] = self._message_payload(message)
        return json_response({"interaction": answer, "resource": resource})

    @staticmethod
    def _check_choices(choices: Sequence[Mapping[str, Any]]) -> None:
        def bad(where: str, code: str) -> DiscordError:
            return error_for_code(50035, {where: {"_errors": [{"code": code}]}})

        if len(choices) > 25:
            raise bad("data.choices", "BASE_TYPE_MAX_LENGTH")
        for i, choice in enumerate(choices):
            if not 1 <= len(str(choice.get("name", ""))) <= 100:
                raise bad(f"data.choices.{i}.name", "BASE_TYPE_BAD_LENGTH")
            value = choice.get("value")
            if isinstance(value, str) and len(value) > 100:
                raise bad(f"data.choices.{i}.value", "BASE_TYPE_MAX_LENGTH")

    def _webhook_interaction(self, request: web.Request) -> Interaction:
        interaction = self._by_token.get(request.match_info["token"])
        if interaction is None or int(request.match_info["application_id"]) != self.application_id:
            raise error_for_code(10015)
        if self.now() - interaction.dispatched_at > self.interaction_token_ttl:
            raise error_for_code(50027)
        if not interaction.acknowledged:
            # Discord creates the webhook of an interaction with its first response.
            raise error_for_code(10015)
        return interaction

    def _webhook_message(self, request: web.Request, interaction: Interaction) -> Message:
        raw = request.match_info["message_id"]
        if raw == "@original":
            message = interaction.original
        else:
            message = next(
                (
                    m
                    for m in [interaction.original, *interaction.followups]
                    if m and m.id == int(raw)
                ),
                None,
            )
        if message is None or message.deleted:
            raise error_for_code(10008)
        return message

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        payload = request[BODY] or {}
        files = request[FILES]
        check_message(payload, files=len(files))
        original = interaction.original
        if original is not None and original.loading:
            # The first follow-up after a deferral replaces the "thinking…" message.
            self._edit(original, payload, files)
            message = original
        else:
            message = self._create(
                interaction.channel_id,
                self._interaction_guild(interaction),
                payload,
                files,
                interaction_id=interaction.id,
            )
            interaction.followups.append(message)
        self._respond(interaction, "followup", None, payload, message, message.attachments)
        if request.query.get("wait") in ("true", "1", "True"):
            return json_response(self._message_payload(message))
        return no_content()

    async def _wh_get(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        return json_response(self._message_payload(self._webhook_message(request, interaction)))

    async def _wh_edit(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(request, interaction)
        payload = request[BODY] or {}
        files = request[FILES]
        check_message(payload, files=len(files), editing=True)
        self._edit(message, payload, files)
        self._respond(interaction, "edit", None, payload, message, message.attachments)
        return json_response(self._message_payload(message))

    async def _wh_delete(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(request, interaction)
        message.deleted = True
        self._respond(interaction, "delete", None, {}, message)
        return no_content()
