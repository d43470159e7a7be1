"""Jumps and light-year lookups. Run: `python -m bench.distances`.

The matcher indexes proximity and radar subscriptions on precomputed "systems within N jumps
/ X ly of S" sets; this prints what building those sets costs (cold) and what a lookup costs
once they are cached (warm). Prints figures; asserts nothing.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from engine.enrich.distances import Distances
from engine.enrich.universe import Universe

ORIGINS = 200


def _timed_us(calls: list[Callable[[], object]]) -> list[float]:
    times = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        times.append((time.perf_counter_ns() - start) / 1000)
    return times


def _line(label: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {label:<38} median {statistics.median(ordered):9.1f} µs   p99 {p99:9.1f} µs")


def main() -> None:
    universe = Universe.load()
    rng = random.Random(7)
    kspace = [s.id for s in universe.systems() if s.id < 31_000_000 and universe.neighbours(s.id)]
    origins = rng.sample(kspace, ORIGINS)
    targets = rng.sample(kspace, ORIGINS)
    print(f"Distances over {len(kspace)} k-space systems with gates, {ORIGINS} random origins")

    distances = Distances(universe, origins=ORIGINS, sets=4 * ORIGINS)
    pairs = list(zip(origins, targets, strict=True))
    _line("jumps(a, b), cold (BFS from a)", _timed_us([lambda a=a, b=b: distances.jumps(a, b)
                                                      for a, b in pairs]))
    _line("jumps(a, b), warm", _timed_us([lambda a=a, b=b: distances.jumps(a, b)
                                          for a, b in pairs]))
    _line("lightyears(a, b)", _timed_us([lambda a=a, b=b: distances.lightyears(a, b)
                                         for a, b in pairs]))
    for n in (5, 10):
        fresh = Distances(universe, origins=ORIGINS, sets=4 * ORIGINS)
        _line(f"within_jumps(s, {n}), cold", _timed_us(
            [partial(fresh.within_jumps, s, n) for s in origins]))
        _line(f"within_jumps(s, {n}), warm", _timed_us(
            [partial(fresh.within_jumps, s, n) for s in origins]))
        sizes = [len(fresh.within_jumps(s, n)) for s in origins]
        print(f"    ({statistics.median(sizes):.0f} systems in a median set)")
    for ly in (6.0, 10.0):
        fresh = Distances(universe, origins=ORIGINS, sets=4 * ORIGINS)
        _line(f"within_lightyears(s, {ly:g}), cold", _timed_us(
            [partial(fresh.within_lightyears, s, ly) for s in origins]))
        _line(f"within_lightyears(s, {ly:g}), warm", _timed_us(
            [partial(fresh.within_lightyears, s, ly) for s in origins]))
        sizes = [len(fresh.within_lightyears(s, ly)) for s in origins]
        print(f"    ({statistics.median(sizes):.0f} systems in a median set)")
    sets = [distances.within_jumps(s, 5) for s in origins]
    probes = rng.choices(kspace, k=len(sets))
    _line("membership test in a cached set", _timed_us(
        [lambda found=found, p=p: p in found for found, p in zip(sets, probes, strict=True)]))


if __name__ == "__main__":
    main()
