"""The soak run (issue 9): a day of kills in compressed time through Killwatch as `killwatch run`
wires it, with thousands of subscriptions, watching for leaks.

`run_soak(plan, workdir)`:

- **Kills**: the recorded killmails with their people and places redrawn from a synthetic New
  Eden (`bench.match.World`: power-law corporations and alliances, kills clustered in a few
  hundred busy systems), under fresh ids, with kill times spread over `plan.hours` (about
  zKillboard's 20,000 a day), written to a JSONL file and replayed by the production
  `ReplaySource` paced at `plan.speed` × real time (the replay is history on purpose, so the
  max-age rule holds none back).
- **Subscriptions**: `plan.subscriptions` over `plan.channels` channels in `plan.guilds`
  servers, made through the `Subscriptions` facade before the start: mostly entity watches
  of one character or corporation (most match a kill now and then), proximity and capital
  radar around a home system, big kills in a region, filters typed as text (systems,
  regions, ship classes, values), and a few broad ones matching a lot. Each channel posts in
  one style (a fifth full, the rest compact or link).
- **Discord**: the real `DiscordSender` and discord.py against the fake Discord, whose limits
  run on the feed's time like everything else: each channel's 5 posts per 5 s become 5 per
  5/speed s, the global 50 requests/s 50 × speed, and the bot's own budget 45 × speed (past
  the 50/s its configuration allows: at Discord's real 50/s a compressed day of posts piles
  up faster than any packing can carry). Battle mode is off, so each kill is a post to count
  (its window is compressed too). What the fake receives is read and forgotten as it goes
  (`FakeDiscord.take_records`), so the fake's memory does not count against Killwatch's.
- **Samples**: RSS, asyncio tasks, open file descriptors and sockets, the store's pooled
  connections, the outbox's pending rows and the kills posted, before the start, at the
  start, every `1/plan.samples` of the feed, at the end (everything posted) and after the
  stop. Then every channel's posts are compared with what its subscriptions match.

By hand: ``python -m tests.reliability.soak --hours 24 --subscriptions 10000 --channels 500``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

import orjson
from sqlalchemy import func, select

from bench.match import World, make_kill_lines
from bot.config import Settings
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Node, presets
from engine.model import KillmailRejected, parse_killmail
from engine.sources import ReplaySource
from engine.sources.base import RawKill, Source
from engine.sources.status import SourceCounters, SourceStatus
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.tables import OutboxRow
from engine.subscriptions import NewSubscription, Subscriptions
from tests.fakes.discord import Channel, FakeDiscord, Guild, Limit, Member
from tests.reliability.live import FIRST_ID, HarnessLayout, live_settings, serving, shown

__all__ = ["Sample", "SoakPlan", "SoakReport", "run_soak"]

GUILD0, CHANNEL0, OWNER = 7_700 << 22, 7_800_000, 7_799
# How channels post: full embeds are the richest and the fewest to a message (2-4 in
# Discord's 6,000 characters), compact ones and links go ten to a message.
STYLES = ("full", "compact", "link", "compact", "link")


@dataclass(frozen=True, slots=True)
class SoakPlan:
    hours: float = 24.0
    kills_per_day: int = 20_000
    subscriptions: int = 10_000
    channels: int = 500
    guilds: int = 50
    # Feed seconds per real second: a day in about 7 minutes, which one core keeps up with
    # (the outbox stays near empty) with some to spare.
    speed: float = 200.0
    samples: int = 12  # progress samples over the feed
    seed: int = 9

    @property
    def kills(self) -> int:
        return round(self.kills_per_day * self.hours / 24)


@dataclass(frozen=True, slots=True)
class Sample:
    label: str
    kills: int  # read from the feed so far
    seconds: float  # since the feed started
    rss_mb: float
    tasks: int
    fds: int
    sockets: int
    db_open: int  # the store's pooled connections: in use + idle
    db_busy: int  # in use
    outbox: int  # posts owed (pending rows)
    posted: int  # kills Discord shows so far


@dataclass(frozen=True, slots=True)
class SoakReport:
    plan: SoakPlan
    kills: int  # stored
    posts_expected: int
    posts: int  # kills shown in Discord
    messages: int
    missing: int
    duplicates: int
    unexpected: int
    out_of_order: int  # channels whose posts are all there but not in feed order
    samples: tuple[Sample, ...]
    feed_seconds: float  # from the first kill read to the last
    seconds: float  # from the first kill read to everything posted
    rate_limited: int  # 429s the fake Discord answered
    errors: tuple[str, ...]  # what Killwatch logged at ERROR or above meanwhile

    def sample(self, label: str) -> Sample:
        return next(s for s in self.samples if s.label == label)

    @property
    def max_outbox(self) -> int:
        return max(s.outbox for s in self.samples)

    def lines(self) -> list[str]:
        plan = self.plan
        speed = plan.hours * 3600 / self.feed_seconds if self.feed_seconds else 0.0
        out = [
            f"soak: {plan.hours:g} h of feed, {self.kills:,} kills, {plan.subscriptions:,} "
            f"subscriptions over {plan.channels} channels in {plan.guilds} servers",
            f"feed {self.feed_seconds:.0f} s ({speed:.0f}x real time, "
            f"{self.kills / self.feed_seconds:.0f} kills/s); everything posted after "
            f"{self.seconds:.0f} s",
            f"posts: {self.posts:,} of {self.posts_expected:,} expected in {self.messages:,} "
            f"messages ({self.posts / max(self.messages, 1):.1f} kills a message); "
            f"missing {self.missing}, duplicates {self.duplicates}, unexpected "
            f"{self.unexpected}, channels out of order {self.out_of_order}; "
            f"429s {self.rate_limited}",
            f"max outbox depth {self.max_outbox:,}; errors logged {len(self.errors)}"
            + (f", first: {list(self.errors[:3])}" if self.errors else ""),
            f"{'sample':>8} {'kills':>7} {'s':>6} {'RSS MB':>7} {'tasks':>6} {'fds':>5} "
            f"{'socks':>5} {'db':>5} {'outbox':>7} {'posted':>7}",
        ]
        out += [
            f"{s.label:>8} {s.kills:7,} {s.seconds:6.0f} {s.rss_mb:7.1f} {s.tasks:6} "
            f"{s.fds:5} {s.sockets:5} {s.db_busy:2}/{s.db_open:<2} {s.outbox:7,} "
            f"{s.posted:7,}"
            for s in self.samples
        ]
        return out


# --- the day: kills and subscriptions ---


def day_of_kills(world: World, plan: SoakPlan, path: Path) -> list[bytes]:
    """`plan.kills` kills over `plan.hours` ending now, oldest first, written to `path`."""
    rng = random.Random(plan.seed)
    span = plan.hours * 3600
    start = datetime.now(UTC) - timedelta(seconds=span)
    offsets = sorted(rng.uniform(0, span) for _ in range(plan.kills))
    lines = []
    for number, (raw, offset) in enumerate(
        zip(make_kill_lines(world, plan.kills), offsets, strict=True)
    ):
        record = orjson.loads(raw)
        record["killmail_id"] = record["esi"]["killmail_id"] = FIRST_ID + number
        when = start + timedelta(seconds=offset)
        record["esi"]["killmail_time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(orjson.dumps(record))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def _guild_of(channel: int, plan: SoakPlan) -> int:
    return GUILD0 + (channel - CHANNEL0) * plan.guilds // plan.channels


def _corporations(world: World) -> list[int]:
    """Corporations with pilots, any size alike: most are small (a few big ones are in
    thousands of kills a day)."""
    return sorted(world.members)


def _filter(world: World, universe: Universe, rng: random.Random) -> tuple[str | None, Node | None]:
    """One subscription's filter, as text or as a tree: most match little, a few a lot."""
    roll = rng.random()
    if roll < 0.72:
        preset = rng.choice((presets.kills_and_losses, presets.kills, presets.losses))
        return None, preset("character", rng.choice(world.characters))
    if roll < 0.80:
        preset = rng.choice((presets.kills_and_losses, presets.losses))
        return None, preset("corporation", rng.choice(_corporations(world)))
    if roll < 0.82:
        return None, presets.losses("alliance", world.watched("alliance"))
    if roll < 0.86:
        return None, presets.proximity([rng.choice(world.kspace)], rng.choice((0, 1, 2)))
    if roll < 0.89:
        region = rng.choice(world.regions)
        return None, presets.big_kills(rng.choice((5e9, 1e10)), region=region)
    if roll < 0.91:
        return None, presets.capital_radar(rng.choice(world.nullsec), rng.choice((2, 3, 4)))
    if roll < 0.999:
        return _text_filter(world, universe, rng), None
    # The broad few: a channel for every big kill, every wormhole loss, every big fight...
    broad: tuple[str | Node, ...] = (
        "value >= 1b",
        "space = wormhole",
        "attackers >= 50",
        "victim.ship_category = Ship and value >= 3b and not npc",
        presets.freighter_ganks(),
    )
    chosen = rng.choice(broad)
    return (chosen, None) if isinstance(chosen, str) else (None, chosen)


