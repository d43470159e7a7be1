"""Where matched kills go: the console today, Discord through the bot, a list in tests."""

from __future__ import annotations

from typing import Protocol

from engine.model import EnrichedKill

__all__ = ["Sink"]


class Sink(Protocol):
    async def deliver(self, kill: EnrichedKill) -> None:
        """Deliver one new kill. Raising is logged and counted; the pipeline goes on."""
