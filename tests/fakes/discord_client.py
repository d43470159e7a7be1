"""Running the real discord.py against the fake Discord: in-process, or from another process.

- `discord_pointed_at(api_base_url, gateway_url)`: a context manager that points discord.py's
  REST base (`discord.http.Route.BASE`, which also serves interaction callbacks and webhooks)
  and gateway (`DiscordWebSocket.DEFAULT_GATEWAY`) at the fake and restores them after;
  `patch_discord(monkeypatch, fake)` does the same through pytest's monkeypatch.
- `running_bot(bot, fake)`: starts any `discord.Client` (a `commands.Bot`, Killwatch's bot) as a
  task, waits until it is ready with every guild of the fake, and closes it cleanly after.
- `FakeDiscordThread(fake)`: the fake on its own event loop in a thread, for tests that run
  Killwatch as a subprocess. That process reads `discord.api_base_url` and
  `discord.gateway_url` from its configuration (`fake.environment()` gives them as
  KILLWATCH_DISCORD__API_BASE_URL / KILLWATCH_DISCORD__GATEWAY_URL with the token).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import discord
import discord.gateway
import discord.http
import pytest
import yarl

from tests.fakes.discord import FakeDiscord
from tests.fakes.threaded import FakeThread

__all__ = ["FakeDiscordThread", "discord_pointed_at", "patch_discord", "running_bot"]

ClientT = TypeVar("ClientT", bound=discord.Client)
T = TypeVar("T")


@contextlib.contextmanager
def discord_pointed_at(api_base_url: str, gateway_url: str) -> Iterator[None]:
    """discord.py talks to these URLs inside the block (process-wide: both are class attributes)."""
    route = discord.http.Route
    socket = discord.gateway.DiscordWebSocket
    saved = (route.BASE, socket.DEFAULT_GATEWAY)
    route.BASE = api_base_url
    socket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        route.BASE, socket.DEFAULT_GATEWAY = saved


def patch_discord(monkeypatch: pytest.MonkeyPatch, fake: FakeDiscord) -> None:
    """Point discord.py at the fake until the test ends."""
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base_url)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
    )


def _ready(bot: discord.Client, fake: FakeDiscord) -> bool:
    return bot.is_ready() and all(bot.get_guild(g.id) is not None for g in fake.guilds)


@contextlib.asynccontextmanager
async def running_bot(
    bot: ClientT,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    within: float = 10.0,
    point: bool = True,
) -> AsyncIterator[ClientT]:
    """Run `bot` against `fake` for the block: started, ready, every guild cached; then closed.

    A failure to start (a refused token, a privileged intent, an exception in `setup_hook`)
    is raised here rather than left in a task. `point=False` when the test has already
    pointed discord.py at the fake (e.g. with `patch_discord`).
    """
    pointing = (
        discord_pointed_at(fake.api_base_url, fake.gateway_url)
        if point
        else contextlib.nullcontext()
    )
    with pointing:
        task = asyncio.create_task(bot.start(token or fake.token), name="discord-bot")
        try:
            async with asyncio.timeout(within):
                while not _ready(bot, fake):
                    if task.done():
                        task.result()  # raises what stopped it
                        raise RuntimeError("the bot stopped before it was ready")
                    await asyncio.sleep(0.005)
            yield bot
        finally:
            await bot.close()
            async with asyncio.timeout(within):
                await asyncio.wait([task])
        # The block went well; a bot that crashed meanwhile must not pass unnoticed.
        if not task.cancelled() and task.exception() is not None:
            raise RuntimeError("the bot failed while running") from task.exception()


class FakeDiscordThread(FakeThread[FakeDiscord]):
    """A `FakeDiscord` served from its own thread and event loop.

    `with FakeDiscordThread(FakeDiscord(guilds=...)) as served:` then hand
    `served.fake.environment()` to a subprocess; `served.run(coro)` runs a coroutine on the
    fake's loop (e.g. `served.run(served.fake.dispatch(...))`), `await served.arun(coro)` does
    so from a test's own loop, and `served.call(fn)` runs a function there (a consistent
    snapshot of what the fake recorded: `served.call(lambda: len(served.fake.all_messages()))`).
    """

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__(fake, name="fake-discord")
