"""What the pipeline reports as it goes, for `/metrics`: time spent matching each kill, and
rejected kills by feed and reason.

The engine calls `matched(seconds)` and `rejected(source, reason)`; the ops server reads the
totals at each scrape. Plain counters, no Prometheus types, so the engine's side needs no
metrics library and one object can serve any number of servers.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

__all__ = ["MATCH_BUCKETS", "MatchHistogram", "PipelineMetrics"]

# Matching one kill against every subscription takes microseconds to milliseconds; the top
# buckets are there to show a pathological filter.
MATCH_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)


@dataclass(frozen=True, slots=True)
class MatchHistogram:
    bounds: tuple[float, ...]  # upper bounds, without +Inf
    cumulative: tuple[int, ...]  # observations <= each bound, then the total (+Inf)
    total_seconds: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


class PipelineMetrics:
    def __init__(self, buckets: Sequence[float] = MATCH_BUCKETS) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError("buckets must be positive, increasing and not empty")
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self._seconds = 0.0
        self.rejections: Counter[tuple[str, str]] = Counter()  # (source, reason) -> kills

    def matched(self, seconds: float) -> None:
        """One kill was matched against the subscriptions in `seconds`."""
        seconds = max(0.0, seconds)
        self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._seconds += seconds

    @contextmanager
    def timing(self) -> Iterator[None]:
        """``with metrics.timing(): matcher.match(kill)``: records the block's duration."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.matched(time.perf_counter() - started)

    def rejected(self, source: str, reason: str) -> None:
        self.rejections[source, reason] += 1

    def match_histogram(self) -> MatchHistogram:
        cumulative: list[int] = []
        running = 0
        for count in self._counts:
            running += count
            cumulative.append(running)
        return MatchHistogram(self._bounds, tuple(cumulative), self._seconds)
