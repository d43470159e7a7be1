"""Counters the pipeline keeps, read by the CLI summary, health checks and tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["PipelineStats"]


@dataclass(slots=True)
class PipelineStats:
    received: int = 0
    parsed: int = 0
    # reason -> count; parse rejections use RejectReason values, later stages their own names
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    stored: int = 0
    too_old: int = 0  # stored, not delivered: older than the max age when they arrived
    updated: int = 0  # known kills whose zkb data (value, labels) a feed republished
    owed: int = 0  # posts owed to subscribers (outbox rows written)
    delivered: int = 0
    sink_errors: int = 0
    store_retries: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.rejected.items()))
        return (
            f"received {self.received}, new {self.stored}, too old {self.too_old}, "
            f"duplicates {self.duplicates}, updated {self.updated}, "
            f"rejected {self.rejected_total}" + (f" ({reasons})" if reasons else "")
            + f", delivered {self.delivered}, sink errors {self.sink_errors}"
        )
