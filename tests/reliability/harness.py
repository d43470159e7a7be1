"""Crash and restart: Killwatch as a real process, killed at random moments, must lose nothing
and post nothing twice (issue 9).

`run_chaos(plan, workdir)` starts a fake R2Z2 and a fake Discord, each on its own thread, makes
a few subscriptions (three channels in three post styles and one DM, matching most kills), and
runs ``python -m bot run`` against them with ESI off and SQLite in `workdir`. While a publisher
puts real fixture kills on the feed in bursts (fresh ids and kill times, so the max-age rule
holds none back), the process is signalled at moments picked by a seeded RNG — on a killmail
fetch, a few ms after one (the kill is being stored), on a post or an edit of a battle summary
before or after Discord made it, or after a random delay — and started again each time: first
`sigkills` SIGKILLs, then `sigterms` SIGTERMs (each must end the process within the drain time,
exit 0). A last run catches up and is stopped with SIGTERM; then what the fake Discord shows is
compared with what the subscriptions should have received (see `tests.reliability.accounting`).

Run it by hand: ``python -m tests.reliability.harness --kills 1000 --sigkills 20 --sigterms 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import orjson

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.sources.r2z2 import cursor_key
from engine.store.database import Database
from engine.subscriptions import Subscriptions
from tests.fakes.discord import Channel, Guild, Member
from tests.fakes.discord_client import FakeDiscordThread
from tests.fakes.r2z2 import SEQUENCE_JSON, fixture_kills
from tests.fakes.threaded import FakeThread
from tests.reliability.accounting import (
    Delivered,
    Row,
    Seen,
    expected_by_destination,
    read_messages,
    tally,
)
from tests.reliability.crashes import EVENTS, Crasher, HookedDiscord, HookedR2Z2, Moment, Strike

__all__ = ["FEEDS", "ChaosPlan", "ChaosReport", "Feed", "run_chaos"]

REPO = Path(__file__).resolve().parents[2]
GUILD, OWNER, PILOT = 7300, 7308, 7309
FULL, COMPACT, LINKS = 7301, 7302, 7303
# Each cycle through the fixtures gets ids this far apart (real ids are below 2e8).
ID_STRIDE = 200_000_000


def _value(envelope: Mapping[str, Any]) -> float:
    return float((envelope.get("zkb") or {}).get("totalValue") or 0.0)


def _attackers(envelope: Mapping[str, Any]) -> int:
    return len(envelope["esi"]["attackers"])


@dataclass(frozen=True, slots=True)
class Feed:
    """One subscription: where, how it posts, its filter, and the same filter in Python."""

    destination: str
    text: str
    style: str
    plain: Callable[[Mapping[str, Any]], bool]


FEEDS: tuple[Feed, ...] = (
    Feed(f"channel:{FULL}", "value >= 100m", "full", lambda e: _value(e) >= 100e6),
    Feed(f"channel:{COMPACT}", "attackers >= 3", "compact", lambda e: _attackers(e) >= 3),
    Feed(f"channel:{LINKS}", "attackers < 3", "link", lambda e: _attackers(e) < 3),
    Feed(f"user:{PILOT}", "value >= 1b", "full", lambda e: _value(e) >= 1e9),
)


@dataclass(frozen=True, slots=True)
class ChaosPlan:
    kills: int = 1000
    sigkills: int = 20
    sigterms: int = 5
    seed: int = 9
    # Battle mode kicks in after this many kills to one destination (within the window).
    battle_threshold: int = 5
    battle_edit_seconds: float = 1.0
    battle_quiet_seconds: float = 1.5
    # The publisher: bursts of kills, pauses between them, spread over about this long
    # (None: 4.5 s per signal, about the life of one run).
    burst: tuple[int, int] = (5, 40)
    publish_seconds: float | None = None
    # Seconds a moment may wait for its event before the signal is sent anyway.
    patience: float = 5.0
    # A SIGTERM must end the process within this (the drain timeout is configured below it).
    shutdown_limit: float = 8.0
    drain_seconds: float = 4.0
    # The end: once every kill is stored and no post owed, Discord quiet this long.
    settle_seconds: float = 3.0


@dataclass(frozen=True, slots=True)
class ChaosReport:
    plan: ChaosPlan
    published: int
    strikes: tuple[Strike, ...]
    shutdowns: tuple[float, ...]  # seconds from SIGTERM to exit, the last run's included
    exits: tuple[int, ...]  # every run's exit code, in order
    unexpected_exits: tuple[str, ...]  # runs that ended before they were signalled
    delivered: Delivered
    nonce_dedupes: int
    log_errors: tuple[str, ...]
    seconds: float
    logs: Path

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing posted twice or where it should not be, every run ended as
        it was told to, and each SIGTERM within the limit."""
        d = self.delivered
        return (
            d.missing == d.duplicate_posts == d.unexpected == d.store_faults == 0
            and not self.unexpected_exits
            and all(t <= self.plan.shutdown_limit for t in self.shutdowns)
        )

    @property
    def sigkills(self) -> int:
        return sum(1 for s in self.strikes if s.signal == "SIGKILL")

    @property
    def sigterms(self) -> int:
        return sum(1 for s in self.strikes if s.signal == "SIGTERM")

    def lines(self) -> list[str]:
        d = self.delivered
        plan = self.plan
        out = [
            f"chaos: seed {plan.seed}, {self.published} kills published, battle threshold "
            f"{plan.battle_threshold}, {self.seconds:.0f} s",
        ]
        out += [f"  {_strike_text(s)}" for s in self.strikes]
        moments = sorted({s.moment.event for s in self.strikes if s.trigger == "event"})
        out.append(
            f"crashes survived: {self.sigkills} SIGKILL, {self.sigterms} SIGTERM "
            f"(moments hit: {', '.join(moments)})"
        )
        if self.shutdowns:
            out.append(
                f"SIGTERM shutdown: max {max(self.shutdowns):.1f} s, mean "
                f"{mean(self.shutdowns):.1f} s, exit codes {sorted(set(self.exits))}"
            )
        for row in d.destinations:
            out.append(
                f"  {row.destination:14s} expected {row.expected:5d}  posted {row.posted:5d}  "
                f"summaries {row.summaries:3d} counting {row.folded_shown:5d} of "
                f"{row.folded_expected:5d}  missing {row.missing}  duplicate posts "
                f"{row.duplicate_posts}  recounted {row.recounted}  unexpected "
                f"{len(row.unexpected)}  store: not sent {len(row.not_sent)}, not shown "
                f"{row.not_shown}"
            )
        out += [
            f"expected: {d.expected}",
            f"delivered: {d.delivered} ({d.posted} posted, {d.folded} in battle summaries; "
            f"{self.nonce_dedupes} repeated posts recognised by their nonce)",
            f"missing: {d.missing}",
            f"duplicates: {d.duplicate_posts}",
            f"recounted in battle summaries: {d.recounted}",
            f"store check (sent but not shown, or expected but not sent): {d.store_faults}",
        ]
        if d.unexpected:
            out.append(f"unexpected: {d.unexpected}")
        if self.unexpected_exits:
            out.append(f"runs that died on their own: {list(self.unexpected_exits)}")
        if self.log_errors:
            out.append(f"errors logged ({len(self.log_errors)}), first: {self.log_errors[:5]}")
        out.append(f"logs: {self.logs}")
        return out