def _text_filter(world: World, universe: Universe, rng: random.Random) -> str:
    system = universe.system(rng.choice(world.hot))
    region = universe.region(rng.choice(world.regions))
    assert system is not None
    assert region is not None
    return rng.choice((
        f'system = "{system.name}"',
        f'system = "{system.name}" and value >= 100m',
        f'region = "{region.name}" and value >= 2b',
        f'region = "{region.name}" and victim.ship_group = Freighter',
        f'jumps from "{system.name}" <= 1 and not npc',
    ))


def subscriptions_for(world: World, universe: Universe, plan: SoakPlan) -> list[NewSubscription]:
    rng = random.Random(plan.seed + 1)
    made = []
    for number in range(plan.subscriptions):
        channel = CHANNEL0 + number % plan.channels
        text, tree = _filter(world, universe, rng)
        made.append(NewSubscription(
            f"channel:{channel}", _guild_of(channel, plan), OWNER, text=text, tree=tree,
            style=STYLES[channel % len(STYLES)],
        ))
    return made


def _guilds(plan: SoakPlan) -> list[Guild]:
    channels: dict[int, list[Channel]] = {}
    for channel in range(CHANNEL0, CHANNEL0 + plan.channels):
        channels.setdefault(_guild_of(channel, plan), []).append(
            Channel(channel, f"kills-{channel - CHANNEL0}")
        )
    return [
        Guild(guild, f"Soak {n}", channels=found, members=[Member(OWNER, "owner")],
              owner_id=OWNER)
        for n, (guild, found) in enumerate(sorted(channels.items()))
    ]


