"""`/metrics`: the running engine in Prometheus' text format.

`KillwatchCollector` reads every part at scrape time (the engine's status or the stream
consumer's, the dispatcher, the sender, Discord's gateway, ESI, the caches, the pipeline's
timings, the scheduled jobs) and turns the snapshots into metric families; nothing is
counted twice, and the parts need no metrics library. A part that fails to report is logged
and left out of that scrape rather than failing the whole page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from engine.ops.health import discord_health, feed_health, stream_health
from engine.ops.pipeline_metrics import PipelineMetrics
from engine.ops.probes import (
    CacheCounts,
    DiscordLink,
    EsiCounts,
    JobCounts,
    OpsChecks,
    Outbox,
    SenderCounts,
    StreamCounts,
)
from engine.status import EngineStatus

__all__ = ["KillwatchCollector"]

log = logging.getLogger(__name__)

# EngineStatus counter -> (metric name, help)
_PIPELINE_COUNTERS = (
    ("stored", "killwatch_kills_stored", "New kills stored."),
    ("duplicates", "killwatch_kills_duplicate", "Kills already known (another feed, a re-read)."),
    ("too_old", "killwatch_kills_too_old", "Kills stored but not posted: older than the max age."),
    ("updated", "killwatch_kills_updated", "Known kills whose zKillboard data was republished."),
    ("delivered", "killwatch_kills_delivered", "Kills handed to sinks (console mode)."),
    ("sink_errors", "killwatch_sink_errors", "Sink deliveries that raised."),
    ("store_retries", "killwatch_store_retries", "Store writes retried while the store failed."),
)


class KillwatchCollector(Collector):
    def __init__(self, checks: OpsChecks) -> None:
        self._checks = checks

    def collect(self) -> Iterable[Metric]:
        checks = self._checks
        now = checks.clock()
        sections: list[tuple[str, Callable[[], Iterator[Metric]]]] = []
        if checks.engine is not None:
            sections.append(("engine", partial(_engine, checks.engine, now, checks)))
        if checks.stream is not None:
            sections.append(("stream", partial(_stream, checks.stream, now, checks)))
        if checks.discord is not None:
            sections.append(("discord", partial(_discord, checks.discord, now, checks)))
        if checks.pipeline is not None:
            sections.append(("pipeline", partial(_pipeline, checks.pipeline)))
        if checks.outbox is not None:
            sections.append(("outbox", partial(_outbox, checks.outbox)))
        if checks.sender is not None:
            sections.append(("sender", partial(_sender, checks.sender)))
        if checks.esi is not None:
            sections.append(("esi", partial(_esi, checks.esi)))
        if checks.caches:
            sections.append(("caches", partial(_caches, checks.caches)))
        if checks.jobs is not None:
            sections.append(("jobs", partial(_jobs, checks.jobs)))
        for name, section in sections:
            try:
                # Built whole before any is yielded: a part failing halfway adds nothing.
                metrics = list(section())
            except Exception:
                log.exception("the %s metrics could not be read", name)
                continue
            yield from metrics


def _engine(
    read: Callable[[], EngineStatus], now: datetime, checks: OpsChecks
) -> Iterator[Metric]:
    status = read()
    yield GaugeMetricFamily(
        "killwatch_engine_running", "1 while the engine reads its feeds.",
        value=1 if status.running else 0,
    )
    received = CounterMetricFamily(
        "killwatch_kills_received", "Kills a feed handed on.", labels=["source"]
    )
    errors = CounterMetricFamily(
        "killwatch_source_errors", "Feed failures by kind.", labels=["source", "error"]
    )
    connected = GaugeMetricFamily(
        "killwatch_source_connected", "1 while the feed's last request or stream worked.",
        labels=["source"],
    )
    backoff = GaugeMetricFamily(
        "killwatch_source_backoff_seconds", "The wait in progress after a failure.",
        labels=["source"],
    )
    lag = GaugeMetricFamily(
        "killwatch_feed_lag_seconds",
        "Now minus the newest kill's time (since=kill) or its upload to the feed (since=upload).",
        labels=["source", "since"],
    )
    for source in status.sources:
        received.add_metric([source.name], source.kills)
        for kind, count in sorted(source.errors.items()):
            errors.add_metric([source.name, kind], count)
        connected.add_metric([source.name], 1 if source.connected else 0)
        backoff.add_metric([source.name], source.backoff_seconds)
        if source.last_kill_time is not None:
            lag.add_metric([source.name, "kill"], (now - source.last_kill_time).total_seconds())
        if source.last_uploaded_at is not None:
            lag.add_metric(
                [source.name, "upload"], (now - source.last_uploaded_at).total_seconds()
            )
    silent = GaugeMetricFamily(
        "killwatch_feed_silent_seconds",
        "Since a live feed last answered or handed on a kill.", labels=["source"],
    )
    fresh = GaugeMetricFamily(
        "killwatch_feed_fresh", "1 while a live feed passes the health check.", labels=["source"]
    )
    for feed in feed_health(status, now, checks.feed_stale):
        silent.add_metric([feed.name], feed.silent_seconds)
        fresh.add_metric([feed.name], 1 if feed.fresh else 0)
    rejected = CounterMetricFamily(
        "killwatch_kills_rejected", "Kills dropped, by reason (all feeds).", labels=["reason"]
    )
    for reason, count in sorted(status.rejected.items()):
        rejected.add_metric([reason], count)
    queues = GaugeMetricFamily(
        "killwatch_queue_depth", "Kills waiting before each pipeline stage.", labels=["stage"]
    )
    for stage, depth in status.queues.items():
        queues.add_metric([stage], depth)
    yield from (received, errors, connected, backoff, lag, silent, fresh, rejected, queues)
    for field, name, text in _PIPELINE_COUNTERS:
        yield CounterMetricFamily(name, text, value=getattr(status, field))


def _stream(read: Callable[[], StreamCounts], now: datetime, checks: OpsChecks) -> Iterator[Metric]:
    status = read()
    health = stream_health(status, now, checks.stream_stale)
    yield GaugeMetricFamily(
        "killwatch_stream_consumer_running", "1 while the consumer reads the kill stream.",
        value=1 if status.running else 0,
    )
    yield GaugeMetricFamily(
        "killwatch_stream_silent_seconds", "Since the last read from Redis that worked.",
        value=health.silent_seconds,
    )
    yield CounterMetricFamily(
        "killwatch_stream_entries_read", "Stream entries read, repeats and unreadable included.",
        value=status.read,
    )
    yield CounterMetricFamily(
        "killwatch_stream_entries_acked", "Stream entries acknowledged once handled.",
        value=status.acked,
    )
    dropped = CounterMetricFamily(
        "killwatch_stream_entries_dropped", "Entries read but not matched, by reason.",
        labels=["reason"],
    )
    for reason, count in sorted(status.dropped.items()):
        dropped.add_metric([reason], count)
    yield dropped
    yield CounterMetricFamily(
        "killwatch_stream_posts_owed", "Outbox rows the stream's kills were owed in.",
        value=status.owed,
    )
    yield CounterMetricFamily(
        "killwatch_stream_retries", "Reads and acknowledgements retried after a Redis failure.",
        value=status.retries,
    )
    # Absent until the consumer has asked Redis (and, for the lag, until Redis can tell).
    for name, text, known in (
        ("killwatch_stream_pending", "Entries given to this group and not acknowledged.",
         status.pending),
        ("killwatch_stream_lag", "Entries in the stream not yet given to this group.",
         status.lag),
    ):
        gauge = GaugeMetricFamily(name, text)
        if known is not None:
            gauge.add_metric([], known)
        yield gauge


def _discord(read: Callable[[], DiscordLink], now: datetime, checks: OpsChecks) -> Iterator[Metric]:
    link = read()
    yield GaugeMetricFamily(
        "killwatch_discord_connected", "1 while the Discord gateway connection is up.",
        value=1 if link.connected else 0,
    )
    health = discord_health(link, now, checks.discord_grace)
    down = GaugeMetricFamily(
        "killwatch_discord_disconnected_seconds",
        "How long the gateway has been down (absent while connected).",
    )
    if health.down_seconds is not None:
        down.add_metric([], health.down_seconds)
    yield down


def _pipeline(pipeline: PipelineMetrics) -> Iterator[Metric]:
    rejected = CounterMetricFamily(
        "killwatch_source_kills_rejected", "Kills dropped, by feed and reason.",
        labels=["source", "reason"],
    )
    for (source, reason), count in sorted(pipeline.rejections.items()):
        rejected.add_metric([source, reason], count)
    yield rejected
    histogram = pipeline.match_histogram()
    buckets = [(_le(bound), count)
               for bound, count in zip(histogram.bounds, histogram.cumulative, strict=False)]
    buckets.append(("+Inf", histogram.count))
    yield HistogramMetricFamily(
        "killwatch_match_seconds", "Time to match one kill against every subscription.",
        buckets=buckets, sum_value=histogram.total_seconds,
    )


def _outbox(outbox: Outbox) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "killwatch_outbox_depth", "Posts owed and queued for sending.", value=outbox.backlog()
    )
    stats = outbox.stats
    posts = CounterMetricFamily("killwatch_posts", "Posts by outcome.", labels=["outcome"])
    for outcome, count in (
        ("sent", stats.sent),
        ("failed", stats.failed),
        ("retry", stats.retries),
        ("skipped", stats.skipped),
    ):
        posts.add_metric([outcome], count)
    yield posts
    yield CounterMetricFamily(
        "killwatch_post_messages", "Messages the posts went out in.", value=stats.messages
    )


def _sender(read: Callable[[], SenderCounts]) -> Iterator[Metric]:
    status = read()
    yield CounterMetricFamily(
        "killwatch_discord_rate_limited", "429 answers from Discord.", value=status.rate_limited
    )
    yield CounterMetricFamily(
        "killwatch_discord_paced_seconds", "Time spent waiting for the global request budget.",
        value=status.paced_seconds,
    )


def _esi(read: Callable[[], EsiCounts]) -> Iterator[Metric]:
    status = read()
    yield CounterMetricFamily("killwatch_esi_requests", "Requests sent to ESI.", value=status.calls)
    errors = CounterMetricFamily("killwatch_esi_errors", "ESI failures by kind.", labels=["error"])
    for kind, count in sorted(status.errors.items()):
        errors.add_metric([kind], count)
    yield errors
    yield GaugeMetricFamily(
        "killwatch_esi_circuit_open", "1 while ESI is left alone after repeated failures.",
        value=0 if status.breaker == "closed" else 1,
    )
    remaining = GaugeMetricFamily(
        "killwatch_esi_error_limit_remaining",
        "Errors ESI still allows in its window (absent until ESI said).",
    )
    if status.error_limit_remain is not None:
        remaining.add_metric([], status.error_limit_remain)
    yield remaining


def _caches(caches: Mapping[str, Callable[[], CacheCounts]]) -> Iterator[Metric]:
    hits = CounterMetricFamily(
        "killwatch_cache_hits", "Lookups answered from memory.", labels=["cache"]
    )
    misses = CounterMetricFamily(
        "killwatch_cache_misses", "Lookups that had to ask the store or ESI.", labels=["cache"]
    )
    ratio = GaugeMetricFamily(
        "killwatch_cache_hit_ratio", "Hits over all lookups since start.", labels=["cache"]
    )
    entries = GaugeMetricFamily("killwatch_cache_entries", "Values in memory.", labels=["cache"])
    for name, read in sorted(caches.items()):
        stats = read()
        hits.add_metric([name], stats.hits)
        misses.add_metric([name], stats.misses)
        entries.add_metric([name], stats.cached)
        if stats.hits + stats.misses:
            ratio.add_metric([name], stats.hits / (stats.hits + stats.misses))
    yield from (hits, misses, ratio, entries)


def _jobs(read: Callable[[], Sequence[JobCounts]]) -> Iterator[Metric]:
    runs = CounterMetricFamily(
        "killwatch_job_runs", "Finished runs of each scheduled job, failed ones included.",
        labels=["job"],
    )
    failures = CounterMetricFamily(
        "killwatch_job_failures", "Runs of each scheduled job that failed.", labels=["job"]
    )
    last = GaugeMetricFamily(
        "killwatch_job_last_success_timestamp_seconds",
        "When each job last succeeded (Unix time; absent until it has).", labels=["job"],
    )
    for job in read():
        runs.add_metric([job.name], job.succeeded + job.failed)
        failures.add_metric([job.name], job.failed)
        if job.last_success is not None:
            last.add_metric([job.name], job.last_success.timestamp())
    yield from (runs, failures, last)


def _le(bound: float) -> str:
    return repr(float(bound))
