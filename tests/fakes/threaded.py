"""Any fake server (an async context manager) on its own event loop in a thread.

For tests that run Killwatch as a subprocess and must keep the fake answering while the test
itself blocks (waits for a process, sleeps): ``with FakeThread(FakeR2Z2()) as served:`` then
``served.fake.url``; ``served.call(fn)`` runs a plain function on the fake's loop (a consistent
snapshot, or a change such as ``served.fake.publish(line)``), ``served.run(coro)`` a coroutine
to its end, ``served.submit(coro)`` one that goes on beside the server (e.g. a publisher).
`tests.fakes.discord_client.FakeDiscordThread` is the same for the fake Discord.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

__all__ = ["FakeThread"]

FakeT = TypeVar("FakeT", bound=AbstractAsyncContextManager[Any])
T = TypeVar("T")


class FakeThread(Generic[FakeT]):
    """`fake` entered on a private loop in a daemon thread for the ``with`` block."""

    def __init__(self, fake: FakeT, *, name: str = "fake") -> None:
        self.fake = fake
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> Self:
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(started),), name=self._name, daemon=True
        )
        self._thread.start()
        started.result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)

    async def _serve(self, started: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self.fake:
                started.set_result(None)
                await self._stop.wait()
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise

    def run(self, coro: Coroutine[Any, Any, T], *, within: float = 10.0) -> T:
        """Run a coroutine on the fake's loop, from any other thread; its result."""
        return self.submit(coro).result(timeout=within)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Start a coroutine on the fake's loop (a task beside the server); its future.
        Cancel the future (or leave the block) to stop it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[], T], *, within: float = 10.0) -> T:
        """Run a plain function on the fake's loop (so it sees and leaves a consistent state)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), within=within)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """`run`, awaited from another event loop."""
        return await asyncio.wrap_future(self.submit(coro))

    async def acall(self, fn: Callable[[], T]) -> T:
        """`call`, awaited from another event loop."""

        async def wrapper() -> T:
            return fn()

        return await self.arun(wrapper())
