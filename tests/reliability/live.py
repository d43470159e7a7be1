"""Killwatch wired as `killwatch run` wires it with a Discord token, in this process, against
a fake R2Z2 and a fake Discord: for the outside-failure scenarios and the soak (issue 9).

`live(settings, url, discord=..., feed=...)` runs `bot.serve.serve_discord` — what `killwatch
run` runs — as a task: it opens the parts (store, HTTP session, ESI when enabled, jobs), logs a
real `KillwatchBot` in to the fake Discord, builds the `DiscordSender`, the outbox's
`Dispatcher` (with its on-gone pause-and-notify) and the `Engine`. The layout it is given
(`HarnessLayout`) is `Alone`'s with two differences: the bot waits 0.1 s for its servers
instead of 2 s, and the engine reads the sources the test builds — here an R2Z2 source on a
`CompressedClock`, so its poll waits and backoff pass many times faster than real time (what
it *asked* to sleep is summed in `clock.slept`). Leaving the block stops the engine as SIGTERM
does: stop reading, post what is owed (within the drain timeout), close. `serving(...)` is the
same for any layout (the soak replays a file).

Kills are real fixture killmails re-issued with fresh ids and kill times (`reissue`), so the
max-age rule holds back exactly those a test makes old. What each destination should get is
worked out at publish time from the payload and the matcher (never from what the bot did);
`shown(...)` reads back, in order, the kills a channel shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import URL, func, select

from bot.config import Settings
from bot.discord_bot import BotServices, KillwatchBot
from bot.layout import Alone, Core
from bot.runtime import Parts
from bot.sender import DiscordSender
from bot.serve import serve_discord
from engine.delivery import Dispatcher
from engine.filters import Matcher
from engine.guilds import GuildSettings
from engine.model import KillmailRejected, parse_killmail
from engine.pipeline import Engine
from engine.sources.base import Source
from engine.sources.http import Clock, HttpTimeouts
from engine.sources.r2z2 import R2Z2Source, cursor_key
from engine.store.database import Database
from engine.store.repositories import StateRepository
from engine.store.tables import KillmailRow, OutboxRow
from engine.subscriptions import Subscriptions
from tests.fakes.discord import FakeDiscord, Message
from tests.fakes.discord_client import discord_pointed_at
from tests.fakes.r2z2 import FakeR2Z2

__all__ = [
    "CompressedClock",
    "HarnessLayout",
    "Live",
    "Published",
    "SourcesFor",
    "live",
    "live_settings",
    "payload_of",
    "reissue",
    "serving",
    "shown",
]

_KILL_URL = re.compile(r"zkillboard\.com/kill/(\d+)")
# Fresh ids far above real ones (below 2e8) and above the crash harness's cycles.
FIRST_ID = 3_000_000_000


class CompressedClock:
    """The feed's clock: `factor` times faster than real time. Sleeps really sleep (a fake
    clock whose sleeps return at once would have the source hammer the fake at full speed
    while it polls the head), just `factor` times shorter."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.slept = 0.0  # seconds the source asked to sleep, in feed time
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.factor

    async def sleep(self, seconds: float) -> None:
        self.slept += max(seconds, 0.0)
        await asyncio.sleep(max(seconds, 0.0) / self.factor)

    @property
    def clock(self) -> Clock:
        return Clock(self.now, self.sleep)


def reissue(
    lines: Sequence[Mapping[str, Any]], times: Sequence[datetime], *, first_id: int
) -> list[dict[str, Any]]:
    """Copies of fixture lines with ids `first_id`, `first_id + 1`… and these kill times."""
    fresh = []
    for number, (line, when) in enumerate(zip(lines, times, strict=True)):
        copied = copy.deepcopy(dict(line))
        copied["killmail_id"] = first_id + number
        copied["esi"]["killmail_id"] = first_id + number
        copied["esi"]["killmail_time"] = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fresh.append(copied)
    return fresh


