"""The ingester's side: every new kill goes to the stream once, through the outbox.

The stream is the ingester's one subscriber. `StreamRoute` owes every kill the engine stores
(and does not hold back as too old) to the destination ``stream:<name>``, so the outbox row is
written in the kill's own transaction; the dispatcher then hands the rows to `StreamSender`,
which appends the kills to the stream and reports them sent. A crash between the two leaves
the rows pending, and the next start publishes them: each kill reaches the stream at least
once, and only a crash right after a publish repeats one, which consumers shrug off (an outbox
row per destination and kill is unique).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis.exceptions import RedisError

from engine.dispatch.sender import Delivery, Outcome, Retry, Sent
from engine.filters import Match
from engine.model import EnrichedKill
from engine.scale.stream import KillStream

__all__ = ["StreamRoute", "StreamSender", "stream_destination"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


def stream_destination(stream: str) -> str:
    """The outbox destination of kills owed to a stream."""
    return f"stream:{stream}"


class StreamRoute:
    """Routes every kill to one destination: what the ingester's engine uses as its matcher."""

    def __init__(self, destination: str) -> None:
        self.destination = destination

    def match(self, kill: EnrichedKill) -> list[Match]:
        return [Match(self.destination, ())]


class StreamSender:
    """A dispatcher's sender that publishes to the stream; while Redis is away it asks for a
    retry, waiting longer each time (the dispatcher must allow unlimited attempts)."""

    def __init__(self, stream: KillStream) -> None:
        self._stream = stream
        self._failures = 0
        self.published = 0

    async def send(self, destination: str, deliveries: Sequence[Delivery]) -> list[Outcome]:
        ids = tuple(delivery.entry_id for delivery in deliveries)
        try:
            await self._stream.publish([delivery.kill for delivery in deliveries])
        except (RedisError, OSError) as exc:
            self._failures += 1
            wait = min(0.5 * 2 ** min(self._failures - 1, 6), _MAX_BACKOFF)
            log.error("publishing %d kills to the stream failed (%s); retrying in %.1f s",
                      len(ids), type(exc).__name__, wait)
            return [Retry(ids, wait, type(exc).__name__)]
        if self._failures:
            log.info("publishing to the stream works again")
        self._failures = 0
        self.published += len(ids)
        return [Sent(ids)]
