"""R2Z2 catch-up throughput on loopback. Run: `python -m bench.feeds [--kills N]`.

A fake R2Z2 runs in a second process (so the client is measured, not the server sharing its
core) and serves N sequences built from the recorded killmails, each under its own killmail
id. The client starts N sequences behind, as after downtime, with the rate cap lifted, and
walks to the head twice: the source alone, then the whole pipeline (parse, enrich, dedupe,
SQLite store with the cursor) into a counting sink. Prints kills/s; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import EnrichedKill
from engine.pipeline import Engine
from engine.sources.r2z2 import R2Z2Source
from engine.store.database import Database
from engine.store.migrate import upgrade

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
FIRST = 1_000_000


def _bodies(count: int) -> list[bytes]:
    lines = [orjson.loads(raw) for raw in FIXTURES.read_bytes().splitlines()]
    lines = [line for line in lines if line.get("esi")]
    bodies = []
    for n in range(count):
        line = lines[n % len(lines)]
        # A distinct id per sequence, so dedupe does not shortcut the pipeline.
        killmail_id = 200_000_000 + n
        esi = dict(line["esi"], killmail_id=killmail_id)
        envelope = {
            "killmail_id": killmail_id,
            "hash": line["hash"],
            "esi": esi,
            "zkb": line["zkb"],
            "uploaded_at": 1_764_000_000,
            "sequence_id": FIRST + n,
        }
        bodies.append(orjson.dumps(envelope))
    return bodies


def _serve(count: int, port_out: Any) -> None:
    bodies = _bodies(count)
    head = FIRST + count - 1

    async def sequence(_: web.Request) -> web.Response:
        return web.json_response({"sequence": head})

    async def kill(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        if FIRST <= number <= head:
            return web.Response(body=bodies[number - FIRST], content_type="application/json")
        return web.Response(status=404)

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/ephemeral/sequence.json", sequence)
        app.router.add_get("/ephemeral/{n:\\d+}.json", kill)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


def _source(session: aiohttp.ClientSession, url: str, concurrency: int) -> R2Z2Source:
    return R2Z2Source(
        session,
        base_url=url,
        start_after=FIRST - 1,
        user_agent="Killwatch/bench",
        requests_per_second=None,
        concurrency=concurrency,
        poll_wait=0.01,
    )


async def _source_only(url: str, count: int, concurrency: int) -> float:
    async with aiohttp.ClientSession() as session, _source(session, url, concurrency) as source:
        started = time.perf_counter()
        seen = 0
        async for _ in source.kills():
            seen += 1
            if seen == count:
                break
        return count / (time.perf_counter() - started)


class _Counter:
    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    async def deliver(self, kill: EnrichedKill) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


async def _pipeline(url: str, count: int, concurrency: int, universe: Universe) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        db_url = f"sqlite+aiosqlite:///{scratch}/bench.db"
        await upgrade(db_url)
        sink = _Counter(count)
        async with (
            Database(db_url) as database,
            aiohttp.ClientSession() as session,
        ):
            engine = Engine(
                sources=[_source(session, url, concurrency)],
                enricher=Enricher(universe),
                database=database,
                sinks=[sink],
                max_age=None,
            )
            started = time.perf_counter()
            async with engine:
                await sink.done.wait()
                elapsed = time.perf_counter() - started
                engine.stop()
        return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_serve, args=(args.kills, send), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{receive.recv()}/ephemeral"
        universe = Universe.load()
        print(f"R2Z2 catch-up over loopback, {args.kills} sequences behind, rate cap lifted")
        for concurrency in sorted({1, 4, args.concurrency}):
            rate = asyncio.run(_source_only(url, args.kills, concurrency))
            print(f"  source alone, {concurrency:2d} at once: {rate:8,.0f} kills/s")
        rate = asyncio.run(_pipeline(url, args.kills, args.concurrency, universe))
        print(f"  whole pipeline into SQLite, {args.concurrency} at once: {rate:8,.0f} kills/s")
        backlog = 16_500
        print(f"  a 24 h backlog (~{backlog:,} kills) takes {backlog / rate:.1f} s at that rate")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