def expected_posts(
    lines: Sequence[bytes], enricher: Enricher, matcher: Matcher
) -> tuple[int, dict[int, list[int]]]:
    """Kills the store should hold, and channel -> the kills it should show, in feed order."""
    stored = 0
    wanted: dict[int, list[int]] = {}
    for line in lines:
        try:
            kill = enricher.enrich(parse_killmail(line))
        except KillmailRejected:
            continue
        stored += 1
        for match in matcher.match(kill):
            wanted.setdefault(int(match.destination.partition(":")[2]), []).append(kill.id)
    return stored, wanted


# --- measuring ---


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds() -> tuple[int, int]:
    """Open file descriptors, and how many of them are sockets."""
    fds = sockets = 0
    for entry in os.scandir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
            fds += 1
            sockets += os.readlink(entry.path).startswith("socket:")
    return fds, sockets


class _Idle:
    """A feed with nothing to say until stopped: keeps the engine running after the replay
    has ended, as a live feed would, until everything is posted and measured."""

    name = "idle"

    def __init__(self) -> None:
        self._counters = SourceCounters(self.name, "idle")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def kills(self) -> AsyncIterator[RawKill]:
        await asyncio.Event().wait()
        yield RawKill(self.name, b"", "never")  # pragma: no cover - unreachable

    def status(self) -> SourceStatus:
        return self._counters.snapshot()


