"""The rules a fake Discord enforces: rate-limit windows, error bodies, message and command limits.

Rate limits are fixed windows, as Discord's buckets behave: the first request after a window
ends opens a new one of `Limit.per` seconds that admits `Limit.count` requests; the headers
tell the client how many remain and when the window ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Bucket",
    "DiscordError",
    "Limit",
    "RateLimits",
    "check_commands",
    "check_message",
    "error_for_code",
]


@dataclass(frozen=True)
class Limit:
    """`count` requests per `per` seconds."""

    count: int
    per: float


class DiscordError(Exception):
    """An HTTP error answered with Discord's JSON body `{"message", "code"[, "errors"]}`."""

    def __init__(
        self, status: int, code: int, message: str, errors: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = dict(self.errors)
        return body


_KNOWN: dict[int, tuple[int, str]] = {
    0: (404, "404: Not Found"),
    10003: (404, "Unknown Channel"),
    10004: (404, "Unknown Guild"),
    10007: (404, "Unknown Member"),
    10008: (404, "Unknown Message"),
    10013: (404, "Unknown User"),
    10015: (404, "Unknown Webhook"),
    10062: (404, "Unknown interaction"),
    40060: (400, "Interaction has already been acknowledged."),
    50001: (403, "Missing Access"),
    50006: (400, "Cannot send an empty message"),
    50007: (403, "Cannot send messages to this user"),
    50013: (403, "Missing Permissions"),
    50027: (401, "Invalid Webhook Token"),
    50035: (400, "Invalid Form Body"),
}


def error_for_code(code: int, errors: Mapping[str, Any] | None = None) -> DiscordError:
    """The error Discord answers with this JSON code (e.g. 50013 → 403 Missing Permissions)."""
    status, message = _KNOWN[code]
    return DiscordError(status, code, message, errors)


def _form_error(path: str, code: str, message: str) -> DiscordError:
    return error_for_code(50035, {path: {"_errors": [{"code": code, "message": message}]}})


# --- rate limits ---


@dataclass(frozen=True)
class Bucket:
    """One request's view of a window after it was counted (or refused)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float


@dataclass
class _Window:
    ends: float
    used: int


class RateLimits:
    """Fixed windows keyed by whatever identifies a bucket (route + major parameter)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._windows: dict[tuple[object, ...], _Window] = {}

    def take(self, key: tuple[object, ...], limit: Limit) -> Bucket:
        now = self._now()
        window = self._windows.get(key)
        if window is None or now >= window.ends:
            window = self._windows[key] = _Window(now + limit.per, 0)
        reset_after = max(window.ends - now, 0.0)
        if window.used >= limit.count:
            return Bucket(False, limit.count, 0, reset_after)
        window.used += 1
        return Bucket(True, limit.count, limit.count - window.used, reset_after)

    def clear(self) -> None:
        self._windows.clear()


# --- messages ---

_EMBED_TEXT = (("title", 256), ("description", 4096))
IS_COMPONENTS_V2 = 1 << 15


def _embed_size(embed: Mapping[str, Any]) -> int:
    size = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        size += len(f.get("name") or "") + len(f.get("value") or "")
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    return size


def _check_embed(i: int, embed: Mapping[str, Any]) -> None:
    for key, most in _EMBED_TEXT:
        if len(embed.get(key) or "") > most:
            raise _form_error(
                f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {most} or fewer in length."
            )
    fields = embed.get("fields") or ()
    if len(fields) > 25:
        raise _form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
    for j, f in enumerate(fields):
        for key, most in (("name", 256), ("value", 1024)):
            if not f.get(key):
                raise _form_error(
                    f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if len(f[key]) > most:
                raise _form_error(
                    f"embeds.{i}.fields.{j}.{key}",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {most} or fewer in length.",
                )
    for part, most in (("footer", 2048), ("author", 256)):
        text = (embed.get(part) or {}).get("text" if part == "footer" else "name") or ""
        if len(text) > most:
            raise _form_error(
                f"embeds.{i}.{part}", "BASE_TYPE_MAX_LENGTH", f"Must be {most} or fewer in length."
            )


def _count_components(components: Iterable[Mapping[str, Any]]) -> int:
    total = 0
    for c in components:
        total += 1 + _count_components(c.get("components") or ())
        if isinstance(c.get("accessory"), Mapping):
            total += 1
    return total


def check_message(payload: Mapping[str, Any], *, files: int, editing: bool = False) -> None:
    """Refuse what Discord refuses: sizes past its limits, a long nonce, an empty message."""
    content = payload.get("content")
    if content is not None and len(content) > 2000:
        raise _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    for i, embed in enumerate(embeds):
        _check_embed(i, embed)
    if sum(_embed_size(e) for e in embeds) > 6000:
        raise _form_error(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    nonce = payload.get("nonce")
    if isinstance(nonce, str) and len(nonce) > 25:
        raise _form_error("nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    components = payload.get("components") or []
    if int(payload.get("flags") or 0) & IS_COMPONENTS_V2:
        if content or embeds:
            raise _form_error(
                "content" if content else "embeds",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using components v2",
            )
        if _count_components(components) > 40:
            raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer.")
    empty = not (
        content
        or embeds
        or files
        or components
        or payload.get("sticker_ids")
        or payload.get("poll")
    )
    if empty and not editing:
        raise error_for_code(50006)


# --- application commands ---

_NAME = re.compile(r"^[-_\w]{1,32}$")


def _check_options(path: str, options: list[Mapping[str, Any]]) -> None:
    if len(options) > 25:
        raise _form_error(f"{path}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        where = f"{path}.options.{i}"
        name = option.get("name", "")
        if not _NAME.match(name) or name != name.lower():
            raise _form_error(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if name in names:
            raise _form_error(where, "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", name)
        names.add(name)
        if not 1 <= len(option.get("description", "")) <= 100:
            raise _form_error(
                f"{where}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if len(option.get("choices") or ()) > 25:
            raise _form_error(f"{where}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        if option.get("type") in (1, 2):
            _check_options(where, list(option.get("options") or ()))
        elif option.get("required"):
            if seen_optional:
                raise _form_error(
                    where,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def check_commands(commands: list[Mapping[str, Any]]) -> None:
    """Refuse a bulk overwrite Discord would refuse (names, lengths, counts, option order)."""
    if sum(1 for c in commands if c.get("type", 1) == 1) > 100:
        raise _form_error("_", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer slash commands.")
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type", 1))
        name = command.get("name", "")
        if kind == 1 and (not _NAME.match(name) or name != name.lower()):
            raise _form_error(f"{i}.name", "APPLICATION_COMMAND_INVALID_NAME", "Invalid name")
        if (kind, name) in seen:
            raise _form_error(f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", name)
        seen.add((kind, name))
        if kind == 1:
            if not 1 <= len(command.get("description", "")) <= 100:
                raise _form_error(
                    f"{i}.description",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _check_options(str(i), list(command.get("options") or ()))
