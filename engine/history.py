"""Kills already stored, enriched again for commands that look back (a filter's preview)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import msgspec

from engine.enrich.enricher import Enricher
from engine.model import EnrichedKill, Killmail
from engine.store.database import Database
from engine.store.repositories import KillmailRepository

__all__ = ["History"]

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder(Killmail)


class History:
    def __init__(self, database: Database, enricher: Enricher) -> None:
        self._database = database
        self._enricher = enricher

    async def since(self, moment: datetime, limit: int = 50_000) -> list[EnrichedKill]:
        """Stored kills at or after `moment` (by killmail time), oldest first."""
        async with self._database.session() as session:
            repository = KillmailRepository(session)
            stored = await repository.recent(limit, since=moment)
            bodies = await repository.bodies([kill.killmail_id for kill in stored])
        # A day of kills takes a few hundred ms to read back: not on the event loop.
        ids = [record.killmail_id for record in reversed(stored)]
        return await asyncio.to_thread(self._revive, ids, bodies)

    def _revive(self, ids: list[int], bodies: dict[int, bytes]) -> list[EnrichedKill]:
        kills: list[EnrichedKill] = []
        for killmail_id in ids:
            body = bodies.get(killmail_id)
            if body is None:
                continue  # stored before bodies were kept
            try:
                kills.append(self._enricher.enrich(_decode.decode(body)))
            except (msgspec.DecodeError, msgspec.ValidationError):
                log.warning("stored killmail %s could not be read back", killmail_id)
        return kills
