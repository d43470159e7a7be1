"""Kill feeds. Each is an async context manager yielding `RawKill`s."""

from engine.sources.base import Cursor, RawKill, Source
from engine.sources.replay import ReplaySource, bundled_sample

__all__ = ["Cursor", "RawKill", "ReplaySource", "Source", "bundled_sample"]
