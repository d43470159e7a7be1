"""Each etiquette rule alone, on a fake clock: error limit, buckets, retries, breaker."""

from __future__ import annotations

import pytest

from engine.esi.limits import (
    BreakerState,
    CircuitBreaker,
    ErrorLimitGate,
    RateLimitBuckets,
    RetryPolicy,
    parse_rate_limit,
)
from tests.fakes.clock import FakeClock


def _errors(remain: int, reset: int) -> dict[str, str]:
    return {"X-ESI-Error-Limit-Remain": str(remain), "X-ESI-Error-Limit-Reset": str(reset)}


# --- error limit ---


def test_error_gate_lets_calls_through_while_errors_remain_above_the_floor() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock, floor=10)
    gate.observe(_errors(11, 40))
    assert gate.delay() == 0.0
    assert gate.remain == 11


async def test_error_gate_holds_calls_at_the_floor_until_the_window_resets() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock, floor=10)
    gate.observe(_errors(10, 40))
    assert gate.delay() == pytest.approx(40.0)
    assert await gate.wait() == pytest.approx(40.0)
    assert clock.sleeps == [pytest.approx(40.0)]
    # A new window: nothing known about it yet, so calls go.
    assert gate.remain is None
    assert gate.delay() == 0.0


def test_error_gate_floor_is_configurable() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock, floor=2)
    gate.observe(_errors(3, 30))
    assert gate.delay() == 0.0
    gate.observe(_errors(2, 29))
    assert gate.delay() == pytest.approx(29.0)


def test_a_420_blocks_until_the_reset_even_without_a_remain_header() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock)
    gate.locked_out({"X-ESI-Error-Limit-Reset": "17"})
    assert gate.delay() == pytest.approx(17.0)
    assert gate.remain == 0
    clock.time += 17
    assert gate.delay() == 0.0


def test_a_420_without_any_header_waits_a_whole_minute() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock)
    gate.locked_out({})
    assert gate.delay() == pytest.approx(60.0)


def test_a_bogus_reset_header_cannot_park_the_client_for_hours() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock, max_wait=120.0)
    gate.locked_out({"X-ESI-Error-Limit-Reset": "86400"})
    assert gate.delay() == pytest.approx(120.0)


def test_unreadable_error_headers_are_ignored() -> None:
    clock = FakeClock()
    gate = ErrorLimitGate(clock.clock)
    gate.observe({"X-ESI-Error-Limit-Remain": "lots", "X-ESI-Error-Limit-Reset": "-4"})
    assert gate.remain is None
    assert gate.reset_in is None
    assert gate.delay() == 0.0


# --- token buckets ---


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("150/15m", (150, 900.0)),
        ("20/1s", (20, 1.0)),
        ("600/h", (600, 3600.0)),
        (" 10 / 2d ", (10, 172800.0)),
        ("0/15m", None),
        ("150 per 15m", None),
        ("", None),
        (None, None),
    ],
)
def test_rate_limit_header_parsing(raw: str | None, parsed: tuple[int, float] | None) -> None:
    assert parse_rate_limit(raw) == parsed


async def test_an_empty_bucket_waits_one_token_refill_instead_of_earning_a_429() -> None:
    clock = FakeClock()
    buckets = RateLimitBuckets(clock.clock)
    headers = {"X-Ratelimit-Limit": "150/15m", "X-Ratelimit-Remaining": "0"}
    buckets.observe("names", headers)
    assert buckets.delay("names") == pytest.approx(6.0)  # 900 s / 150 tokens
    assert await buckets.wait("names") == pytest.approx(6.0)
    assert buckets.delay("names") == 0.0


def test_a_bucket_with_tokens_left_does_not_wait() -> None:
    clock = FakeClock()
    buckets = RateLimitBuckets(clock.clock)
    buckets.observe("names", {"X-Ratelimit-Limit": "150/15m", "X-Ratelimit-Remaining": "3"})
    assert buckets.delay("names") == 0.0
    assert buckets.remaining("names") == 3


def test_a_429_blocks_the_bucket_for_its_retry_after() -> None:
    clock = FakeClock()
    buckets = RateLimitBuckets(clock.clock)
    assert buckets.too_many("prices", {"Retry-After": "12"}) == 12.0
    assert buckets.delay("prices") == pytest.approx(12.0)
    assert buckets.delay("names") == 0.0  # another route, another bucket


def test_routes_of_one_group_share_a_bucket() -> None:
    clock = FakeClock()
    buckets = RateLimitBuckets(clock.clock)
    group = {"X-Ratelimit-Group": "universe"}
    buckets.observe("names", group)
    buckets.observe("ids", group)
    buckets.too_many("names", {**group, "Retry-After": "9"})
    assert buckets.delay("ids") == pytest.approx(9.0)


# --- retries ---


def test_retry_policy_gives_each_call_its_own_backoff() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=30.0, rand=lambda: 0.5)
    first, second = policy.backoff(), policy.backoff()
    assert [first.next(), first.next(), first.next()] == [1.0, 2.0, 4.0]
    assert second.next() == 1.0


def test_retry_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


# --- circuit breaker ---


def test_breaker_opens_after_the_threshold_of_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock.clock, threshold=3, cool_down=30)
    for _ in range(2):
        assert breaker.admit() is False
        breaker.failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.admit() is None
    assert breaker.retry_in() == pytest.approx(30.0)


def test_a_success_resets_the_count_of_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock.clock, threshold=2)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state is BreakerState.CLOSED


def test_after_the_cool_down_exactly_one_trial_goes_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock.clock, threshold=1, cool_down=30)
    breaker.failure()
    clock.time += 29.9
    assert breaker.admit() is None
    clock.time += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit() is True
    assert breaker.admit() is None  # the others still fail fast
    breaker.success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.admit() is False


def test_a_failed_trial_opens_the_breaker_for_another_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock.clock, threshold=1, cool_down=30)
    breaker.failure()
    clock.time += 30
    assert breaker.admit() is True
    breaker.failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_in() == pytest.approx(30.0)
    assert breaker.opened == 2


def test_an_abandoned_trial_lets_the_next_call_try() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(clock.clock, threshold=1, cool_down=30)
    breaker.failure()
    clock.time += 30
    assert breaker.admit() is True
    breaker.abandon_trial()
    assert breaker.admit() is True
