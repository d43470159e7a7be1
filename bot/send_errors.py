"""What a failed request to Discord means for the posts it carried.

- gone: the destination cannot take posts (403 missing access/permissions, DMs closed, 404
  unknown channel): stop there at once, since each refusal counts toward Discord's
  10,000-invalid-requests ban;
- failed: Discord refuses this message (400, e.g. a size it will not take): the rest goes on;
- retry: not now (5xx, a lost connection, a 429 discord.py gave up waiting out).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final, Literal

import aiohttp
import discord

__all__ = ["RATE_LIMITED", "UNKNOWN_MESSAGE", "Verdict", "missing_permissions", "verdict"]

UNKNOWN_MESSAGE: Final = 10008
RATE_LIMITED: Final = 429  # a retry verdict's code when Discord said 429
_MISSING_ACCESS: Final = 50001
_CANNOT_DM: Final = 50007
_MISSING_PERMISSIONS: Final = 50013
_UNKNOWN_CHANNEL: Final = 10003
_UNKNOWN_USER: Final = 10013


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Literal["gone", "failed", "retry"]
    reason: str
    after: float = 0.0
    code: int = 0


def verdict(
    error: BaseException,
    *,
    retry_delay: float,
    missing: tuple[str, ...] = (),
) -> Verdict | None:
    """The verdict on `error`, or None when it is no Discord or network error (a bug: let
    it propagate). `missing`: permissions the bot's cache says it lacks, to name in a 50013."""
    if isinstance(error, discord.RateLimited):
        return Verdict(
            "retry", f"rate limited for {error.retry_after:.1f} s", error.retry_after,
            RATE_LIMITED,
        )
    if isinstance(error, discord.Forbidden):
        return Verdict("gone", _forbidden(error, missing), code=error.code)
    if isinstance(error, discord.NotFound):
        return Verdict("gone", _not_found(error), code=error.code)
    if isinstance(error, discord.HTTPException):
        if error.status == 429:
            return Verdict(
                "retry", "rate limited (429)", _retry_after(error, retry_delay), RATE_LIMITED
            )
        if error.status >= 500:
            return Verdict("retry", f"Discord server error ({error.status})", retry_delay)
        text = error.text or "refused"
        return Verdict(
            "failed", f"refused by Discord ({error.status}/{error.code}): {text}", code=error.code
        )
    if isinstance(error, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return Verdict("retry", f"connection error: {type(error).__name__}", retry_delay)
    return None


def _forbidden(error: discord.Forbidden, missing: tuple[str, ...]) -> str:
    if error.code == _MISSING_ACCESS:
        return "missing access (50001): the bot cannot see the channel (View Channel)"
    if error.code == _MISSING_PERMISSIONS:
        needed = ", ".join(missing) or "Send Messages or Embed Links"
        return f"missing permissions (50013): {needed}"
    if error.code == _CANNOT_DM:
        return "cannot send messages to this user (50007): DMs closed or no shared server"
    return f"forbidden ({error.code}): {error.text or 'no reason given'}"


def _not_found(error: discord.NotFound) -> str:
    if error.code == _UNKNOWN_CHANNEL:
        return "unknown channel (10003): deleted, or out of the bot's reach"
    if error.code == _UNKNOWN_USER:
        return "unknown user (10013)"
    return f"not found ({error.code}): {error.text or 'no reason given'}"


def _retry_after(error: discord.HTTPException, default: float) -> float:
    header = error.response.headers.get("Retry-After") if error.response is not None else None
    try:
        return max(float(header), 0.0) if header is not None else default
    except ValueError:
        return default


def missing_permissions(target: object, *, embeds: bool) -> tuple[str, ...]:
    """The permissions a guild channel needs for our posts that the bot's cache says it lacks
    (nothing for DMs, or a channel discord.py has not cached)."""
    if not isinstance(target, discord.abc.GuildChannel | discord.Thread):
        return ()
    me: discord.Member | None = target.guild.me  # None before the guild is ready
    if me is None:
        return ()
    perms = target.permissions_for(me)
    send = perms.send_messages_in_threads if isinstance(target, discord.Thread) else (
        perms.send_messages
    )
    needed = [
        ("View Channel", perms.view_channel),
        ("Send Messages", send),
        ("Embed Links", perms.embed_links or not embeds),
    ]
    return tuple(name for name, granted in needed if not granted)
