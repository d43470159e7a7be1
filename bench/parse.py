"""Parse cost per killmail and universe load time. Run: `python -m bench.parse`.

Prints figures; asserts nothing. Each line is timed several times and its best run kept,
so the figures measure the parser rather than the machine's background noise.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import KillmailRejected, lenient, parse_killmail
from engine.model.parse import _assemble

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
REPEAT = 5


def _best_us(func: Callable[[bytes], Any], line: bytes) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter_ns()
        with contextlib.suppress(KillmailRejected):
            func(line)
        best = min(best, time.perf_counter_ns() - start)
    return best / 1000


def _report(label: str, func: Callable[[bytes], Any], lines: list[bytes]) -> float:
    times = sorted(_best_us(func, line) for line in lines)
    median = statistics.median(times)
    p90 = times[int(len(times) * 0.9)]
    print(f"{label:<34} median {median:7.1f} µs   p90 {p90:8.1f} µs   max {times[-1]:9.1f} µs")
    return median


def main() -> None:
    lines = FIXTURES.read_bytes().splitlines()
    print(f"{len(lines)} recorded killmails from {FIXTURES.name}")
    decoder = msgspec.json.Decoder()
    _report("JSON decode only (orjson)", orjson.loads, lines)
    _report("JSON decode only (msgspec)", decoder.decode, lines)
    median = _report("parse_killmail (typed path)", parse_killmail, lines)
    _report("lenient path alone", lambda b: _assemble(lenient.decode(b, None)), lines)

    start = time.perf_counter()
    universe = Universe.load()
    load_ms = (time.perf_counter() - start) * 1000
    enricher = Enricher(universe)
    kills = []
    for line in lines:
        with contextlib.suppress(KillmailRejected):
            kills.append(parse_killmail(line))
    enrich_us = statistics.median(_best_us(lambda _b, k=k: enricher.enrich(k), b"") for k in kills)

    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for line in lines:
            with contextlib.suppress(KillmailRejected):
                enricher.enrich(parse_killmail(line))
    rate = rounds * len(lines) / (time.perf_counter() - start)

    print(f"{'enrich (universe facts)':<34} median {enrich_us:7.1f} µs")
    print(f"parse + enrich throughput          {rate:,.0f} kills/s (one core)")
    print(f"universe load                      {load_ms:.0f} ms")
    print(f"target: parse median ≤ 30 µs -> {'met' if median <= 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
