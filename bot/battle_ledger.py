"""What each live battle summary shows, written down before Discord is asked to show it.

A kill folded into a summary is answered as sent once an edit shows it. Killed between the edit
landing and that answer being recorded, the next run finds the kill still owed; without a
record it would show the kill a second time (a new summary counting it again). So before each
edit that adds kills, the sender saves a step: the count the summary will show and the kills
that edit adds. After a restart the sender reads the summary's count back from Discord: the
steps it reaches are shown, and their kills are answered as sent without being shown again;
kills of a step the count does not reach never showed and are delivered as usual.

The summary's first post is written down too, just before it is made (no message id yet,
only its nonce): killed before Discord's answer is recorded, the next run posts those kills
again under that nonce, and Discord answers a nonce it has seen with the message it made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import msgspec

from engine.store.database import Database
from engine.store.repositories import StateRepository

__all__ = ["BattleLedger", "SavedBattle", "StoredBattleLedger"]

_PREFIX: Final = "battle:"


class SavedBattle(msgspec.Struct, frozen=True):
    destination: str
    # None: written just before the summary was posted, under `nonce`; whether Discord made
    # it is not known (see DiscordSender._shown_before).
    message_id: int | None
    # (the summary's kill count once this step shows, the folded kill ids it adds), in order.
    steps: tuple[tuple[int, tuple[int, ...]], ...]
    saved_at: datetime
    nonce: str | None = None

    @property
    def kill_ids(self) -> frozenset[int]:
        return frozenset(k for _, ids in self.steps for k in ids)

    def shown_at(self, count: int) -> frozenset[int]:
        """The kills a summary showing `count` kills shows: counts only grow, so every step
        up to that count."""
        return frozenset(k for step, ids in self.steps if step <= count for k in ids)


class BattleLedger(Protocol):
    async def load(self) -> dict[str, list[SavedBattle]]:
        """The saved summaries by destination, oldest first (recent ones: older ones are let
        go)."""
        ...

    async def save(
        self,
        destination: str,
        message_id: int | None,
        steps: tuple[tuple[int, tuple[int, ...]], ...],
        nonce: str | None = None,
    ) -> None:
        """Replace what is saved for summary `message_id` of `destination`: it shows `steps`.
        `message_id` None: the summary is about to be posted under `nonce`."""
        ...


@dataclass(slots=True)
class StoredBattleLedger:
    """In the state table, one key per summary: a fight that starts while the answers about
    the last one are not all recorded must not replace its record. Records older than `keep`
    are deleted when loaded: by then every kill of that fight was long answered."""

    database: Database
    keep: timedelta = timedelta(days=1)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def load(self) -> dict[str, list[SavedBattle]]:
        cutoff = self.clock() - self.keep
        found: dict[str, list[SavedBattle]] = {}
        async with self.database.session() as session, session.begin():
            state = StateRepository(session)
            for key, value in (await state.with_prefix(_PREFIX)).items():
                try:
                    battle = msgspec.json.decode(value, type=SavedBattle)
                except msgspec.DecodeError:
                    battle = None
                if battle is None or battle.saved_at < cutoff:
                    await state.delete(key)
                else:
                    found.setdefault(battle.destination, []).append(battle)
            for destination, battles in found.items():
                # A summary known to be posted makes the record of its posting moot.
                posted = {b.nonce for b in battles if b.message_id is not None}
                for moot in [b for b in battles if b.message_id is None and b.nonce in posted]:
                    await state.delete(_key(destination, moot.message_id, moot.nonce))
                    battles.remove(moot)
                battles.sort(key=lambda b: b.saved_at)
        return found

    async def save(
        self,
        destination: str,
        message_id: int | None,
        steps: tuple[tuple[int, tuple[int, ...]], ...],
        nonce: str | None = None,
    ) -> None:
        battle = SavedBattle(destination, message_id, steps, self.clock(), nonce)
        async with self.database.session() as session, session.begin():
            await StateRepository(session).set(
                _key(destination, message_id, nonce), msgspec.json.encode(battle).decode()
            )


def _key(destination: str, message_id: int | None, nonce: str | None) -> str:
    if message_id is None:
        return f"{_PREFIX}{destination}:n:{nonce}"
    return f"{_PREFIX}{destination}:{message_id}"