class _Errors(logging.Handler):
    """Keeps what Killwatch logs at ERROR or above (retried store failures included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("engine", "bot", "cogs")):
            self.seen.append(f"{record.name}: {record.getMessage()}"[:200])


@dataclass
class _Watch:
    """What the run has shown so far: the fake Discord's posts, read as they come."""

    discord: FakeDiscord
    posted: dict[int, list[int]] = field(default_factory=dict)
    messages: int = 0

    def harvest(self) -> None:
        for channel, messages in self.discord.take_records().items():
            self.posted.setdefault(channel, []).extend(shown(messages))
            self.messages += len(messages)

    @property
    def count(self) -> int:
        return sum(len(kills) for kills in self.posted.values())


async def _measure(
    label: str, kills: int, started: float, database: Database | None, watch: _Watch
) -> Sample:
    fds, sockets = _fds()
    db_open = db_busy = outbox = 0
    if database is not None and database.is_open:
        pool = database.engine.pool
        db_busy = int(getattr(pool, "checkedout", lambda: 0)())
        db_open = db_busy + int(getattr(pool, "checkedin", lambda: 0)())
        async with database.session() as session:
            outbox = int(await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")
            ) or 0)
    watch.harvest()
    return Sample(label, kills, time.monotonic() - started, _rss_mb(),
                  len(asyncio.all_tasks()), fds, sockets, db_open, db_busy, outbox, watch.count)


