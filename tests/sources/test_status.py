"""SourceCounters: what a feed reports about itself, frozen into SourceStatus snapshots."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from engine.sources.status import SourceCounters, SourceStatus


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def wall() -> Wall:
    return Wall()


def test_a_new_source_reports_nothing_yet(wall: Wall) -> None:
    status = SourceCounters("main", "r2z2", wall).snapshot()
    assert status == SourceStatus(
        name="main",
        kind="r2z2",
        last_position=None,
        last_kill_time=None,
        last_uploaded_at=None,
        kills=0,
        kills_per_minute=0.0,
        errors={},
        backoff_seconds=0.0,
        connected=False,
        last_error=None,
        updated_at=None,
    )


def test_kills_move_the_position_and_times(wall: Wall) -> None:
    counters = SourceCounters("main", "r2z2", wall)
    killed = datetime(2026, 6, 1, 11, 58, tzinfo=UTC)
    uploaded = datetime(2026, 6, 1, 11, 59, tzinfo=UTC)
    counters.kill("900001", killed, uploaded)
    wall.advance(seconds=3)
    counters.kill(None)  # a kill without a position keeps the last one known
    status = counters.snapshot()
    assert (status.kills, status.last_position) == (2, "900001")
    assert (status.last_kill_time, status.last_uploaded_at) == (killed, uploaded)
    assert status.updated_at == wall.now


def test_errors_are_counted_by_kind_and_the_last_one_is_kept(wall: Wall) -> None:
    counters = SourceCounters("mirror", "redisq", wall)
    counters.error("timeout", "no answer")
    counters.error("http_5xx", "HTTP 502")
    counters.error("timeout", "no answer again")
    status = counters.snapshot()
    assert status.errors == {"timeout": 2, "http_5xx": 1}
    assert status.last_error == "timeout: no answer again"


def test_backing_off_disconnects_and_ok_reconnects_and_clears_the_wait(wall: Wall) -> None:
    counters = SourceCounters("w", "wanderer", wall)
    counters.ok()
    assert counters.snapshot().connected
    counters.backing_off(8.0)
    status = counters.snapshot()
    assert (status.connected, status.backoff_seconds) == (False, 8.0)
    counters.ok()
    status = counters.snapshot()
    assert (status.connected, status.backoff_seconds) == (True, 0.0)
    counters.disconnected()
    assert not counters.snapshot().connected


def test_kills_per_minute_counts_a_sliding_window(wall: Wall) -> None:
    counters = SourceCounters("main", "r2z2", wall, window=timedelta(minutes=5))
    for _ in range(50):  # 10 a minute for five minutes
        counters.kill(None)
        wall.advance(seconds=6)
    assert counters.snapshot().kills_per_minute == pytest.approx(10.0, rel=0.05)
    wall.advance(minutes=3)  # the oldest three minutes leave the window
    assert counters.snapshot().kills_per_minute == pytest.approx(4.0, rel=0.1)
    wall.advance(minutes=3)
    assert counters.snapshot().kills_per_minute == 0.0
    assert counters.snapshot().kills == 50


def test_a_first_burst_after_start_is_not_read_as_a_huge_rate(wall: Wall) -> None:
    counters = SourceCounters("main", "r2z2", wall)
    counters.kill(None)
    wall.advance(seconds=1)
    # One kill one second after start is one a minute, not sixty.
    assert counters.snapshot().kills_per_minute == 1.0


def test_a_catch_up_burst_keeps_memory_bounded_by_the_window(wall: Wall) -> None:
    counters = SourceCounters("main", "r2z2", wall, window=timedelta(minutes=1))
    for _ in range(120):
        for _ in range(100):
            counters.kill(None)
        wall.advance(seconds=1)
    assert counters.snapshot().kills_per_minute == pytest.approx(6000.0, rel=0.02)
    assert len(counters._buckets) <= 61


def test_a_snapshot_is_frozen_and_does_not_follow_later_changes(wall: Wall) -> None:
    counters = SourceCounters("main", "r2z2", wall)
    counters.error("timeout", "x")
    status = counters.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.kills = 3  # type: ignore[misc]
    counters.error("timeout", "y")
    status.errors["timeout"] = 99
    assert status.errors["timeout"] == 99
    assert counters.snapshot().errors == {"timeout": 2}


def test_the_window_must_be_positive(wall: Wall) -> None:
    with pytest.raises(ValueError, match="window"):
        SourceCounters("main", "r2z2", wall, window=timedelta(0))
