"""Waiting in tests for something a fake server or a fake clock will make true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Poll `condition` until it holds; the fakes have no event to wait on for every fact."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a predicate over fake state, not an event
            await asyncio.sleep(0.001)