async def _until(
    condition: Callable[[], Awaitable[bool]], within: float, what: str, poll: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(poll)


# --- the run ---


async def run_soak(plan: SoakPlan, workdir: Path) -> SoakReport:
    universe = Universe.load()
    world = World(universe, random.Random(plan.seed))
    kills_file = workdir / "day.jsonl"
    lines = day_of_kills(world, plan, kills_file)
    url = f"sqlite+aiosqlite:///{workdir / 'killwatch.db'}"
    await upgrade(url)
    distances = Distances(universe)
    matcher = Matcher(distances)
    async with Database(url) as database:
        facade = Subscriptions(database, matcher, universe, ranges=distances)
        await facade.create_many(subscriptions_for(world, universe, plan))
    stored, wanted = expected_posts(lines, Enricher(universe), matcher)
    del lines, matcher

    settings = live_settings(
        url,
        # Battle mode stays off (no destination gets 10,000 kills in a window); its window
        # is compressed with the feed all the same, or it would hold a minute of kills.
        discord={"battle_threshold": 10_000, "battle_window_seconds": 60 / plan.speed},
        engine={"drain_timeout_seconds": 60, "status_interval_seconds": 5},
    )
    # Discord's limits run on the feed's time (see the module's docstring).
    budget = settings.discord.model_copy(update={"requests_per_second": 45 * plan.speed})
    settings = settings.model_copy(update={"discord": budget})
    discord = FakeDiscord(
        guilds=_guilds(plan),
        global_limit=Limit(50, 1.0 / plan.speed),
        message_limit=Limit(5, 5.0 / plan.speed),
        nonce_window=2.0,  # what a repeat after a lost answer needs, not the whole run
    )
    samples: list[Sample] = []
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    try:
        report = await _run(plan, url, settings, discord, kills_file, stored, wanted, samples)
    finally:
        logging.getLogger().removeHandler(errors)
    return replace(report, errors=tuple(errors.seen))


async def _run(
    plan: SoakPlan, url: str, settings: Settings, discord: FakeDiscord, kills_file: Path,
    stored: int, wanted: dict[int, list[int]], samples: list[Sample],
) -> SoakReport:
    async with discord:
        watch = _Watch(discord)
        samples.append(await _measure("before", 0, time.monotonic(), None, watch))

        def sources(_parts: object) -> list[Source]:
            replay = ReplaySource(kills_file, speed=plan.speed, max_gap=5.0, name="day")
            return [replay, _Idle()]

        layout = HarnessLayout(sources, {})
        async with serving(settings, url, discord, layout, stop_within=120):
            assert layout.engine is not None
            assert layout.parts is not None
            engine, database = layout.engine, layout.parts.database
            started = time.monotonic()
            samples.append(await _measure("start", 0, started, database, watch))
            marks = [round(plan.kills * n / plan.samples) for n in range(1, plan.samples + 1)]
            halfway = False
            while engine.stats.received < plan.kills:
                read = engine.stats.received
                if marks and read >= marks[0]:
                    marks.pop(0)
                    samples.append(await _measure(f"{read * 100 // plan.kills}%", read,
                                                  started, database, watch))
                if not halfway and read >= plan.kills // 2:
                    halfway = True
                    samples.append(await _measure("middle", read, started, database, watch))
                watch.harvest()
                await asyncio.sleep(0.25)
            feed_seconds = time.monotonic() - started

            async def posted_all() -> bool:
                watch.harvest()
                if engine.stats.stored < stored:
                    return False
                async with database.session() as session:
                    owed = await session.scalar(select(func.count()).select_from(OutboxRow)
                                                .where(OutboxRow.state == "pending"))
                return not owed

            await _until(posted_all, 600, "the outbox never drained")
            seconds = time.monotonic() - started
            samples.append(await _measure("end", engine.stats.received, started, database,
                                          watch))
            kills = engine.stats.stored
        # Stopped: what the engine, the bot and the store opened must be closed again. The
        # fake's server side of the bot's connections may take a moment to notice.
        before = samples[0]

        async def released() -> bool:
            fds, _ = _fds()
            return (len(asyncio.all_tasks()) <= before.tasks + 2
                    and fds <= before.fds + 3)

        with contextlib.suppress(TimeoutError):
            await _until(released, 10, "")
        samples.append(await _measure("stopped", kills, started, None, watch))
        rate_limited = sum(discord.rate_limited.values())
    return _report(plan, kills, wanted, watch, samples, feed_seconds, seconds, rate_limited)


def _report(
    plan: SoakPlan, kills: int, wanted: dict[int, list[int]], watch: _Watch,
    samples: list[Sample], feed_seconds: float, seconds: float, rate_limited: int,
) -> SoakReport:
    missing = duplicates = unexpected = out_of_order = 0
    for channel in set(wanted) | set(watch.posted):
        owed, got = wanted.get(channel, []), watch.posted.get(channel, [])
        counted = Counter(got)
        missing += len(set(owed) - set(got))
        duplicates += sum(n - 1 for n in counted.values())
        unexpected += len(set(got) - set(owed))
        if got != owed and sorted(got) == sorted(owed):
            out_of_order += 1
    return SoakReport(
        plan=plan, kills=kills, posts_expected=sum(map(len, wanted.values())),
        posts=watch.count, messages=watch.messages, missing=missing, duplicates=duplicates,
        unexpected=unexpected, out_of_order=out_of_order, samples=tuple(samples),
        feed_seconds=feed_seconds, seconds=seconds, rate_limited=rate_limited, errors=(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--guilds", type=int, default=50)
    parser.add_argument("--speed", type=float, default=SoakPlan().speed)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args(argv)
    plan = SoakPlan(hours=args.hours, subscriptions=args.subscriptions,
                    channels=args.channels, guilds=args.guilds, speed=args.speed,
                    seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="killwatch-soak-") as workdir:
        report = asyncio.run(run_soak(plan, Path(workdir)))
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
