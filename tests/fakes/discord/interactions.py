"""INTERACTION_CREATE payloads for slash commands and autocomplete, built like Discord's client.

The option types come from the command as the bot registered it (the fake's record of the bulk
overwrite), so `options={"system": "Jita", "jumps": 3}` becomes typed options, and users,
channels, roles and attachments are given as ids plus the `resolved` data Discord adds.
A test cannot invoke what the bot never registered, nor leave out a required option, nor name
an option that does not exist: Discord's client would not let a user do so either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.discord.models import (
    Channel,
    Guild,
    Member,
    Upload,
    channel_payload,
    channel_permissions,
    member_payload,
    role_payload,
    user_payload,
)

__all__ = ["Invocation", "OptionType", "build_interaction", "find_subcommand"]


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_AUTOCOMPLETE = 4
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    """Who invokes a command, where: a guild member in a guild channel, or a user in a DM."""

    member: Member
    guild: Guild | None
    channel: Channel | None  # None in a DM
    dm_channel_id: int | None = None
    permissions: int | None = None  # None: computed from roles and overwrites
    app_permissions: int = 0
    locale: str = "en-US"


def find_subcommand(command: Mapping[str, Any], path: list[str]) -> Mapping[str, Any]:
    """The schema that takes the options: the command, or its (group's) subcommand."""
    node: Mapping[str, Any] = command
    for name in path:
        child = next(
            (
                o
                for o in node.get("options") or ()
                if o.get("name") == name
                and o.get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
            ),
            None,
        )
        if child is None:
            raise LookupError(f"/{command['name']} has no subcommand {' '.join(path)!r}")
        node = child
    if any(
        o.get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP)
        for o in node.get("options") or ()
    ):
        raise LookupError(f"/{' '.join([command['name'], *path])} needs a subcommand")
    return node


def _id_of(value: Any) -> int:
    return int(getattr(value, "id", value))


class _Resolver:
    def __init__(self, invocation: Invocation, store_upload: Callable[[Upload], dict[str, Any]]):
        self.invocation = invocation
        self.store_upload = store_upload
        self.resolved: dict[str, dict[str, Any]] = {}

    def _put(self, kind: str, key: int | str, payload: dict[str, Any]) -> None:
        self.resolved.setdefault(kind, {})[str(key)] = payload

    def user(self, user_id: int) -> None:
        guild = self.invocation.guild
        member = guild.member(user_id) if guild is not None else None
        if member is None:
            self._put("users", user_id, user_payload(user_id, f"user-{user_id}"))
            return
        assert guild is not None
        self._put("users", user_id, user_payload(member.id, member.name, bot=member.bot))
        perms = channel_permissions(guild, member, self.invocation.channel)
        self._put(
            "members", user_id, member_payload(guild, member, permissions=perms, with_user=False)
        )

    def channel(self, channel_id: int) -> None:
        guild = self.invocation.guild
        channel = guild.channel(channel_id) if guild is not None else None
        if guild is None or channel is None:
            raise LookupError(f"channel {channel_id} is not in the invoking guild")
        payload = channel_payload(guild.id, channel)
        payload["permissions"] = str(channel_permissions(guild, self.invocation.member, channel))
        self._put("channels", channel_id, payload)

    def role(self, role_id: int) -> None:
        guild = self.invocation.guild
        role = guild.role(role_id) if guild is not None else None
        if role is None:
            raise LookupError(f"role {role_id} is not in the invoking guild")
        self._put("roles", role_id, role_payload(role))

    def value(self, kind: int, raw: Any) -> Any:
        if kind == OptionType.STRING:
            return str(raw)
        if kind == OptionType.INTEGER:
            return int(raw)
        if kind == OptionType.NUMBER:
            return float(raw)
        if kind == OptionType.BOOLEAN:
            return bool(raw)
        if kind == OptionType.ATTACHMENT:
            if not isinstance(raw, Upload):
                raise TypeError("an attachment option takes an Upload")
            attachment = self.store_upload(raw)
            self._put("attachments", attachment["id"], attachment)
            return attachment["id"]
        snowflake = _id_of(raw)
        guild = self.invocation.guild
        if kind == OptionType.USER:
            self.user(snowflake)
        elif kind == OptionType.CHANNEL:
            self.channel(snowflake)
        elif kind == OptionType.ROLE:
            self.role(snowflake)
        elif kind == OptionType.MENTIONABLE:
            if guild is not None and guild.role(snowflake) is not None:
                self.role(snowflake)
            else:
                self.user(snowflake)
        else:
            raise TypeError(f"option type {kind} is not supported by the fake")
        return str(snowflake)


def _options(
    schema: Mapping[str, Any],
    values: Mapping[str, Any],
    focused: str | None,
    resolver: _Resolver,
) -> list[dict[str, Any]]:
    declared = {o["name"]: o for o in schema.get("options") or ()}
    unknown = set(values) - set(declared)
    if unknown:
        raise LookupError(f"/{schema['name']} has no option(s) {sorted(unknown)}")
    if focused is None:
        missing = [n for n, o in declared.items() if o.get("required") and n not in values]
        if missing:
            raise LookupError(f"/{schema['name']} requires {missing}")
    elif focused not in declared:
        raise LookupError(f"/{schema['name']} has no option {focused!r}")
    built: list[dict[str, Any]] = []
    # Discord sends options in the order the command declares them.
    for name, option in declared.items():
        if name not in values:
            continue
        kind = int(option["type"])
        if name == focused:
            # What the user has typed so far: always a string, whatever the type.
            built.append({"name": name, "type": kind, "value": str(values[name]), "focused": True})
        else:
            built.append({"name": name, "type": kind, "value": resolver.value(kind, values[name])})
    return built


def build_interaction(
    *,
    interaction_id: int,
    application_id: int,
    token: str,
    command: Mapping[str, Any],
    path: list[str],
    values: Mapping[str, Any],
    focused: str | None,
    invocation: Invocation,
    store_upload: Callable[[Upload], dict[str, Any]],
) -> dict[str, Any]:
    """A complete INTERACTION_CREATE `d` for `/command path...` (autocomplete when `focused`)."""
    if focused is not None and focused not in values:
        values = {**values, focused: ""}
    resolver = _Resolver(invocation, store_upload)
    leaf = find_subcommand(command, path)
    options = _options(leaf, values, focused, resolver)
    # Nest the leaf's options inside its subcommand and group, innermost first.
    node = command
    chain: list[Mapping[str, Any]] = []
    for name in path:
        node = next(o for o in node.get("options") or () if o.get("name") == name)
        chain.append(node)
    for sub in reversed(chain):
        options = [{"name": sub["name"], "type": sub["type"], "options": options}]
    data: dict[str, Any] = {
        "id": str(command["id"]),
        "name": command["name"],
        "type": int(command.get("type", 1)),
        "options": options,
    }
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    if command.get("guild_id"):
        data["guild_id"] = str(command["guild_id"])

    member, guild = invocation.member, invocation.guild
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": INTERACTION_AUTOCOMPLETE
        if focused is not None
        else INTERACTION_APPLICATION_COMMAND,
        "token": token,
        "version": 1,
        "data": data,
        "locale": invocation.locale,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "app_permissions": str(invocation.app_permissions),
        "entitlements": [],
    }
    if guild is not None:
        channel = invocation.channel
        if channel is None:
            raise LookupError("a guild interaction needs a channel")
        perms = invocation.permissions
        if perms is None:
            perms = channel_permissions(guild, member, channel)
        payload |= {
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_locale": "en-US",
            "channel_id": str(channel.id),
            "channel": channel_payload(guild.id, channel),
            "member": member_payload(guild, member, permissions=perms),
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
        }
    else:
        user = user_payload(member.id, member.name, bot=member.bot)
        dm_id = invocation.dm_channel_id
        payload |= {
            "channel_id": str(dm_id),
            "channel": {"id": str(dm_id), "type": 1, "recipients": [user], "flags": 0},
            "user": user,
            "authorizing_integration_owners": {"0": str(member.id)},
            "context": 1,
        }
    return payload
