"""The scale-out layout for real: `killwatch ingest` and two `killwatch bot` processes (shards
0 and 1 of 2) on local Redis and PostgreSQL, against a fake R2Z2 and a fake Discord.

`run_scale_out(plan, workdir, url)` migrates the PostgreSQL database at `url`, subscribes
channels of a server on each shard (and a member's DMs, which only the shard-0 process serves),
starts the three processes, publishes real fixture kills (fresh kill times) in bursts, and
SIGKILLs the shard-1 process while kills flow, restarting it a moment later while the ingester
keeps publishing. Once every kill is stored, each group has read the stream to its end and
nothing is owed, all three are stopped with SIGTERM; then what the fake Discord shows is
compared with what the subscriptions should have received (`tests.reliability.accounting`).

Run it by hand: ``python -m tests.scale.scale_harness --kills 1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as redis
from sqlalchemy import URL, text

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.sources.r2z2 import cursor_key
from engine.store.database import Database
from engine.store.repositories import StateRepository
from engine.subscriptions import Subscriptions
from tests.fakes.discord import Channel, FakeDiscord, Guild, Limit, Member
from tests.fakes.discord_client import FakeDiscordThread
from tests.fakes.r2z2 import SEQUENCE_JSON, FakeR2Z2, fixture_kills
from tests.fakes.threaded import FakeThread
from tests.reliability.accounting import (
    Delivered,
    Row,
    Seen,
    expected_by_destination,
    read_messages,
    tally,
)
from tests.reliability.harness import log_errors

__all__ = ["FEEDS", "Feed", "ScalePlan", "ScaleReport", "run_scale_out"]

REPO = Path(__file__).resolve().parents[2]
SHARDS = 2
# Discord puts a guild on shard (guild_id >> 22) % shard_count.
GUILD_0, GUILD_1 = 7400 << 22, 7401 << 22
OWNER, PILOT = 7408, 7409
A_FULL, A_COMPACT, B_LINKS, B_ALL = 7411, 7412, 7421, 7422
ID_STRIDE = 200_000_000  # each cycle through the fixtures gets ids this far apart
NO_BATTLES = 10_000  # battle summaries off: every kill is a post of its own
_LOADED = re.compile(r"loaded (\d+) subscriptions into the matcher")


def _value(envelope: Mapping[str, Any]) -> float:
    return float((envelope.get("zkb") or {}).get("totalValue") or 0.0)


def _attackers(envelope: Mapping[str, Any]) -> int:
    return len(envelope["esi"]["attackers"])


@dataclass(frozen=True, slots=True)
class Feed:
    """One subscription: its server (None: DMs), where, how, its filter and the same in Python."""

    guild: int | None
    destination: str
    text: str
    style: str
    plain: Callable[[Mapping[str, Any]], bool]


FEEDS: tuple[Feed, ...] = (
    Feed(GUILD_0, f"channel:{A_FULL}", "value >= 100m", "full", lambda e: _value(e) >= 100e6),
    Feed(GUILD_0, f"channel:{A_COMPACT}", "attackers >= 3", "compact",
         lambda e: _attackers(e) >= 3),
    Feed(GUILD_1, f"channel:{B_LINKS}", "attackers < 3", "link", lambda e: _attackers(e) < 3),
    Feed(GUILD_1, f"channel:{B_ALL}", "attackers >= 1", "compact", lambda e: True),
    Feed(None, f"user:{PILOT}", "value >= 1b", "full", lambda e: _value(e) >= 1e9),
)


@dataclass(frozen=True, slots=True)
class ScalePlan:
    kills: int = 300
    seed: int = 8
    burst: tuple[int, int] = (5, 25)
    publish_seconds: float = 15.0
    # The shard-1 process is killed once this share of the kills is published, and started
    # again this long after.
    kill_at: float = 0.35
    down_seconds: float = 1.5
    drain_seconds: float = 4.0
    shutdown_limit: float = 20.0
    settle_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class ScaleReport:
    plan: ScalePlan
    published: int
    stored: int
    stream_entries: int
    delivered: Delivered
    posted_before_kill: int  # posts in shard 1's channels when it was killed
    exits: dict[str, int]
    loaded: dict[str, int]  # per run of a bot process: the subscriptions it matched
    nonce_dedupes: int
    log_errors: tuple[str, ...]
    seconds: float
    logs: Path

    def lines(self) -> list[str]:
        d = self.delivered
        out = [
            f"scale-out: {self.published} kills published, {self.stored} stored, "
            f"{self.stream_entries} stream entries, {self.seconds:.0f} s; the shard-1 process "
            f"SIGKILLed after {self.posted_before_kill} of its posts and restarted",
        ]
        for row in d.destinations:
            out.append(
                f"  {row.destination:14s} expected {row.expected:4d}  posted {row.posted:4d}  "
                f"missing {row.missing}  duplicate posts {row.duplicate_posts}  unexpected "
                f"{len(row.unexpected)}  store: not sent {len(row.not_sent)}, not shown "
                f"{row.not_shown}"
            )
        out += [
            f"expected {d.expected}, delivered {d.delivered}, missing {d.missing}, duplicates "
            f"{d.duplicate_posts}, unexpected {d.unexpected}, store faults {d.store_faults} "
            f"({self.nonce_dedupes} repeated posts recognised by their nonce)",
            f"subscriptions loaded: {self.loaded}; exit codes: {self.exits}",
        ]
        if self.log_errors:
            out.append(f"errors logged ({len(self.log_errors)}), first: {self.log_errors[:5]}")
        out.append(f"logs: {self.logs}")
        return out


@dataclass
class _Processes:
    """The ingester and the bot processes: started, restarted, stopped; their logs."""

    workdir: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> None:
        number = self.starts[name] = self.starts.get(name, 0) + 1
        with (self.workdir / "logs" / f"{name}-{number}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "bot", *args], cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.kill()
        self.exits[f"{name}-{self.starts[name]}"] = process.wait(timeout=30)

    def check(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited {process.returncode} on its own; see "
                                   f"{self.workdir / 'logs'}")

    def stop_all(self, limit: float) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for name, process in list(self.running.items()):
            try:
                code = process.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            self.exits[f"{name}-{self.starts[name]}"] = code
        self.running.clear()

    def kill_all(self) -> None:
        for process in self.running.values():
            process.kill()
            process.wait()
        self.running.clear()


def run_scale_out(plan: ScalePlan, workdir: Path, url: URL) -> ScaleReport:
    """The whole scenario on the (empty) PostgreSQL database at `url`; the report."""
    started = time.monotonic()
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    stream = f"killwatch-test:{uuid.uuid4().hex[:12]}"
    discord_fake = FakeDiscord(guilds=_guilds(), message_limit=Limit(50, 1.0))
    feed_fake = FakeR2Z2()
    try:
        with FakeThread(feed_fake, name="fake-r2z2") as feed, \
                FakeDiscordThread(discord_fake) as served:
            _write_config(workdir, plan, feed_fake.url, stream)
            processes = _Processes(workdir, _environment(discord_fake.environment(), url))
            try:
                report = _scenario(plan, workdir, url, stream, feed, served, processes)
            finally:
                processes.kill_all()
    finally:
        asyncio.run(_delete_stream(stream))
    return ScaleReport(**report, seconds=time.monotonic() - started, logs=workdir / "logs")


def _scenario(
    plan: ScalePlan, workdir: Path, url: URL, stream: str, feed: FakeThread[FakeR2Z2],
    served: FakeDiscordThread, processes: _Processes,
) -> dict[str, Any]:
    migrated = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=workdir,
                              env=processes.env, capture_output=True, check=False)
    if migrated.returncode != 0:
        raise RuntimeError(f"migrate failed: {migrated.stderr.decode()[-2000:]}")
    asyncio.run(_subscribe(url))
    discord_fake, feed_fake = served.fake, feed.fake

    for shard in range(SHARDS):
        processes.start(f"bot{shard}", "bot", "--shards", str(shard), "--shard-count",
                        str(SHARDS))
    _until(lambda: served.call(lambda: discord_fake.connected) == SHARDS, 90,
           "the bot processes never connected", processes)
    processes.start("ingest", "ingest")
    _until(lambda: feed.call(lambda: feed_fake.requests_for(SEQUENCE_JSON)) > 0, 90,
           "the ingester never read sequence.json", processes)

    # The ingester starts at the feed's head: publish from now on.
    publisher = feed.submit(_publish(feed_fake, plan))
    _until(lambda: feed.call(lambda: len(feed_fake.payloads)) >= plan.kills * plan.kill_at,
           120, "the publisher stalled", processes)
    _until(lambda: served.call(lambda: _posts(discord_fake, GUILD_1)) > 0, 60,
           "the shard-1 process never posted", processes)
    posted_before_kill = served.call(lambda: _posts(discord_fake, GUILD_1))
    processes.kill("bot1")
    time.sleep(plan.down_seconds)  # the ingester goes on publishing meanwhile
    processes.start("bot1", "bot", "--shards", "1", "--shard-count", str(SHARDS))

    published = publisher.result(timeout=600)
    head = feed.call(lambda: feed_fake.head)
    _until(lambda: asyncio.run(_all_done(url, head, stream)), 180,
           "the processes never finished their work", processes)
    _quiet(served, discord_fake, plan.settle_seconds, processes)
    processes.stop_all(plan.shutdown_limit)

    shown = served.call(lambda: _shown(discord_fake))
    payloads = feed.call(lambda: [feed_fake.payloads[s] for s in sorted(feed_fake.payloads)])
    expected, rows, stored, entries = asyncio.run(_results(url, payloads, stream))
    return {
        "plan": plan,
        "published": published,
        "stored": stored,
        "stream_entries": entries,
        "delivered": tally(expected, shown, rows, NO_BATTLES),
        "posted_before_kill": posted_before_kill,
        "exits": dict(processes.exits),
        "loaded": _loaded(workdir / "logs"),
        "nonce_dedupes": served.call(lambda: discord_fake.nonce_dedupes),
        "log_errors": tuple(log_errors(workdir / "logs", "*.log")),
    }


# --- the world ---


def _guilds() -> tuple[Guild, ...]:
    members = (Member(OWNER, "owner"), Member(PILOT, "pilot"))
    return (
        Guild(GUILD_0, "Shard Zero", channels=(Channel(A_FULL, "kills-full"),
              Channel(A_COMPACT, "kills-compact")), members=members, owner_id=OWNER),
        Guild(GUILD_1, "Shard One", channels=(Channel(B_LINKS, "kills-links"),
              Channel(B_ALL, "kills-all")), members=members[:1], owner_id=OWNER),
    )


def _environment(discord: Mapping[str, str], url: URL) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KILLWATCH_") and k != "DISCORD_TOKEN"}
    env.update(discord)
    env["PYTHONPATH"] = str(REPO)
    env["KILLWATCH_ESI__ENABLED"] = "false"
    env["KILLWATCH_DATABASE__URL"] = url.render_as_string(hide_password=False)
    return env


def _write_config(workdir: Path, plan: ScalePlan, feed_url: str, stream: str) -> None:
    (workdir / "config.toml").write_text(
        "[discord]\n"
        f"battle_threshold = {NO_BATTLES}\n"
        # Two processes share the bot's global budget of 50 requests a second.
        "requests_per_second = 20\n"
        "[engine]\n"
        f"drain_timeout_seconds = {plan.drain_seconds}\n"
        "status_interval_seconds = 2\n"
        "[logging]\nlevel = \"INFO\"\n"
        "[scale]\n"
        f'stream = "{stream}"\n'
        "[[sources]]\n"
        'kind = "r2z2"\nname = "r2z2"\n'
        f'url = "{feed_url}"\n'
        "requests_per_second = 20\npoll_wait_seconds = 0.05\nmax_404s = 5\nconcurrency = 8\n"
    )


async def _subscribe(url: URL) -> None:
    universe = Universe.load()
    distances = Distances(universe)
    async with Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        for feed in FEEDS:
            owner = PILOT if feed.guild is None else OWNER
            await facade.create(feed.destination, feed.guild, owner, text=feed.text,
                                style=feed.style)


# --- the feed ---


def _kills(count: int) -> Iterator[dict[str, Any]]:
    lines = fixture_kills()
    for index in range(count):
        cycle, position = divmod(index, len(lines))
        fresh = copy.deepcopy(lines[position])
        fresh["killmail_id"] += cycle * ID_STRIDE
        fresh["esi"]["killmail_id"] = fresh["killmail_id"]
        yield fresh


async def _publish(fake: FakeR2Z2, plan: ScalePlan) -> int:
    """`plan.kills` in bursts over about `plan.publish_seconds`, each kill a minute old or
    less when it appears; how many."""
    rng = random.Random(plan.seed)
    kills = _kills(plan.kills)
    published = 0
    pause = plan.publish_seconds / (plan.kills / (sum(plan.burst) / 2))
    while published < plan.kills:
        size = min(rng.randint(*plan.burst), plan.kills - published)
        now = datetime.now(UTC)
        for line in (next(kills) for _ in range(size)):
            when = now - timedelta(seconds=rng.uniform(5, 60))
            line["esi"]["killmail_time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            fake.publish(line)
        published += size
        await asyncio.sleep(rng.uniform(0.5, 1.5) * pause)
    return published


# --- watching ---


def _posts(fake: FakeDiscord, guild: int) -> int:
    channels = [int(f.destination.partition(":")[2]) for f in FEEDS if f.guild == guild]
    return sum(len(fake.messages(channel)) for channel in channels)


def _until(condition: Callable[[], bool], within: float, failure: str,
           processes: _Processes) -> None:
    deadline = time.monotonic() + within
    while not condition():
        processes.check()
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.1)


def _quiet(served: FakeDiscordThread, fake: FakeDiscord, quiet: float,
           processes: _Processes) -> None:
    """Until Discord has had no request for `quiet` seconds."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        count = served.call(lambda: len(fake.requests))
        if count != last:
            last, since = count, time.monotonic()
        processes.check()
        time.sleep(0.1)


