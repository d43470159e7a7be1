"""Operations: the `/healthz` and `/metrics` endpoint of a running Killwatch."""

from __future__ import annotations

from engine.ops.health import FeedHealth, HealthReport, StoreHealth, check
from engine.ops.pipeline_metrics import MATCH_BUCKETS, MatchHistogram, PipelineMetrics
from engine.ops.probes import (
    DEFAULT_FEED_STALE,
    CacheCounts,
    EsiCounts,
    OpsChecks,
    Outbox,
    PostCounts,
    SenderCounts,
    StorePing,
)
from engine.ops.server import METRICS_CONTENT_TYPE, OpsServer

__all__ = [
    "DEFAULT_FEED_STALE",
    "MATCH_BUCKETS",
    "METRICS_CONTENT_TYPE",
    "CacheCounts",
    "EsiCounts",
    "FeedHealth",
    "HealthReport",
    "MatchHistogram",
    "OpsChecks",
    "OpsServer",
    "Outbox",
    "PipelineMetrics",
    "PostCounts",
    "SenderCounts",
    "StoreHealth",
    "StorePing",
    "check",
]