def live_settings(url: str | URL, **sections: Mapping[str, Any]) -> Settings:
    """Settings for a run against the fakes: ESI off, no battle mode, a short drain, status
    saved often; any section's keys may be overridden (`engine={"max_age_minutes": 30}`)."""
    base: dict[str, dict[str, Any]] = {
        "database": {"url": str(url) if isinstance(url, str) else url.render_as_string(False)},
        "discord": {"battle_threshold": 10_000},
        "engine": {"max_age_minutes": 60, "drain_timeout_seconds": 10,
                   "status_interval_seconds": 1},
        "esi": {"enabled": False},
        "feeds": {"contact": "reliability@example.org"},
    }
    for section, values in sections.items():
        base[section] = {**base.get(section, {}), **values}
    return Settings(sources=[], **base)


def shown(messages: Iterable[Message]) -> list[int]:
    """The kills a destination shows, in order: each message's embeds (url, title,
    description) and content, a kill counted once per message."""
    found: list[int] = []
    for message in messages:
        texts = [message.content or ""]
        for embed in message.embeds:
            texts += [str(embed.get(key) or "") for key in ("url", "title", "description")]
        ids = dict.fromkeys(int(i) for text in texts for i in _KILL_URL.findall(text))
        found.extend(ids)
    return found


@dataclass(frozen=True, slots=True)
class Published:
    sequence: int
    kill_id: int
    destinations: frozenset[str]  # what the subscriptions matched when it was published
    too_old: bool  # published older than the max age: to be stored, not posted


@dataclass
class Live:
    settings: Settings
    parts: Parts
    bot: KillwatchBot
    discord: FakeDiscord
    feed: FakeR2Z2
    clock: CompressedClock
    subscriptions: Subscriptions
    guilds: GuildSettings
    matcher: Matcher
    published: list[Published] = field(default_factory=list)

    @property
    def database(self) -> Database:
        return self.parts.database

    @property
    def engine(self) -> Engine:
        engine = self.bot.services.running.engine
        assert engine is not None
        return engine

    @property
    def sender(self) -> DiscordSender:
        sender = self.bot.services.running.sender
        assert sender is not None
        return sender

    @property
    def max_age(self) -> timedelta:
        return timedelta(minutes=self.settings.engine.max_age_minutes)

    def publish(self, lines: Iterable[Mapping[str, Any]]) -> list[Published]:
        """Put kills on the feed; note where each should go, as the matcher says now."""
        done = []
        now = datetime.now(UTC)
        for line in lines:
            sequence = self.feed.publish(dict(line))
            payload = self.feed.payloads[sequence]
            try:
                kill = self.parts.enricher.enrich(parse_killmail(payload))
            except KillmailRejected:
                continue
            old = now - kill.killmail.time > self.max_age
            destinations = frozenset(m.destination for m in self.matcher.match(kill))
            done.append(Published(sequence, kill.id, destinations, old))
        self.published.extend(done)
        return done

    def expected(self, destination: str) -> list[int]:
        """The kills `destination` should show, in feed order."""
        return [p.kill_id for p in self.published
                if destination in p.destinations and not p.too_old]

    def shown(self, channel_id: int) -> list[int]:
        return shown(self.discord.messages(channel_id))

    async def position(self) -> int | None:
        async with self.database.session() as session:
            saved = await StateRepository(session).get(cursor_key("r2z2"))
        return None if saved is None else int(saved)

    async def outbox(self) -> dict[str, int]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
            )
            return {state: count for state, count in rows.all()}

    async def too_old(self) -> set[int]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(KillmailRow.killmail_id).where(KillmailRow.too_old.is_(True))
            )
            return set(rows.scalars())

    async def stored(self) -> set[int]:
        async with self.database.session() as session:
            return set((await session.execute(select(KillmailRow.killmail_id))).scalars())

    async def settled(self, *, within: float = 60.0, poll: float = 0.05) -> None:
        """Until every published kill is stored and no post is owed (pending) any more."""
        head = self.feed.head
        async with asyncio.timeout(within):
            while True:
                position = await self.position()
                if position is not None and position >= head:
                    counts = await self.outbox()
                    if not counts.get("pending"):
                        return
                await asyncio.sleep(poll)


