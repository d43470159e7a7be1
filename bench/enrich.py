"""Enrichment cost per kill, every fact included, caches warm. Run: `python -m bench.enrich`.

Prints figures; asserts nothing. Each kill is enriched once to warm the per-type and
per-system memos (as a running bot's are after its first minutes), then timed several times
and its best run kept, so the figures measure the code rather than the machine's noise.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path

from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import Killmail, KillmailRejected, parse_killmail

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
REPEAT = 7
TARGET_US = 20.0


class _Prices:
    """Every type at 1 ISK: makes the computed-value path run for kills without zkb."""

    def price(self, type_id: int) -> float | None:
        return 1.0


def _best_us(enricher: Enricher, kill: Killmail) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter_ns()
        enricher.enrich(kill)
        best = min(best, time.perf_counter_ns() - start)
    return best / 1000


def _kills() -> list[Killmail]:
    kills = []
    for line in FIXTURES.read_bytes().splitlines():
        with contextlib.suppress(KillmailRejected):
            kills.append(parse_killmail(line))
    return kills


def main() -> None:
    kills = _kills()
    enricher = Enricher(Universe.load(), prices=_Prices())
    for kill in kills:
        enricher.enrich(kill)  # warm the memos
    timed = sorted(((_best_us(enricher, kill), kill) for kill in kills), key=lambda t: t[0])
    times = [t for t, _ in timed]
    median = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    worst, worst_kill = timed[-1]
    attackers = sorted(len(k.attackers) for k in kills)
    print(f"{len(kills)} kills from {FIXTURES.name}, median {statistics.median(attackers):.0f} "
          f"attackers (max {attackers[-1]})")
    print(f"enrich, all facts, warm   p50 {median:6.1f} µs   p99 {p99:8.1f} µs   "
          f"max {worst:8.1f} µs (kill {worst_kill.killmail_id}, "
          f"{len(worst_kill.attackers)} attackers)")

    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for kill in kills:
            enricher.enrich(kill)
    rate = rounds * len(kills) / (time.perf_counter() - start)
    print(f"throughput                {rate:,.0f} kills/s (one core)")
    print(f"target: p50 ≤ {TARGET_US:.0f} µs -> {'met' if median <= TARGET_US else 'MISSED'}")


if __name__ == "__main__":
    main()
