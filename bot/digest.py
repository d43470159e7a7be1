"""Posting the weekly "top kills" digest to every channel that opted in (the "digest" job).

Each run names the week of the last slot (:class:`engine.digests.WeeklySlot`) and posts one
embed to each opted-in channel not given that week yet, through the sender (so under the
bot's request budget), marking each channel as it goes: a restart or a catch-up run posts
nothing twice. A channel Discord refuses for good (403, 404) is opted out and logged; a
channel that fails otherwise is retried by the next run within the week, and the run
reports the failure (the job counts it) after the other channels had theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol

import discord

from bot.posts import nonce_for
from bot.render.digest import digest_embed
from bot.send_errors import verdict
from engine.digests import DigestChannel, DigestChannels, WeeklySlot
from engine.model import EnrichedKill
from engine.store.repositories import Clock, utc_now

__all__ = [
    "DIGEST_KILLS",
    "DigestFailed",
    "DigestPoster",
    "DigestReport",
    "DigestSender",
    "TopKills",
]

log = logging.getLogger(__name__)

PERIOD: Final = timedelta(days=7)
DIGEST_KILLS: Final = 10  # kills in a digest

TopKills = Callable[[], Awaitable[Sequence[EnrichedKill]]]


class DigestSender(Protocol):
    """`bot.sender.DiscordSender`."""

    async def post_message(
        self, destination: str, embeds: Sequence[discord.Embed], *, nonce: str
    ) -> discord.Message: ...


class DigestFailed(Exception):
    """Some channels could not be given the digest now; the others were."""


@dataclass(frozen=True, slots=True)
class DigestReport:
    week: str
    posted: tuple[int, ...] = ()  # channel ids
    gone: tuple[int, ...] = ()  # opted out: Discord refused them for good
    skipped: tuple[int, ...] = ()  # their server is paused


class DigestPoster:
    def __init__(
        self,
        channels: DigestChannels,
        top: TopKills,
        sender: DigestSender,
        slot: WeeklySlot,
        *,
        paused: Callable[[int], Awaitable[bool]] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """`top`: the kills to show (the week's most valuable); `paused(guild_id)`: whether
        a server paused Killwatch (its channels wait for a later run)."""
        self._channels = channels
        self._top = top
        self._sender = sender
        self._slot = slot
        self._paused = paused
        self._clock = clock

    async def run(self) -> DigestReport:
        now = self._clock()
        slot = self._slot.latest(now)
        week = WeeklySlot.week(slot)
        due = await self._channels.due(week)
        if not due:
            return DigestReport(week)
        embed = digest_embed(await self._top(), now - PERIOD, now)
        year, number, _ = slot.isocalendar()
        posted: list[int] = []
        gone: list[int] = []
        skipped: list[int] = []
        failed: list[str] = []
        for channel in due:
            if self._paused is not None and await self._paused(channel.guild_id):
                skipped.append(channel.channel_id)
                continue
            outcome = await self._post(channel, embed, year * 100 + number)
            if outcome is None:
                await self._channels.mark_posted(channel.channel_id, week)
                posted.append(channel.channel_id)
            elif outcome == "gone":
                gone.append(channel.channel_id)
            else:
                failed.append(f"channel {channel.channel_id}: {outcome}")
        log.info("digest %s posted to %d channels (%d gone, %d paused, %d failed)",
                 week, len(posted), len(gone), len(skipped), len(failed))
        if failed:
            raise DigestFailed("; ".join(failed))
        return DigestReport(week, tuple(posted), tuple(gone), tuple(skipped))

    async def _post(self, channel: DigestChannel, embed: discord.Embed, week: int) -> str | None:
        """None once posted, "gone" for a channel opted out now, else why it failed."""
        destination = f"channel:{channel.channel_id}"
        try:
            # The nonce makes a send repeated after a lost answer post once.
            await self._sender.post_message(
                destination, [embed], nonce=nonce_for(destination, week, kind="d")
            )
        except ValueError as bad:
            return str(bad)
        except Exception as error:
            found = verdict(error, retry_delay=0.0)
            if found is None:
                raise
            if found.kind != "gone":
                return found.reason
            await self._channels.forget(channel.channel_id)
            log.warning("digest: %s no longer takes posts (%s); opted out of the digest",
                        destination, found.reason)
            return "gone"
        return None

