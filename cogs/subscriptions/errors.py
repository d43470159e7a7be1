"""Refusals the commands raise themselves, each with a message fit to show as it is.

They derive from discord.py's ``AppCommandError`` so that the command tree hands them to the
groups' error handler (:func:`cogs.subscriptions.replies.report_error`) unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from discord import app_commands

__all__ = [
    "BadArgument",
    "BotCannotPost",
    "MissingManagerPermission",
    "NotInServer",
    "Refusal",
]


class Refusal(app_commands.AppCommandError):
    """A refusal whose ``str()`` is our own sentence, escaped where it quotes input."""


class MissingManagerPermission(Refusal, app_commands.CheckFailure):
    """The member may not change this server's subscriptions."""

    def __init__(self, role: str | None) -> None:
        self.role = role
        super().__init__(
            "You need the **Manage Server** permission"
            + (f" or the {role} role" if role else "")
            + " to change this server's subscriptions. "
            "You can still use /sub list, /sub show, /sub test, and /dm for your own DMs."
        )


class NotInServer(Refusal, app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(
            "This command works in a server channel. For kills in your DMs use /dm watch, "
            "/dm add, /dm list and /dm remove."
        )


class BotCannotPost(Refusal, app_commands.CheckFailure):
    """The bot lacks what it needs to post kills in this channel."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        names = ", ".join(f"**{name}**" for name in self.missing)
        super().__init__(
            f"I cannot post kills in this channel: I need {names} here. Ask someone who manages "
            "the channel to grant them, then try again."
        )


class BadArgument(Refusal):
    """An option's value cannot be read (an ISK amount, a mention); the message says why."""