async def _all_done(url: URL, head: int, stream: str) -> bool:
    """Every kill up to `head` stored, every group at the end of the stream with nothing
    pending, and no post owed."""
    async with Database(url) as database, database.session() as session:
        cursor = await StateRepository(session).get(cursor_key("r2z2"))
        owed = (await session.execute(
            text("SELECT count(*) FROM outbox WHERE state = 'pending'"))).scalar_one()
    if cursor is None or int(cursor) < head or owed:
        return False
    async with _redis() as client:
        groups = await client.xinfo_groups(stream) if await client.exists(stream) else []
    return len(groups) == SHARDS and all(g["pending"] == 0 and g["lag"] == 0 for g in groups)


def _shown(fake: FakeDiscord) -> dict[str, tuple[Seen, ...]]:
    shown = {}
    for feed in FEEDS:
        kind, _, ident = feed.destination.partition(":")
        messages = fake.dm_messages(int(ident)) if kind == "user" else fake.messages(int(ident))
        shown[feed.destination] = read_messages(messages)
    return shown


async def _results(
    url: URL, payloads: Sequence[bytes], stream: str
) -> tuple[dict[str, set[int]], list[Row], int, int]:
    """What should have been posted, the outbox rows of the subscribers, how many kills were
    stored, and how many entries the stream holds."""
    universe = Universe.load()
    distances = Distances(universe)
    matcher = Matcher(distances)
    async with Database(url) as database:
        await Subscriptions(database, matcher, universe, ranges=distances).load()
        async with database.session() as session:
            found = (await session.execute(text(
                "SELECT destination, killmail_id, state, message_id FROM outbox"))).all()
            stored = (await session.execute(text("SELECT count(*) FROM killmails"))).scalar_one()
    checks = {feed.destination: feed.plain for feed in FEEDS}
    expected = expected_by_destination(payloads, Enricher(universe), matcher, checks)
    rows = [Row(*row) for row in found if not str(row[0]).startswith("stream:")]
    unsent = [row for row in found if str(row[0]).startswith("stream:") and row[2] != "sent"]
    if unsent:
        raise AssertionError(f"{len(unsent)} kills were never published to the stream")
    async with _redis() as client:
        entries = int(await client.xlen(stream))
    return expected, rows, int(stored), entries


# --- Redis ---

def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ.get("KILLWATCH_TEST_REDIS_URL",
                                               "redis://127.0.0.1:6379/0"))


async def _delete_stream(stream: str) -> None:
    async with _redis() as client:
        await client.delete(stream)


def _loaded(logs: Path) -> dict[str, int]:
    found = {}
    for path in sorted(logs.glob("bot*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if (hit := _LOADED.search(line)) is not None:
                found[path.stem] = int(hit.group(1))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    from tests.store.support import fresh_postgres_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    plan = ScalePlan(kills=args.kills, seed=args.seed,
                     publish_seconds=max(15.0, args.kills / 20))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="killwatch-scale-"))

    async def on_a_fresh_database() -> ScaleReport:
        async with fresh_postgres_database() as url:
            return await asyncio.to_thread(run_scale_out, plan, workdir, url)

    report = asyncio.run(on_a_fresh_database())
    print("\n".join(report.lines()))
    d = report.delivered
    return 0 if d.missing == d.duplicate_posts == d.unexpected == d.store_faults == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
