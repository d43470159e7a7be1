"""Posting a burst to Discord: pacing, packing, 429s, and the latency of a kill to an idle channel.

Run: `python -m bench.discord [--kills 2000] [--channels 200] [--rate 47] [--workers 8]`.

A fake Discord (tests/fakes/discord) runs in a second process, enforcing Discord's global
50 requests/s and 5 messages per 5 s per channel. The real pipeline runs here: an in-memory
feed → Engine (parse, enrich, SQLite store with the outbox) → Matcher (one subscription per
channel, on its own system) → Dispatcher → DiscordSender → a real discord.py client.

1. Burst: `--kills` kills at once, spread evenly over `--channels` channels (full embeds for
   half the channels, compact for the others). Prints delivered kills, messages, elapsed
   time, the request rate achieved against the 50/s allowed (target ≥ 0.9) and the 429s
   received (target 0).
2. Idle: once every channel's window has reset, single kills one at a time, each to a channel
   that is idle; prints the time from a kill entering the engine (handed over by the feed) to
   its POST reaching Discord: p50, p99 (target ≤ 100 ms), max.

Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import tempfile
import time
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import discord
import orjson

from bot.posts import PostOptions
from bot.sender import DiscordSender
from engine.delivery import Dispatcher
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Subscription, parse
from engine.pipeline import Engine
from engine.sources.base import RawKill
from engine.sources.status import SourceCounters, SourceStatus
from engine.store.database import Database
from engine.store.migrate import upgrade

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
GUILD_ID = 4_444 << 22
OWNER = 7_001
FIRST_CHANNEL = 600_000
BURST_IDS = 300_000_000
IDLE_IDS = 400_000_000
ALLOWED_RATE = 50.0


# --- the fake Discord, in its own process ---


def _serve(channels: int, conn: Connection) -> None:
    # Imported here: the fake belongs to the tests, and only this process needs it.
    from tests.fakes.discord import Channel, FakeDiscord, Guild, Limit, Member

    async def main() -> None:
        guild = Guild(
            GUILD_ID,
            "Bench",
            channels=[Channel(FIRST_CHANNEL + n, f"feed-{n}") for n in range(channels)],
            members=[Member(OWNER, "owner")],
            owner_id=OWNER,
        )
        async with FakeDiscord(
            guilds=[guild], global_limit=Limit(50, 1.0), message_limit=Limit(5, 5.0)
        ) as fake:
            conn.send((fake.api_base_url, fake.gateway_url, fake.token))
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
                if command == "report":
                    conn.send(_report(fake))

    asyncio.run(main())


def _report(fake: Any) -> dict[str, Any]:
    posts = [
        {
            "at": r.at,  # time.monotonic() of that process: the same clock on Linux
            "status": r.status,
            "nonce": (r.json or {}).get("nonce"),
            "embeds": len((r.json or {}).get("embeds") or []),
        }
        for r in fake.requests_to("POST", "/channels/{channel_id}/messages")
    ]
    return {
        "posts": posts,
        "requests": len(fake.requests),
        "edits": len(fake.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}")),
        "rate_limited": dict(fake.rate_limited),
        "messages": len(fake.all_messages()),
    }


# --- the feed ---


class QueueSource:
    """Kills put in by the bench, handed to the engine as they come; notes when."""

    name = "bench"

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._counters = SourceCounters(self.name, "bench")
        self.entered: dict[int, float] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def put(self, killmail_id: int, payload: bytes) -> None:
        self._queue.put_nowait((killmail_id, payload))

    async def kills(self) -> AsyncIterator[RawKill]:
        while (item := await self._queue.get()) is not None:
            killmail_id, payload = item
            self.entered[killmail_id] = time.monotonic()
            yield RawKill(self.name, payload, f"kill {killmail_id}", live=False)

    def status(self) -> SourceStatus:
        return self._counters.snapshot()


def _payloads(first: int, count: int, systems: list[int]) -> list[tuple[int, bytes]]:
    """`count` recorded kills under new ids, kill n in system n mod len(systems)."""
    lines = [orjson.loads(raw) for raw in FIXTURES.read_bytes().splitlines()]
    lines = [line for line in lines if line.get("esi")]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    made = []
    for n in range(count):
        line = lines[n % len(lines)]
        killmail_id = first + n
        esi = dict(
            line["esi"],
            killmail_id=killmail_id,
            solar_system_id=systems[n % len(systems)],
            killmail_time=now,
        )
        body = {"killmail_id": killmail_id, "hash": line["hash"], "esi": esi, "zkb": line["zkb"]}
        made.append((killmail_id, orjson.dumps(body)))
    return made


# --- the run ---


async def _until(condition: Any, within: float) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - counters of the dispatcher, no event
            await asyncio.sleep(0.01)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


async def _run(args: argparse.Namespace, conn: Connection) -> None:
    api, gateway, token = conn.recv()
    universe = Universe.load()
    enricher = Enricher(universe)
    # Every 20th system, so the channels' kills spread over all of New Eden.
    chosen = sorted(universe.systems(), key=lambda s: s.id)[::20][: args.channels]
    systems = [s.id for s in chosen]
    matcher = Matcher(Distances(universe))
    for n, system in enumerate(chosen):
        tree = await parse(f'system = "{system.name}"', universe)
        matcher.add(Subscription(n + 1, f"channel:{FIRST_CHANNEL + n}", tree))
    styles = {n + 1: PostOptions("full" if n % 2 == 0 else "compact") for n in range(len(systems))}
    burst = _payloads(BURST_IDS, args.kills, systems)
    idle = _payloads(IDLE_IDS, args.idle, systems)

    from tests.fakes.discord_client import discord_pointed_at

    with tempfile.TemporaryDirectory() as tmp, discord_pointed_at(api, gateway):
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade(url)
        client = discord.Client(
            intents=discord.Intents.default(), guild_ready_timeout=0.1, max_ratelimit_timeout=30.0
        )
        running = asyncio.create_task(client.start(token))
        await _until(lambda: client.is_ready() or running.done(), 30)
        if running.done():
            running.result()  # raises why it stopped
        async with (
            Database(url) as database,
            DiscordSender(client, styles.get, global_rate=args.rate) as sender,
        ):
            dispatcher = Dispatcher(
                database, enricher, sender, workers=args.workers, max_age=None
            )
            source = QueueSource()
            engine = Engine(
                sources=[source], enricher=enricher, database=database, sinks=[],
                matcher=matcher, dispatcher=dispatcher, max_age=None,
            )
            async with engine:
                started = time.monotonic()
                for killmail_id, payload in burst:
                    source.put(killmail_id, payload)
                await _until(lambda: dispatcher.stats.sent >= args.kills, 600)
                await dispatcher.idle()
                burst_done = time.monotonic()
                await asyncio.sleep(5.5)  # every channel's 5 s window is over: all idle
                for killmail_id, payload in idle:
                    source.put(killmail_id, payload)
                    await asyncio.sleep(args.gap)
                await _until(lambda: dispatcher.stats.sent >= args.kills + args.idle, 60)
                await dispatcher.idle()
                engine.stop()
            status = sender.status()
        conn.send("report")
        report = conn.recv()
        await client.close()
        await running

    posts = report["posts"]
    idle_posts = [p["at"] for p in posts if p["nonce"].startswith(f"k{IDLE_IDS // 10**6}")]
    first_idle = min(idle_posts, default=math.inf)
    in_burst = [p for p in posts if p["at"] < first_idle and p["at"] <= burst_done]
    first_at, last_at = in_burst[0]["at"], max(p["at"] for p in in_burst)
    span = last_at - first_at
    rate = len(in_burst) / span if span > 0 else math.inf
    ok = [p for p in in_burst if p["status"] == 200]
    print(f"burst: {args.kills} kills to {len(systems)} channels, global budget {args.rate:g}/s, "
          f"{args.workers} dispatch workers")
    print(f"  delivered kills   {dispatcher.stats.sent - args.idle}")
    print(f"  messages          {len(ok)} ({sum(p['embeds'] for p in ok) / len(ok):.1f} embeds "
          f"per message)")
    print(f"  elapsed           {burst_done - started:.2f} s from the burst entering the engine; "
          f"{span:.2f} s from the first POST to the last")
    print(f"  request rate      {rate:.1f}/s = {rate / ALLOWED_RATE:.2f} of the {ALLOWED_RATE:g}/s "
          f"allowed")
    print(f"  429s received     {sum(report['rate_limited'].values())} "
          f"{report['rate_limited'] or ''}".rstrip())
    at = {int(p["nonce"][1:].split("-")[0]): p["at"] for p in posts if p["status"] == 200}
    latencies = [(at[kid] - source.entered[kid]) * 1000 for kid, _ in idle if kid in at]
    if latencies:
        print(f"idle channels: {len(latencies)} single kills, one every {args.gap * 1000:.0f} ms")
        print(f"  kill entering the engine → its POST: p50 {_percentile(latencies, 0.5):.1f} ms, "
              f"p99 {_percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms")
    if status.folded:
        print(f"  {status.folded} kills folded into live battle summaries, {status.edits} edits")
    print(f"sender: {status.messages} messages, {status.sent} kills, "
          f"{status.rate_limited} 429s seen, waited {status.paced_seconds:.1f} s for the budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--rate", type=float, default=47.0, help="the sender's global budget/s")
    parser.add_argument("--workers", type=int, default=8, help="dispatcher workers")
    parser.add_argument("--idle", type=int, default=200, help="single kills to idle channels")
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between single kills")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=_serve, args=(args.channels, theirs), daemon=True)
    server.start()
    try:
        asyncio.run(_run(args, ours))
    finally:
        ours.send("stop")
        server.join(timeout=10)


if __name__ == "__main__":
    main()
