"""ESI fixtures: a fake ESI on a fake clock, and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from engine.esi.client import EsiClient
from engine.esi.limits import RetryPolicy
from engine.sources.http import HttpTimeouts
from tests.fakes.clock import FakeClock
from tests.fakes.esi import FakeEsi

USER_AGENT = "Killwatch/test (EVE Online killmail bot; ops@example.org)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def esi(clock: FakeClock) -> AsyncIterator[FakeEsi]:
    # The fake's error window and buckets run on the test's clock: a client sleeping through a
    # reset on that clock finds the window renewed.
    async with FakeEsi(now=clock.now) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_client(
    http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock, **options: Any
) -> EsiClient:
    """A client on the fake with deterministic backoff (no jitter) and short timeouts."""
    settings: dict[str, Any] = {
        "base_url": esi.url,
        "user_agent": USER_AGENT,
        "clock": clock.clock,
        "retry": RetryPolicy(rand=lambda: 0.5),
        "timeouts": HttpTimeouts(connect=2.0, read=2.0),
    }
    settings.update(options)
    return EsiClient(http, **settings)


@pytest.fixture
def client(http: aiohttp.ClientSession, esi: FakeEsi, clock: FakeClock) -> EsiClient:
    return make_client(http, esi, clock)
