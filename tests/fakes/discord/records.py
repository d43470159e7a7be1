"""What a fake Discord records: requests, messages (with who they pinged), interactions.

These are what a test reads to know what users saw: the message in the channel after its
edits, the ephemeral reply to a slash command, the autocomplete choices, the files attached.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Attachment",
    "FilePart",
    "Interaction",
    "InteractionResponse",
    "Message",
    "Request",
    "pings",
]

EPHEMERAL = 1 << 6
LOADING = 1 << 7


@dataclass(frozen=True)
class FilePart:
    """One `files[n]` part of a multipart request, as received."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class Request:
    """One REST request and the fake's answer. `path` and `route` leave out /api/v10."""

    method: str
    path: str
    route: str  # e.g. "POST /channels/{channel_id}/messages"
    query: Mapping[str, str]
    json: Any
    files: tuple[FilePart, ...]
    headers: Mapping[str, str]
    status: int
    response_headers: Mapping[str, str]
    at: float  # on the fake's clock
    scope: str | None = None  # a 429's X-RateLimit-Scope: "user", "global" or "shared"
    code: int | None = None  # the JSON error code of a 4xx (50013, 10003, ...)


@dataclass(frozen=True)
class Attachment:
    id: int
    filename: str
    content_type: str | None
    data: bytes
    url: str
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            payload["description"] = self.description
        return payload


@dataclass
class Message:
    """A message as it stands now; `revisions` holds every payload that created or edited it."""

    id: int
    channel_id: int
    content: str
    embeds: list[dict[str, Any]]
    attachments: list[Attachment]
    components: list[dict[str, Any]]
    flags: int
    nonce: str | int | None
    enforce_nonce: bool
    allowed_mentions: dict[str, Any] | None
    pings: frozenset[str]  # who was notified when it was posted: see `pings()`
    created_at: float  # on the fake's clock
    created_wall: float  # time.time(), for its timestamp
    interaction_id: int | None = None
    edits: int = 0
    edited_wall: float | None = None
    deleted: bool = False
    revisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred reply still showing "thinking…"."""
        return bool(self.flags & LOADING)


@dataclass(frozen=True)
class InteractionResponse:
    """One answer of the bot to an interaction, in the order it came.

    kind: "callback" (POST /interactions/{id}/{token}/callback, `type` 4, 5, 6, 7, 8 or 9),
    "followup" (POST /webhooks/{app}/{token}), "edit" (PATCH …/messages/@original or an id),
    "delete". `data` is what the bot sent (content, embeds, flags, choices, …).
    """

    interaction_id: int
    kind: Literal["callback", "followup", "edit", "delete"]
    type: int | None
    data: Mapping[str, Any]
    attachments: tuple[Attachment, ...]
    message_id: int | None
    ephemeral: bool
    at: float

    @property
    def content(self) -> str | None:
        content = self.data.get("content")
        return None if content is None else str(content)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds") or [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.data.get("choices") or [])


@dataclass
class Interaction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int  # 2 application command, 4 autocomplete
    payload: dict[str, Any]
    channel_id: int
    dispatched_at: float
    callback_type: int | None = None
    responses: list[InteractionResponse] = field(default_factory=list)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def choices(self) -> list[dict[str, Any]]:
        """The autocomplete choices of the type-8 callback (empty before it)."""
        for response in self.responses:
            if response.type == 8:
                return response.choices
        return []

    @property
    def messages(self) -> list[Message]:
        """What the user sees now: the original reply and the follow-ups, after edits."""
        shown = [self.original] if self.original is not None else []
        return [m for m in [*shown, *self.followups] if not m.deleted]


_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


def pings(
    content: str,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    can_mention_everyone: bool,
    mentionable_roles: frozenset[int],
) -> frozenset[str]:
    """Who a new message notifies, by Discord's rules: "everyone", "here", "user:ID", "role:ID".

    Without `allowed_mentions` everything in the content pings; with it, only what its `parse`
    list or its `users`/`roles` ids allow. @everyone/@here need Mention Everyone; a role ping
    needs the role to be mentionable or Mention Everyone. Embeds never ping.
    """
    parse = None if allowed_mentions is None else set(allowed_mentions.get("parse") or ())
    users = {int(u) for u in (allowed_mentions or {}).get("users") or ()}
    roles = {int(r) for r in (allowed_mentions or {}).get("roles") or ()}
    found: set[str] = set()
    for match in _USER.finditer(content):
        uid = int(match.group(1))
        if parse is None or "users" in parse or uid in users:
            found.add(f"user:{uid}")
    for match in _ROLE.finditer(content):
        rid = int(match.group(1))
        allowed = parse is None or "roles" in parse or rid in roles
        if allowed and (rid in mentionable_roles or can_mention_everyone):
            found.add(f"role:{rid}")
    if can_mention_everyone and (parse is None or "everyone" in parse):
        for word in ("everyone", "here"):
            if f"@{word}" in content:
                found.add(word)
    return frozenset(found)
