"""Operations: the `/healthz` and `/metrics` endpoint of a running Killwatch."""

from __future__ import annotations

from engine.ops.health import (
    DiscordHealth,
    FeedHealth,
    HealthReport,
    StoreHealth,
    StreamHealth,
    check,
)
from engine.ops.pipeline_metrics import MATCH_BUCKETS, MatchHistogram, PipelineMetrics
from engine.ops.probes import (
    DEFAULT_DISCORD_GRACE,
    DEFAULT_FEED_STALE,
    DEFAULT_STREAM_STALE,
    CacheCounts,
    DiscordLink,
    EsiCounts,
    JobCounts,
    OpsChecks,
    Outbox,
    PostCounts,
    SenderCounts,
    StorePing,
    StreamCounts,
)
from engine.ops.server import METRICS_CONTENT_TYPE, OpsServer

__all__ = [
    "DEFAULT_DISCORD_GRACE",
    "DEFAULT_FEED_STALE",
    "DEFAULT_STREAM_STALE",
    "MATCH_BUCKETS",
    "METRICS_CONTENT_TYPE",
    "CacheCounts",
    "DiscordHealth",
    "DiscordLink",
    "EsiCounts",
    "FeedHealth",
    "HealthReport",
    "JobCounts",
    "MatchHistogram",
    "OpsChecks",
    "OpsServer",
    "Outbox",
    "PipelineMetrics",
    "PostCounts",
    "SenderCounts",
    "StoreHealth",
    "StorePing",
    "StreamCounts",
    "StreamHealth",
    "check",
]
