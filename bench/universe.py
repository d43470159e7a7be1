"""Benchmark the bundled static universe: load time, file size, memory, lookups.

    python -m bench.universe [--loads 7]

RSS growth is measured first, in a process that has not loaded the universe yet, so it is the
real cost of holding one instance; the timed loads come after.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from engine.enrich.universe import BUNDLED_FILE, Universe

__all__ = ["main"]


def _rss_mb() -> float:
    """Current resident set size; falls back to the peak where /proc is missing."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _per_call_us(fn: Callable[[], object], number: int) -> float:
    # Best of five runs: the least disturbed by the rest of the machine.
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.universe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--loads", type=int, default=7, help="timed loads (median reported)")
    args = parser.parse_args(argv)

    data_file = resources.files("engine.enrich").joinpath(BUNDLED_FILE)
    size_kb = len(data_file.read_bytes()) / 1024

    gc.collect()
    before = _rss_mb()
    universe = Universe.load()
    gc.collect()
    rss_growth = _rss_mb() - before

    timings = []
    for _ in range(args.loads):
        started = time.perf_counter()
        Universe.load()
        timings.append((time.perf_counter() - started) * 1000)
        gc.collect()

    u = universe
    lookups: list[tuple[str, Callable[[], object], int]] = [
        ("system(id)", lambda: u.system(30000142), 200_000),
        ("type(id)", lambda: u.type(35834), 200_000),
        ("neighbours(id)", lambda: u.neighbours(30000142), 200_000),
        ("find_system('jita')", lambda: u.find_system("jita"), 100_000),
        ("find_type('Keepstar')", lambda: u.find_type("Keepstar"), 100_000),
        ("find_type(miss)", lambda: u.find_type("no such thing"), 100_000),
        ("complete_systems('j', 25)", lambda: u.complete_systems("j", 25), 20_000),
        ("complete_types('cap', 25)", lambda: u.complete_types("cap", 25), 20_000),
        (
            "complete_types('cap', 25, published)",
            lambda: u.complete_types("cap", 25, published_only=True),
            20_000,
        ),
    ]

    print(f"universe file       {size_kb:8.0f} KB  ({BUNDLED_FILE})")
    print(
        f"load                {statistics.median(timings):8.1f} ms  median of {args.loads} "
        f"(min {min(timings):.1f}, max {max(timings):.1f})"
    )
    print(f"RSS growth          {rss_growth:8.1f} MB  holding one instance")
    for label, fn, number in lookups:
        print(f"{label:38s} {_per_call_us(fn, number):7.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
