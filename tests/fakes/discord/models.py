"""What a fake Discord knows: guilds, channels, roles, members, and the JSON Discord sends for them.

Tests describe a server with small frozen dataclasses; the functions here turn them into the
payloads discord.py parses (READY, GUILD_CREATE, messages, interactions) and compute permissions
the way Discord does (owner and Administrator see everything; @everyone, then roles, then the
channel's overwrites for @everyone, the member's roles and the member).
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DEFAULT_EVERYONE_PERMISSIONS",
    "Channel",
    "ChannelType",
    "Guild",
    "Member",
    "Overwrite",
    "Permission",
    "Role",
    "Snowflakes",
    "Upload",
    "channel_payload",
    "channel_permissions",
    "guild_create_payload",
    "member_payload",
    "role_payload",
    "user_payload",
]

DISCORD_EPOCH_MS = 1_420_070_400_000


class Permission(enum.IntFlag):
    """Discord's permission bits (the ones a killbot and its tests care about)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1

# What Discord gives @everyone in a new server (the parts that matter for text channels).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)


class ChannelType(enum.IntEnum):
    TEXT = 0
    DM = 1
    VOICE = 2
    CATEGORY = 4
    NEWS = 5
    FORUM = 15


@dataclass(frozen=True)
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 1
    mentionable: bool = False
    color: int = 0


@dataclass(frozen=True)
class Overwrite:
    """A channel permission overwrite: `type` 0 for a role (the guild id: @everyone), 1 a member."""

    id: int
    type: int = 0
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True)
class Channel:
    id: int
    name: str
    type: int = ChannelType.TEXT
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    overwrites: tuple[Overwrite, ...] = ()


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    roles: tuple[int, ...] = ()
    nick: str | None = None
    bot: bool = False


@dataclass(frozen=True)
class Upload:
    """A file a user attaches to a slash command option (type 11)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Guild:
    """A server as the bot sees it. `owner_id` None: the first member owns it.

    The @everyone role (id == guild id) is added with Discord's defaults unless `roles` has one;
    the bot's own member is added with `bot_roles` unless `members` has it.
    """

    id: int
    name: str
    channels: Sequence[Channel] = ()
    roles: Sequence[Role] = ()
    members: Sequence[Member] = ()
    owner_id: int | None = None
    bot_roles: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Tests pass lists; the guild is shared state in the fake, so freeze them.
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "roles", tuple(self.roles))
        object.__setattr__(self, "members", tuple(self.members))

    @property
    def everyone(self) -> Role:
        for role in self.roles:
            if role.id == self.id:
                return role
        return Role(self.id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0)

    @property
    def all_roles(self) -> tuple[Role, ...]:
        others = tuple(r for r in self.roles if r.id != self.id)
        return (self.everyone, *others)

    @property
    def owner(self) -> int:
        if self.owner_id is not None:
            return self.owner_id
        return self.members[0].id if self.members else 1

    def channel(self, channel_id: int) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def member(self, user_id: int) -> Member | None:
        return next((m for m in self.members if m.id == user_id), None)

    def role(self, role_id: int) -> Role | None:
        return next((r for r in self.all_roles if r.id == role_id), None)


class Snowflakes:
    """Discord ids: milliseconds since 2015 in the top bits, so discord.py's created_at is right."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


# --- permissions ---


def base_permissions(guild: Guild, member: Member) -> int:
    if member.id == guild.owner:
        return ALL_PERMISSIONS
    perms = guild.everyone.permissions
    for role_id in member.roles:
        role = guild.role(role_id)
        if role is not None:
            perms |= role.permissions
    return ALL_PERMISSIONS if perms & Permission.ADMINISTRATOR else perms


def channel_permissions(guild: Guild, member: Member, channel: Channel | None) -> int:
    perms = base_permissions(guild, member)
    if perms == ALL_PERMISSIONS or channel is None:
        return perms
    overwrites = {(o.type, o.id): o for o in channel.overwrites}
    everyone = overwrites.get((0, guild.id))
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = overwrites.get((0, role_id))
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    mine = overwrites.get((1, member.id))
    if mine is not None:
        perms = (perms & ~mine.deny) | mine.allow
    return perms


# --- payloads ---


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": None if bot else name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def member_payload(
    guild: Guild, member: Member, *, permissions: int | None = None, with_user: bool = True
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "joined_at": iso(0),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        payload["user"] = user_payload(member.id, member.name, bot=member.bot)
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def role_payload(role: Role) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": role.mentionable,
        "flags": 0,
    }


def channel_payload(guild_id: int, channel: Channel) -> dict[str, Any]:
    return {
        "id": str(channel.id),
        "type": int(channel.type),
        "guild_id": str(guild_id),
        "name": channel.name,
        "position": channel.position,
        "topic": channel.topic,
        "nsfw": channel.nsfw,
        "parent_id": None if channel.parent_id is None else str(channel.parent_id),
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in channel.overwrites
        ],
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }


def guild_create_payload(guild: Guild, bot: Member) -> dict[str, Any]:
    members = list(guild.members)
    if guild.member(bot.id) is None:
        members.append(bot)
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(guild.owner),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in guild.all_roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "preferred_locale": "en-US",
        "premium_tier": 0,
        "nsfw_level": 0,
        "joined_at": iso(0),
        "large": False,
        "unavailable": False,
        "lazy": True,
        "member_count": len(members),
        "members": [member_payload(guild, m) for m in members],
        "channels": [channel_payload(guild.id, c) for c in guild.channels],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }
