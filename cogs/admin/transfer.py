"""``/killwatch export`` and ``import``: a server's subscriptions as a versioned JSON file.

The file holds each subscription's stored filter (the JSON tree, ids not names, so it means
the same anywhere), its options and the channel it posts to. Importing reads the file once
into typed values (:func:`read_export`), then places every subscription in this server
(:func:`plan_import`): the same channel when it is one of this server's, else the channel
of the same name, else the channel the command runs in; a role mention the same way, by id
then by name. Every problem is collected before anything is created, so an import is all or
nothing and says everything that is wrong at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import discord
import msgspec

from bot.render.text import md
from engine.filters import Atlas, FilterError, load
from engine.subscriptions import NewSubscription, SubscriptionView

__all__ = [
    "FORMAT",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_SUBSCRIPTIONS",
    "VERSION",
    "Export",
    "ExportedSubscription",
    "ImportPlan",
    "ImportRejected",
    "Placed",
    "Ref",
    "export_bytes",
    "plan_import",
    "read_export",
]

FORMAT: Final = "killwatch.subscriptions"
VERSION: Final = 1
MAX_IMPORT_BYTES: Final = 1_000_000
MAX_IMPORT_SUBSCRIPTIONS: Final = 500


class Ref(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A server or channel: its id (a string, as Discord writes snowflakes) and its name."""

    id: str
    name: str | None = None


class ExportedSubscription(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    channel: Ref
    filter: dict[str, Any]  # the stored tree, {"v": 1, ...}
    filter_text: str | None = None  # for people reading the file; ignored on import
    text: str | None = None  # as it was typed, when it was typed
    preset: str | None = None
    style: str = "full"
    mention: str | None = None  # "here", "everyone" or "role:<id>"
    mention_role: str | None = None  # the role's name, to find it in another server
    cooldown_seconds: int = 900
    max_age_minutes: int | None = None
    min_value: float | None = None
    paused: bool = False
    pause_reason: str | None = None
    id: int | None = None  # its number in the server it came from; ignored on import


class Export(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    version: int
    guild: Ref
    exported_at: datetime
    subscriptions: list[ExportedSubscription]


class _Header(msgspec.Struct):
    format: str | None = None
    version: int | None = None


class ImportRejected(Exception):
    """The file cannot be imported; ``problems`` say why, each fit to show as it is."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Placed:
    """Where one imported subscription goes, and how the reply names the move."""

    channel_id: int
    moved_from: str | None  # the exported channel's name, when it lands elsewhere


@dataclass(frozen=True, slots=True)
class ImportPlan:
    subscriptions: tuple[NewSubscription, ...]
    placed: tuple[Placed, ...]


def export_bytes(
    guild: discord.Guild, views: Sequence[SubscriptionView], now: datetime
) -> bytes:
    """The server's channel subscriptions as the export file (indented: people read it)."""
    exported = [_exported(guild, view) for view in views if view.guild_id == guild.id]
    document = Export(FORMAT, VERSION, Ref(str(guild.id), guild.name), now, exported)
    return msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n"


def _exported(guild: discord.Guild, view: SubscriptionView) -> ExportedSubscription:
    channel_id = int(view.destination.partition(":")[2])
    channel = guild.get_channel_or_thread(channel_id)
    mention = view.options.mention
    role = None
    if mention is not None and mention.startswith("role:"):
        role = guild.get_role(int(mention.removeprefix("role:")))
    return ExportedSubscription(
        channel=Ref(str(channel_id), channel.name if channel is not None else None),
        filter=view.filter,
        filter_text=view.filter_text,
        text=view.text,
        preset=view.preset,
        style=view.options.style,
        mention=mention,
        mention_role=role.name if role is not None else None,
        cooldown_seconds=view.options.cooldown,
        max_age_minutes=view.options.max_age,
        min_value=view.options.min_value,
        paused=view.paused,
        pause_reason=view.pause_reason,
        id=view.id,
    )


def read_export(data: bytes) -> Export:
    """The file, checked for shape; :class:`ImportRejected` says what is wrong and where."""
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.DecodeError as exc:
        raise ImportRejected([f"The file is not a Killwatch export (not JSON: {exc})."]) from exc
    except RecursionError:  # something nested thousands deep
        raise ImportRejected(["The file is damaged: it is nested too deeply."]) from None
    if header.format != FORMAT:
        raise ImportRejected(
            ["The file is not a Killwatch export: /killwatch export makes one."]
        )
    if header.version != VERSION:
        raise ImportRejected(
            [f"The file is version {header.version}; this Killwatch reads version {VERSION}."]
        )
    try:
        export = msgspec.json.decode(data, type=Export)
    except msgspec.ValidationError as exc:
        raise ImportRejected([f"The file is damaged: {exc}."]) from exc
    except RecursionError:  # a filter nested thousands deep
        raise ImportRejected(["The file is damaged: it is nested too deeply."]) from None
    except UnicodeDecodeError:
        raise ImportRejected(["The file is damaged: its text is not UTF-8."]) from None
    if not export.subscriptions:
        raise ImportRejected(["The file holds no subscriptions."])
    if len(export.subscriptions) > MAX_IMPORT_SUBSCRIPTIONS:
        raise ImportRejected(
            [f"The file holds {len(export.subscriptions)} subscriptions; at most "
             f"{MAX_IMPORT_SUBSCRIPTIONS} can be imported at once."]
        )
    return export


PostCheck = Callable[[discord.abc.GuildChannel | discord.Thread], Sequence[str]]


def plan_import(
    export: Export,
    guild: discord.Guild,
    here: int,
    owner_id: int,
    *,
    missing_permissions: PostCheck,
    pings: bool,
    atlas: Atlas | None = None,
) -> ImportPlan:
    """Place every subscription in ``guild`` (``here``: the channel the command runs in) and
    check what can be checked without the store; ``missing_permissions(channel)`` names what
    the bot lacks to post there; ``atlas`` checks the ids in filters. :class:`ImportRejected`
    lists every problem, by number."""
    problems: list[str] = []
    planned: list[NewSubscription] = []
    placed: list[Placed] = []
    for number, entry in enumerate(export.subscriptions, start=1):
        channel, moved_from = _channel(guild, here, entry.channel)
        if channel is None:
            problems.append(f"#{number}: the channel the command runs in cannot be found.")
            continue
        missing = missing_permissions(channel)
        if missing:
            needed = ", ".join(f"**{name}**" for name in missing)
            problems.append(f"#{number}: I cannot post in <#{channel.id}>: I need {needed}.")
        mention, problem = _mention(guild, entry, pings)
        if problem is not None:
            problems.append(f"#{number}: {problem}")
        try:
            tree = load(entry.filter, atlas)
        except FilterError as exc:
            problems.append(f"#{number}: its filter is not valid: {md(str(exc))}")
            continue
        planned.append(
            NewSubscription(
                f"channel:{channel.id}",
                guild.id,
                owner_id,
                text=entry.text,
                tree=tree,
                preset=entry.preset,
                style=entry.style,
                mention=mention,
                cooldown=entry.cooldown_seconds,
                max_age=entry.max_age_minutes,
                min_value=entry.min_value,
                paused=entry.paused,
                pause_reason=(entry.pause_reason or "paused when exported")
                if entry.paused else None,
                server_defaults=False,
            )
        )
        placed.append(Placed(channel.id, moved_from))
    if problems:
        raise ImportRejected(problems)
    return ImportPlan(tuple(planned), tuple(placed))


def _channel(
    guild: discord.Guild, here: int, ref: Ref
) -> tuple[discord.abc.GuildChannel | discord.Thread | None, str | None]:
    if _snowflake(ref.id):
        same = guild.get_channel_or_thread(int(ref.id))
        if isinstance(same, discord.abc.Messageable):
            return same, None
    if ref.name:
        wanted = ref.name.casefold()
        named = next((c for c in guild.text_channels if c.name.casefold() == wanted), None)
        if named is not None:
            return named, None
    label = ref.name or ref.id
    return guild.get_channel_or_thread(here), label


def _mention(
    guild: discord.Guild, entry: ExportedSubscription, pings: bool
) -> tuple[str | None, str | None]:
    """The mention in this server, or why it cannot be."""
    mention = entry.mention
    if mention is None or mention == "none":
        return None, None
    if not pings:
        return None, (
            "it mentions someone, but pings are turned off for this bot (the operator's "
            "`discord.pings` setting)."
        )
    if not mention.startswith("role:"):
        return mention, None
    role_id = mention.removeprefix("role:")
    if _snowflake(role_id) and guild.get_role(int(role_id)) is not None:
        return mention, None
    if entry.mention_role:
        wanted = entry.mention_role.casefold()
        role = next((r for r in guild.roles if r.name.casefold() == wanted), None)
        if role is not None:
            return f"role:{role.id}", None
    name = md((entry.mention_role or role_id)[:100])
    return None, f"it mentions the role “{name}”, which this server does not have."


def _snowflake(text: str) -> bool:
    # A Discord id has at most 20 ASCII digits; int() of thousands of digits (or of "²") raises.
    return text.isascii() and text.isdigit() and len(text) <= 20
