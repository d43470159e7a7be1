"""When a destination is in a big fight, and the live summary it gets meanwhile.

A destination receiving more than `threshold` kills within `window` seconds switches to one
summary message edited as kills arrive (see `bot.render.battle`), instead of a flood of
posts; once no kill has come for `quiet` seconds it goes back to posting each kill. This
module keeps the counts and the state; the sender does the posting and editing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import discord

from bot.pacing import Clock
from bot.render import BattleSummary
from engine.dispatch.sender import Delivery
from engine.model import EnrichedKill

__all__ = ["NOTICE", "OVER", "Battle", "BattleWatch"]

NOTICE: Final = (
    "**Big fight:** switching to a live summary ({count} kills in the last minute). This "
    "message is updated as kills arrive; single posts resume when it quiets down."
)
OVER: Final = "**Fight over:** {count} kills in this summary. Back to posting each kill."


@dataclass(eq=False, slots=True)
class Battle:
    destination: str
    summary: BattleSummary
    started: float
    last_kill: float
    message: discord.Message | None = None  # None until posted (or after it was deleted)
    nonce: str | None = None  # of the summary's post, kept so a retried post is made once
    kept: bool = False  # a task keeps the message up to date
    dirty: bool = False  # kills folded in since the last edit
    last_edit: float = -math.inf
    edits: int = 0
    folded: int = 0  # deliveries folded into the summary
    shown: int = 0  # of those, how many the message showed at its last successful write
    # Ids of kills folded in but not yet in a saved step (see bot.battle_ledger), and the
    # steps saved so far: (count shown once the step lands, its kill ids).
    unsaved: list[int] = field(default_factory=list)
    steps: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)


class BattleWatch:
    """Counts the kills each destination receives; decides who is in a battle."""

    def __init__(self, *, threshold: int, window: float, quiet: float, clock: Clock) -> None:
        if threshold < 1 or window <= 0 or quiet <= 0:
            raise ValueError("threshold, window and quiet must be positive")
        self.threshold = threshold
        self.window = window
        self.quiet = quiet
        self._clock = clock
        # Only the last threshold + 1 arrivals matter: more than `threshold` within a window.
        self._recent: dict[str, deque[tuple[float, EnrichedKill]]] = {}
        self._battles: dict[str, Battle] = {}
        self._swept = clock()

    def split(
        self, destination: str, deliveries: Sequence[Delivery]
    ) -> tuple[list[Delivery], list[Delivery]]:
        """Count the arrivals; (those to post one by one, those to fold into the summary)."""
        now = self._clock()
        if now - self._swept > self.window:
            self._sweep(now)
        battle = self._battles.get(destination)
        if battle is not None:
            battle.last_kill = now
            return [], list(deliveries)
        recent = self._recent.setdefault(destination, deque(maxlen=self.threshold + 1))
        for index, delivery in enumerate(deliveries):
            recent.append((now, delivery.kill))
            while recent and now - recent[0][0] > self.window:
                recent.popleft()
            if len(recent) > self.threshold:
                summary = BattleSummary()
                for _, kill in recent:
                    summary.add(kill)
                self._battles[destination] = Battle(destination, summary, now, now)
                del self._recent[destination]
                return list(deliveries[:index]), list(deliveries[index:])
        if not recent:
            del self._recent[destination]
        return list(deliveries), []

    def _sweep(self, now: float) -> None:
        """Forget the kills of destinations that have had none for a window: the kills they
        hold would otherwise stay in memory for good."""
        self._swept = now
        stale = [d for d, recent in self._recent.items() if now - recent[-1][0] > self.window]
        for destination in stale:
            del self._recent[destination]

    def battle(self, destination: str) -> Battle | None:
        return self._battles.get(destination)

    def fold(self, battle: Battle, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            if battle.summary.add(delivery.kill):
                battle.dirty = True
            battle.folded += 1
            battle.unsaved.append(delivery.kill.id)

    def quiet_since(self, battle: Battle) -> float:
        return self._clock() - battle.last_kill

    def end(self, battle: Battle) -> None:
        if self._battles.get(battle.destination) is battle:
            del self._battles[battle.destination]

    @property
    def battles(self) -> list[Battle]:
        return list(self._battles.values())
