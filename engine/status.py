"""What a running engine reports about itself, saved in the store so `killwatch status` can
read it from another process, or after the engine stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from engine.sources.status import SourceStatus

__all__ = ["STATUS_KEY", "EngineStatus", "decode_status", "encode_status"]

STATUS_KEY = "status:engine"


@dataclass(frozen=True, slots=True)
class EngineStatus:
    started_at: datetime
    updated_at: datetime
    running: bool
    sources: tuple[SourceStatus, ...]
    received: int = 0
    stored: int = 0
    too_old: int = 0
    duplicates: int = 0
    updated: int = 0
    delivered: int = 0
    sink_errors: int = 0
    store_retries: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)  # kills waiting before each stage


def encode_status(status: EngineStatus) -> str:
    return msgspec.json.encode(status).decode()


def decode_status(text: str) -> EngineStatus:
    return msgspec.json.decode(text, type=EngineStatus)
