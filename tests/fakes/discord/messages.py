"""REST: messages in channels and DMs: create (with nonce), edit, delete, fetch, attachments.

The bot's permissions decide what it may do in a guild channel; test-set failures and deleted
channels come first. Public interaction replies are messages of their channel too.
"""

from __future__ import annotations

import mimetypes
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from tests.fakes.discord.models import Guild, Permission, channel_permissions, iso
from tests.fakes.discord.records import LOADING, Attachment, FilePart, Message, pings
from tests.fakes.discord.rules import DiscordError, check_message, error_for_code
from tests.fakes.discord.state import BODY, FILES, FakeState, json_response, no_content

__all__ = ["Messages"]


class Messages(FakeState):
    def _target(
        self, channel_id: int, *, send: bool = False, attach: bool = False, history: bool = False
    ) -> Guild | None:
        """The guild of a channel the bot may use as asked, or the error Discord answers."""
        if channel_id in self._failures:
            raise error_for_code(self._failures[channel_id])
        if channel_id in self._deleted:
            raise error_for_code(10003)
        if channel_id in self._dm_channels:
            user_id = self._dm_channels[channel_id]
            shares = any(g.member(user_id) is not None for g in self._guilds.values())
            if send and (
                user_id in self._blocked_dms or (self.dm_requires_shared_guild and not shares)
            ):
                raise error_for_code(50007)
            return None
        guild, channel = self._find_channel(channel_id)
        if guild is None or channel is None:
            raise error_for_code(10003)
        if self.enforce_permissions:
            perms = channel_permissions(guild, self.bot_member(guild), channel)
            if not perms & Permission.VIEW_CHANNEL:
                raise error_for_code(50001)
            needed = (
                (send, Permission.SEND_MESSAGES),
                (attach, Permission.ATTACH_FILES),
                (history, Permission.READ_MESSAGE_HISTORY),
            )
            if any(wanted and not perms & bit for wanted, bit in needed):
                raise error_for_code(50013)
        return guild

    # --- REST: messages ---

    def _attachment_of(
        self,
        channel_id: int,
        filename: str,
        content_type: str | None,
        data: bytes,
        description: str | None = None,
    ) -> Attachment:
        if content_type in (None, "application/octet-stream"):
            # Discord names the type from the file name, whatever the client claimed.
            content_type = mimetypes.guess_type(filename)[0] or content_type
        attachment_id = self._snowflakes.next()
        url = f"{self.url}/attachments/{channel_id}/{attachment_id}/{filename}"
        return Attachment(attachment_id, filename, content_type, data, url, description)

    def _new_attachments(
        self,
        channel_id: int,
        payload: Mapping[str, Any],
        files: Sequence[FilePart],
        existing: Sequence[Attachment] = (),
    ) -> list[Attachment]:
        """The message's attachments: kept old ones and `files[n]` matched to `attachments`."""
        declared: dict[int, Mapping[str, Any]] = {}
        kept: list[Attachment] = []
        by_id = {a.id: a for a in existing}
        for entry in payload.get("attachments") or []:
            entry_id = int(entry.get("id", -1))
            if entry_id in by_id:
                kept.append(by_id[entry_id])
            else:
                declared[entry_id] = entry
        if "attachments" not in payload:
            kept = list(existing)
        for position, part in enumerate(files):
            # discord.py names the parts files[0], files[1]…; the number ties a part to its entry.
            number = re.search(r"\d+", part.field)
            entry = declared.get(int(number.group()) if number else position, {})
            name = entry.get("filename") or part.filename
            kept.append(
                self._attachment_of(
                    channel_id, name, part.content_type, part.data, entry.get("description")
                )
            )
        for attachment in kept:
            self._uploads[attachment.id] = attachment
        return kept

    def _message_payload(self, message: Message) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "type": 0 if message.interaction_id is None else 20,
            "author": self._bot_user(),
            "content": message.content,
            "timestamp": iso(message.created_wall),
            "edited_timestamp": None if message.edited_wall is None else iso(message.edited_wall),
            "tts": False,
            "mention_everyone": "everyone" in message.pings or "here" in message.pings,
            "mentions": [],
            "mention_roles": [p.split(":")[1] for p in message.pings if p.startswith("role:")],
            "attachments": [a.payload() for a in message.attachments],
            "embeds": [{"type": "rich", **e} for e in message.embeds],
            "pinned": False,
            "flags": message.flags,
            "components": message.components,
        }
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.interaction_id is not None:
            payload["webhook_id"] = str(self.application_id)
            payload["application_id"] = str(self.application_id)
        return payload

    def _create(
        self,
        channel_id: int,
        guild: Guild | None,
        payload: Mapping[str, Any],
        files: Sequence[FilePart],
        *,
        interaction_id: int | None = None,
        flags: int | None = None,
    ) -> Message:
        allowed = payload.get("allowed_mentions")
        if allowed is not None:
            self._check_allowed_mentions(allowed)
        can_everyone, mentionable = False, frozenset[int]()
        if guild is not None:
            perms = channel_permissions(guild, self.bot_member(guild), guild.channel(channel_id))
            can_everyone = bool(perms & Permission.MENTION_EVERYONE)
            mentionable = frozenset(r.id for r in guild.all_roles if r.mentionable)
        content = str(payload.get("content") or "")
        message = Message(
            id=self._snowflakes.next(),
            channel_id=channel_id,
            content=content,
            embeds=list(payload.get("embeds") or []),
            attachments=self._new_attachments(channel_id, payload, files),
            components=list(payload.get("components") or []),
            flags=int(payload.get("flags") or 0) if flags is None else flags,
            nonce=payload.get("nonce"),
            enforce_nonce=bool(payload.get("enforce_nonce")),
            allowed_mentions=allowed,
            pings=pings(
                content, allowed, can_mention_everyone=can_everyone, mentionable_roles=mentionable
            ),
            created_at=self.now(),
            created_wall=time.time(),
            interaction_id=interaction_id,
            revisions=[dict(payload)],
        )
        self._messages[message.id] = message
        if not message.ephemeral:
            self._by_channel[channel_id].append(message)
        return message

    @staticmethod
    def _check_allowed_mentions(allowed: Mapping[str, Any]) -> None:
        parse = set(allowed.get("parse") or ())
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                raise error_for_code(
                    50035,
                    {
                        "allowed_mentions": {
                            "_errors": [{"code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"}]
                        }
                    },
                )

    def _edit(
        self, message: Message, payload: Mapping[str, Any], files: Sequence[FilePart]
    ) -> None:
        if "content" in payload:
            message.content = str(payload.get("content") or "")
        if "embeds" in payload:
            message.embeds = list(payload.get("embeds") or [])
        if "components" in payload:
            message.components = list(payload.get("components") or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload.get("allowed_mentions")
        if "attachments" in payload or files:
            message.attachments = self._new_attachments(
                message.channel_id, payload, files, message.attachments
            )
        if payload.get("flags") is not None:
            # Only SUPPRESS_EMBEDS may change; ephemeral stays as created.
            message.flags = (message.flags & ~4) | (int(payload["flags"]) & 4)
        message.flags &= ~LOADING
        message.edits += 1
        message.edited_wall = time.time()
        message.revisions.append(dict(payload))

    async def _post_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        payload = request[BODY] or {}
        files = request[FILES]
        guild = self._target(channel_id, send=True, attach=bool(files))
        check_message(payload, files=len(files))
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and self.now() - seen[1] < self.nonce_window:
                self.nonce_dedupes += 1
                return json_response(self._message_payload(self._messages[seen[0]]))
        message = self._create(channel_id, guild, payload, files)
        if nonce is not None and payload.get("enforce_nonce"):
            self._nonces[(channel_id, str(nonce))] = (message.id, message.created_at)
        return json_response(self._message_payload(message))

    def _channel_message(self, request: web.Request) -> Message:
        channel_id = int(request.match_info["channel_id"])
        self._target(channel_id)
        message = self._messages.get(int(request.match_info["message_id"]))
        if message is None or message.deleted or message.channel_id != channel_id:
            raise error_for_code(10008)
        return message

    async def _get_message(self, request: web.Request) -> web.Response:
        self._target(int(request.match_info["channel_id"]), history=True)
        return json_response(self._message_payload(self._channel_message(request)))

    async def _history(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        self._target(channel_id, history=True)
        limit = min(int(request.query.get("limit", 50)), 100)
        shown = [m for m in self._by_channel.get(channel_id, []) if not m.deleted]
        if "before" in request.query:
            shown = [m for m in shown if m.id < int(request.query["before"])]
        if "after" in request.query:
            after = [m for m in shown if m.id > int(request.query["after"])]
            return json_response([self._message_payload(m) for m in reversed(after[:limit])])
        return json_response([self._message_payload(m) for m in reversed(shown[-limit:])])

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        payload = request[BODY] or {}
        files = request[FILES]
        check_message(payload, files=len(files), editing=True)
        self._edit(message, payload, files)
        return json_response(self._message_payload(message))

    async def _delete_message(self, request: web.Request) -> web.Response:
        self._channel_message(request).deleted = True
        return no_content()

    async def _attachment(self, request: web.Request) -> web.Response:
        attachment = self._uploads.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            raise web.HTTPNotFound()
        return web.Response(body=attachment.data, content_type=attachment.content_type)

    async def _unknown(self, request: web.Request) -> web.Response:
        raise DiscordError(404, 0, "404: Not Found")