SourcesFor = Callable[[Parts], Sequence[Source]]


class HarnessLayout(Alone):
    """`bot.layout.Alone` (everything in one process) with two test knobs: the bot waits
    0.1 s for its servers (plus any `bot_options`), and the engine reads the sources
    `sources_for(parts)` builds instead of those the settings name. It keeps what
    `serve_discord` hands it, for the test to look at."""

    def __init__(self, sources_for: SourcesFor, bot_options: Mapping[str, Any]) -> None:
        self._sources_for = sources_for
        self._bot_options = {"guild_ready_timeout": 0.1, **bot_options}
        self.bot: KillwatchBot | None = None
        self.parts: Parts | None = None
        self.matcher: Matcher | None = None
        self.engine: Engine | None = None

    def client(self, services: BotServices, *, test_guild_id: int | None) -> KillwatchBot:
        self.bot = KillwatchBot(services, test_guild_id=test_guild_id, **self._bot_options)
        return self.bot

    def core(  # type: ignore[override]
        self, parts: Parts, matcher: Matcher, dispatcher: Dispatcher, *args: Any, **kw: Any
    ) -> Engine:
        self.parts = replace(parts, sources=list(self._sources_for(parts)))
        self.matcher = matcher
        self.engine = super().core(self.parts, matcher, dispatcher, *args, **kw)
        return self.engine


@contextlib.asynccontextmanager
async def serving(
    settings: Settings,
    url: str | URL,
    discord: FakeDiscord,
    layout: HarnessLayout,
    *,
    stop_within: float = 30.0,
) -> AsyncIterator[asyncio.Task[Core]]:
    """`bot.serve.serve_discord` with `layout`, against `discord` (open), as a task; the
    block starts once its engine runs and, leaving, stops the engine as SIGTERM does and
    waits for the task to end."""
    # serve_discord points discord.py at the fake for the process; this puts it back after.
    with discord_pointed_at(discord.api_base_url, discord.gateway_url):
        task = asyncio.create_task(
            serve_discord(settings, url, discord.token, layout), name="killwatch"
        )
        try:
            async with asyncio.timeout(60):
                while layout.bot is None or layout.bot.services.running.engine is None:
                    if task.done():
                        task.result()
                        raise RuntimeError("Killwatch stopped before it ran")
                    await asyncio.sleep(0.005)
            yield task
        finally:
            if layout.engine is not None:
                layout.engine.stop()
            else:
                task.cancel()
            async with asyncio.timeout(stop_within):
                await asyncio.wait([task])
    task.result()  # a crash must not pass unnoticed


@contextlib.asynccontextmanager
async def live(
    settings: Settings,
    url: str | URL,
    *,
    discord: FakeDiscord,
    feed: FakeR2Z2,
    factor: float = 100.0,
    feed_timeouts: HttpTimeouts = HttpTimeouts(connect=0.5, read=0.5),  # noqa: B008
    bot_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Live]:
    """Killwatch running against `discord` and `feed` (both open) for the block, reading the
    feed from the next kill published, on a clock `factor` times faster than real time."""
    clock = CompressedClock(factor)

    def r2z2(parts: Parts) -> list[Source]:
        return [R2Z2Source(
            parts.context.session,
            base_url=feed.url,
            start_after=feed.head,
            user_agent=parts.context.user_agent,
            timeouts=feed_timeouts,
            requests_per_second=20.0,
            poll_wait=6.0,
            clock=clock.clock,
        )]

    layout = HarnessLayout(r2z2, bot_options or {})
    async with serving(settings, url, discord, layout):
        assert layout.bot is not None
        assert layout.parts is not None
        assert layout.matcher is not None
        services = layout.bot.services
        assert services.guilds is not None
        yield Live(settings, layout.parts, layout.bot, discord, feed, clock,
                   services.subscriptions, services.guilds, layout.matcher)


def payload_of(live_run: Live, sequence: int) -> dict[str, Any]:
    """A published payload, decoded (for a test that wants to look at one)."""
    loaded: dict[str, Any] = orjson.loads(live_run.feed.payloads[sequence])
    return loaded
