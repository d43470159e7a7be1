"""When a destination counts as being in a big fight, by the kills it received in a window."""

from __future__ import annotations

import pytest

from bot.battle_mode import BattleWatch
from tests.bot.render_kills import named_kills
from tests.bot.sender_support import deliveries
from tests.fakes.clock import FakeClock


@pytest.fixture(scope="module")
def owed():
    return deliveries(sorted(named_kills().values(), key=lambda k: k.id)[:12])


def test_more_kills_than_the_threshold_within_the_window_start_a_battle(owed):
    clock = FakeClock()
    watch = BattleWatch(threshold=5, window=60, quiet=120, clock=clock.now)
    assert watch.split("channel:1", owed[:3]) == (owed[:3], [])
    clock.time += 30
    one_by_one, folded = watch.split("channel:1", owed[3:8])
    assert (one_by_one, folded) == (owed[3:5], owed[5:8])  # the 6th kill in a minute tips it
    battle = watch.battle("channel:1")
    assert battle is not None
    assert battle.summary.kills == 6  # the summary starts with the fight so far
    assert watch.split("channel:1", owed[8:9]) == ([], owed[8:9])
    assert watch.split("channel:2", owed[:2]) == (owed[:2], [])  # others are not affected
    watch.end(battle)
    assert watch.split("channel:1", owed[9:12]) == (owed[9:12], [])  # counting starts afresh


def test_kills_spread_over_more_than_the_window_are_no_battle(owed):
    clock = FakeClock()
    watch = BattleWatch(threshold=3, window=60, quiet=120, clock=clock.now)
    for delivery in owed:
        assert watch.split("channel:1", [delivery]) == ([delivery], [])
        clock.time += 21  # 3 kills a minute: never more than the threshold
    assert watch.battles == []
    clock.time += 600
    watch.split("channel:2", owed[:1])
    assert list(watch._recent) == ["channel:2"]  # the quiet channel's kills were let go
