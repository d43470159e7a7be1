"""Console mode: each kill as one readable line on a text stream."""

from __future__ import annotations

import sys
from typing import TextIO

from engine.dispatch.text import kill_line
from engine.model import EnrichedKill

__all__ = ["ConsoleSink"]


class ConsoleSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        # Resolved per call, not at import: tests and `run` may swap sys.stdout.
        self._stream = stream

    async def deliver(self, kill: EnrichedKill) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(kill_line(kill) + "\n")
        stream.flush()