@dataclass
class _Runs:
    """The processes started so far and how each ended."""

    workdir: Path
    env: dict[str, str]
    exits: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shutdowns: list[float] = field(default_factory=list)

    def spawn(self) -> tuple[subprocess.Popen[bytes], float]:
        number = len(self.exits) + 1
        with (self.workdir / "logs" / f"run-{number:02d}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )
        return process, time.monotonic()


def run_chaos(
    plan: ChaosPlan, workdir: Path, *, say: Callable[[str], None] = print
) -> ChaosReport:
    """Run the whole scenario in `workdir` (logs in workdir/logs); the report at the end."""
    rng = random.Random(plan.seed)
    started = time.monotonic()
    crasher = Crasher(started)
    feed_fake = HookedR2Z2()
    feed_fake.hook = crasher.hook
    discord_fake = HookedDiscord(guilds=(_guild(),))
    discord_fake.hook = crasher.hook
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    database = workdir / "data" / "killwatch.db"
    url = f"sqlite+aiosqlite:///{database}"
    with FakeThread(feed_fake, name="fake-r2z2") as feed, \
            FakeDiscordThread(discord_fake) as served:
        _write_config(workdir, plan, feed_fake.url)
        runs = _Runs(workdir, _environment(discord_fake.environment(), url))
        migrated = subprocess.run(
            [sys.executable, "-m", "bot", "migrate"], cwd=workdir, env=runs.env,
            capture_output=True, check=False,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stderr.decode()[-2000:]}")
        asyncio.run(_subscribe(url))

        publisher: Future[int] | None = None
        signals = [signal.SIGKILL] * plan.sigkills + [signal.SIGTERM] * plan.sigterms
        moments = _moments(rng, signals)
        for number, (signum, moment) in enumerate(zip(signals, moments, strict=True), 1):
            engine_started = _next_head_read(feed, feed_fake)
            process, spawned = runs.spawn()
            if signum == signal.SIGTERM or publisher is None:
                # Until the engine runs: a SIGTERM while Python is still importing just ends
                # the process (-15), with nothing in flight.
                _until(engine_started, 60, "the bot never read sequence.json", process)
            if publisher is None:
                # The first run starts at the feed's head: publish once it has read it, and
                # strike once a kill is stored (its first post), or the restart would start at
                # the head again and skip what was published in between.
                publisher = feed.submit(_publish(feed_fake, plan))
                _until(lambda: served.call(lambda: len(discord_fake.all_messages())) > 0,
                       60, "the first kill was never posted", process)
            crasher.arm(process, moment, signum, number=number, spawned=spawned)
            if not crasher.wait(plan.patience):
                crasher.fire_now()
            crasher.wait(10)
            _finish(process, signum, crasher.sent_at, plan, runs)
            say(_strike_line(crasher.strikes[-1], runs))
            # Requests the dead process had sent are still being answered: let them be, or
            # the next run's moment would count them.
            time.sleep(0.3)

        # The last run: it reads the feed to its end and posts what it owes, then SIGTERM.
        process, _ = runs.spawn()
        assert publisher is not None
        published = publisher.result(timeout=600)
        head = feed.call(lambda: feed_fake.head)
        _until(lambda: feed.call(lambda: feed_fake.requests_for(head + 1)) > 0, 120,
               "the bot never caught up with the feed", process)
        quiet = max(plan.settle_seconds, plan.battle_quiet_seconds + 1.0)
        _settle(served, discord_fake, quiet, database, head, process)
        process.send_signal(signal.SIGTERM)
        _finish(process, signal.SIGTERM, time.monotonic(), plan, runs)

        shown = served.call(lambda: _shown(discord_fake))
        dump = served.call(lambda: _dump(discord_fake))
        (workdir / "logs" / "discord.json").write_bytes(
            orjson.dumps(dump, option=orjson.OPT_INDENT_2)
        )
        payloads = feed.call(lambda: [feed_fake.payloads[s] for s in sorted(feed_fake.payloads)])
        dedupes = served.call(lambda: discord_fake.nonce_dedupes)
    expected = asyncio.run(_expected(url, payloads))
    rows = _outbox(database)
    return ChaosReport(
        plan=plan,
        published=published,
        strikes=tuple(crasher.strikes),
        shutdowns=tuple(runs.shutdowns),
        exits=tuple(runs.exits),
        unexpected_exits=tuple(runs.unexpected),
        delivered=tally(expected, shown, rows, plan.battle_threshold),
        nonce_dedupes=dedupes,
        log_errors=tuple(log_errors(workdir / "logs", "run-*.log")),
        seconds=time.monotonic() - started,
        logs=workdir / "logs",
    )


# --- the world ---


def _guild() -> Guild:
    channels = (Channel(FULL, "kills-full"), Channel(COMPACT, "kills-compact"),
                Channel(LINKS, "kills-links"))
    members = (Member(OWNER, "owner"), Member(PILOT, "pilot"))
    return Guild(GUILD, "Chaos Alliance", channels=channels, members=members, owner_id=OWNER)


def _environment(discord: Mapping[str, str], url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KILLWATCH_") and k != "DISCORD_TOKEN"}
    env.update(discord)
    env["PYTHONPATH"] = str(REPO)
    env["KILLWATCH_ESI__ENABLED"] = "false"
    env["KILLWATCH_DATABASE__URL"] = url
    return env


def _write_config(workdir: Path, plan: ChaosPlan, feed_url: str) -> None:
    (workdir / "config.toml").write_text(
        "[discord]\n"
        f"test_guild_id = {GUILD}\n"
        f"battle_threshold = {plan.battle_threshold}\n"
        # A long window: a battle starts after exactly `threshold` single posts of a run.
        "battle_window_seconds = 3600\n"
        f"battle_edit_seconds = {plan.battle_edit_seconds}\n"
        f"battle_quiet_seconds = {plan.battle_quiet_seconds}\n"
        "[engine]\n"
        f"drain_timeout_seconds = {plan.drain_seconds}\n"
        "status_interval_seconds = 2\n"
        "[logging]\nlevel = \"INFO\"\n"
        "[[sources]]\n"
        'kind = "r2z2"\nname = "r2z2"\n'
        f'url = "{feed_url}"\n'
        "requests_per_second = 20\npoll_wait_seconds = 0.05\nmax_404s = 5\nconcurrency = 8\n"
    )


async def _subscribe(url: str) -> None:
    universe = Universe.load()
    distances = Distances(universe)
    async with Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        for feed in FEEDS:
            kind, _, ident = feed.destination.partition(":")
            if kind == "user":
                await facade.create(feed.destination, None, int(ident), text=feed.text,
                                    style=feed.style)
            else:
                await facade.create(feed.destination, GUILD, OWNER, text=feed.text,
                                    style=feed.style)


async def _expected(url: str, payloads: Sequence[bytes]) -> dict[str, set[int]]:
    universe = Universe.load()
    distances = Distances(universe)
    matcher = Matcher(distances)
    async with Database(url) as database:
        facade = Subscriptions(database, matcher, universe, ranges=distances)
        await facade.load()
    checks = {feed.destination: feed.plain for feed in FEEDS}
    return expected_by_destination(payloads, Enricher(universe), matcher, checks)


# --- the feed ---


def _kills(count: int) -> Iterator[dict[str, Any]]:
    """`count` fixture kills, cycling, each cycle under new killmail ids."""
    lines = fixture_kills()
    for index in range(count):
        cycle, position = divmod(index, len(lines))
        line = lines[position]
        fresh = copy.deepcopy(line)
        fresh["killmail_id"] = line["killmail_id"] + cycle * ID_STRIDE
        fresh["esi"]["killmail_id"] = fresh["killmail_id"]
        yield fresh


async def _publish(fake: HookedR2Z2, plan: ChaosPlan) -> int:
    """Publish `plan.kills` in bursts, each kill timed just before it appears; how many."""
    rng = random.Random(plan.seed + 1)
    kills = _kills(plan.kills)
    published = 0
    spread = plan.publish_seconds
    if spread is None:
        spread = 4.5 * (plan.sigkills + plan.sigterms)
    bursts = plan.kills / mean(plan.burst)
    pause = max(spread / bursts, 0.3)
    while published < plan.kills:
        size = min(rng.randint(*plan.burst), plan.kills - published)
        now = datetime.now(UTC)
        for line in (next(kills) for _ in range(size)):
            when = now - timedelta(seconds=rng.uniform(5, 60))
            line["esi"]["killmail_time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            fake.publish(line)
        published += size
        await asyncio.sleep(rng.uniform(0.2, 2 * pause - 0.2))
    return published


# --- moments and processes ---


def _moments(rng: random.Random, signals: Sequence[signal.Signals]) -> list[Moment]:
    """Every kind of moment in turn (shuffled each round); SIGTERMs only on real work."""
    chosen: list[Moment] = []
    rounds: list[str] = []
    for signum in signals:
        kinds = [e for e in EVENTS if signum == signal.SIGKILL or e != "timer"]
        if not rounds or not any(k in kinds for k in rounds):
            rounds = rng.sample(kinds, len(kinds))
        event = next(k for k in rounds if k in kinds)
        rounds.remove(event)
        if event == "timer":
            chosen.append(Moment("timer", delay=rng.uniform(0.2, 5.0)))
        else:
            delay = rng.uniform(0.001, 0.05) if event == "store" else 0.0
            chosen.append(Moment(event, rng.randint(1, 12), delay))
    return chosen


def _finish(
    process: subprocess.Popen[bytes], signum: signal.Signals, sent_at: float, plan: ChaosPlan,
    runs: _Runs,
) -> None:
    """Wait for the signalled process; note how (and for SIGTERM how fast) it ended."""
    try:
        code = process.wait(timeout=plan.shutdown_limit + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
        runs.unexpected.append(f"run {len(runs.exits) + 1} hung after {signum.name}")
    runs.exits.append(code)
    if signum == signal.SIGTERM:
        runs.shutdowns.append(time.monotonic() - sent_at)
        if code != 0:
            runs.unexpected.append(f"run {len(runs.exits)} exited {code} after SIGTERM")
    elif code != -signal.SIGKILL:
        runs.unexpected.append(f"run {len(runs.exits)} exited {code} before its SIGKILL")


def _strike_text(strike: Strike) -> str:
    wall = datetime.fromtimestamp(strike.wall).strftime("%H:%M:%S.%f")[:-3]
    return (f"{strike.number:2d} {strike.signal:7s} at {strike.at:6.1f} s ({wall}), up "
            f"{strike.uptime:5.1f} s: {strike.moment!s:18s} {strike.trigger:8s} {strike.detail}")


def _strike_line(strike: Strike, runs: _Runs) -> str:
    took = f", shut down in {runs.shutdowns[-1]:.1f} s" if strike.signal == "SIGTERM" else ""
    return f"{_strike_text(strike)}, exit {runs.exits[-1]}{took}"


def _next_head_read(feed: FakeThread[HookedR2Z2], fake: HookedR2Z2) -> Callable[[], bool]:
    """True once sequence.json has been read again: a run's engine has started."""
    seen = feed.call(lambda: fake.requests_for(SEQUENCE_JSON))
    return lambda: feed.call(lambda: fake.requests_for(SEQUENCE_JSON)) > seen


def _until(
    condition: Callable[[], bool], within: float, failure: str,
    process: subprocess.Popen[bytes],
) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if process.poll() is not None:
            raise RuntimeError(f"{failure}: the process exited {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.05)


def _settle(
    served: FakeDiscordThread, fake: HookedDiscord, quiet: float, database: Path, head: int,
    process: subprocess.Popen[bytes],
) -> None:
    """Until the store holds every kill up to `head` and owes no post, and then Discord has
    had no request for `quiet` seconds (the battle summaries' closing edits)."""
    last, since = -1, time.monotonic()
    deadline = since + 300
    while not _all_done(database, head) or time.monotonic() - since < quiet:
        count = served.call(lambda: len(fake.requests))
        if count != last:
            last, since = count, time.monotonic()
        if process.poll() is not None:
            raise RuntimeError(f"the last run exited {process.returncode} before the end")
        if time.monotonic() > deadline:
            raise RuntimeError("the last run never finished its work")
        time.sleep(0.1)


def _all_done(database: Path, head: int) -> bool:
    """Read beside the running bot (SQLite in WAL mode lets a reader in)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        stored = db.execute(
            "SELECT value FROM state WHERE key = ?", (cursor_key("r2z2"),)
        ).fetchone()
        owed = db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
    return stored is not None and int(stored[0]) >= head and owed[0] == 0


def _shown(fake: HookedDiscord) -> dict[str, tuple[Seen, ...]]:
    shown = {}
    for feed in FEEDS:
        kind, _, ident = feed.destination.partition(":")
        messages = fake.dm_messages(int(ident)) if kind == "user" else fake.messages(int(ident))
        shown[feed.destination] = read_messages(messages)
    return shown


def _dump(fake: HookedDiscord) -> dict[str, list[dict[str, Any]]]:
    """What each destination shows, and every request, for reading after a failed run."""
    offset = time.time() - fake.now()  # request times are on the fake's clock
    dump: dict[str, list[dict[str, Any]]] = {
        "requests": [
            {"at": r.at + offset, "method": r.method, "path": r.path, "status": r.status,
             "nonce": (r.json or {}).get("nonce") if isinstance(r.json, dict) else None}
            for r in fake.requests
        ]
    }
    for feed in FEEDS:
        kind, _, ident = feed.destination.partition(":")
        messages = fake.dm_messages(int(ident)) if kind == "user" else fake.messages(int(ident))
        dump[feed.destination] = [
            {
                "id": m.id,
                "at": m.created_wall,
                "nonce": m.nonce,
                "content": m.content,
                "edits": m.edits,
                "embeds": [
                    {k: e.get(k) for k in ("title", "url", "description", "footer")}
                    for e in m.embeds
                ],
            }
            for m in messages
        ]
    return dump


def _outbox(path: Path) -> list[Row]:
    """The bot's outbox rows, read straight from its SQLite file once it has stopped."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        found = connection.execute(
            "SELECT destination, killmail_id, state, message_id FROM outbox"
        ).fetchall()
    return [Row(*row) for row in found]


def log_errors(logs: Path, pattern: str) -> list[str]:
    """The error lines and tracebacks in the logs named by `pattern`, one line each."""
    found = []
    for path in sorted(logs.glob(pattern)):
        for line in path.read_text(errors="replace").splitlines():
            if " ERROR " in line or "Traceback" in line or " CRITICAL " in line:
                found.append(f"{path.name}: {line.strip()[:200]}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--sigkills", type=int, default=20)
    parser.add_argument("--sigterms", type=int, default=5)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    plan = ChaosPlan(kills=args.kills, sigkills=args.sigkills, sigterms=args.sigterms,
                     seed=args.seed)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="killwatch-chaos-"))
    report = run_chaos(plan, workdir)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
