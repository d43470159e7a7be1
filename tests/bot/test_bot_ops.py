"""The ops endpoint of Killwatch's bot modes, as real processes against the fake Discord:
`killwatch run` with a token, and a scale-out `killwatch bot` process on real Redis and
PostgreSQL. /healthz fails, naming the cause, while Discord's gateway stays down or the bot
process cannot read the kill stream, and passes again once they are back."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import URL

from engine.store.migrate import upgrade
from tests.bot.test_bot_mode import CHANNEL, GUILD, KILLS, OWNER, _subscribe_everything
from tests.bot.test_cli import _env
from tests.bot.test_ops_wiring import free_port
from tests.fakes.discord import Channel, FakeDiscord, Guild, Member
from tests.fakes.tcp_proxy import TcpProxy
from tests.scale.support import REDIS_URL, enriched_kills, kill_stream, redis_client
from tests.store.support import fresh_postgres_database

Report = dict[str, Any]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _guild() -> Guild:
    return Guild(GUILD, "Test Alliance", channels=(Channel(CHANNEL, "kills"),),
                 members=(Member(OWNER, "owner"),), owner_id=OWNER)


class Ops:
    """Killwatch running as a process, seen through its ops endpoint."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    async def health(
        self, wanted: Callable[[int, Report], bool], *, within: float = 60.0
    ) -> tuple[int, Report]:
        """Ask /healthz until its answer is `wanted`; the process must not end meanwhile."""
        async with asyncio.timeout(within), aiohttp.ClientSession() as http:
            while True:
                self._alive()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/healthz") as response:
                        answer = response.status, await response.json()
                    if wanted(*answer):
                        return answer
                await asyncio.sleep(0.1)

    async def metrics(
        self, wanted: Callable[[Samples], bool] = lambda _: True, *, within: float = 60.0
    ) -> Samples:
        async with asyncio.timeout(within), aiohttp.ClientSession() as http:
            while True:
                self._alive()
                async with http.get(self.url + "/metrics") as response:
                    found = _samples(await response.text())
                if wanted(found):
                    return found
                await asyncio.sleep(0.1)

    def _alive(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(f"Killwatch exited {self.process.returncode}:\n"
                                 + self.log.read_text()[-3000:])


@contextlib.asynccontextmanager
async def running(
    args: Sequence[str], cwd: Path, env: dict[str, str], port: int
) -> AsyncIterator[Ops]:
    """`killwatch ARGS` for the block; then SIGTERM, and it must exit 0 within 30 s."""
    log = cwd / "killwatch.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=cwd, env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )
    ops = Ops(process, port, log)
    try:
        yield ops
        ops._alive()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await process.wait()
        assert code == 0, log.read_text()[-3000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def _healthy(status: int, report: Report) -> bool:
    return status == 200


def _failing_on(prefix: str) -> Callable[[int, Report], bool]:
    def failing(status: int, report: Report) -> bool:
        return status == 503 and any(r.startswith(prefix) for r in report["reasons"])

    return failing


async def test_killwatch_run_serves_its_health_and_posts_and_fails_while_discord_is_gone(
    tmp_path,
):
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f"[discord]\ntest_guild_id = {GUILD}\n"
        f"[ops]\nport = {port}\ndiscord_grace_seconds = 1\n"
        "[engine]\nsde_check = false\n"
        # The first kill at once, the next ones a minute apart: the engine keeps running.
        f'[[sources]]\nkind = "replay"\nname = "slow"\npath = "{KILLS}"\n'
        "speed = 0.001\nmax_gap_seconds = 60\n"
    )
    (tmp_path / "data").mkdir()
    database = f"sqlite+aiosqlite:///{tmp_path}/data/killwatch.db"
    await upgrade(database)
    await _subscribe_everything(database)

    async with FakeDiscord(guilds=(_guild(),)) as fake:
        env = _env(fake.environment())
        async with running(["run"], tmp_path, env, port) as ops:
            status, ready = await ops.health(_healthy)
            found = await ops.metrics(
                lambda m: (_value(m, "killwatch_posts_total", outcome="sent") or 0) >= 1
            )
            await fake.drop_gateway()
            down_status, down = await ops.health(_failing_on("discord: "))
            while_down = await ops.metrics()
            fake.restore_gateway()
            back_status, back = await ops.health(_healthy)
            after = await ops.metrics()

    assert status == 200, ready
    assert ready["discord"]["connected"] is True
    assert [feed["name"] for feed in ready["feeds"]] == []  # a replay is not judged
    assert _value(found, "killwatch_engine_running") == 1
    assert _value(found, "killwatch_outbox_depth") is not None
    assert _value(found, "killwatch_posts_total", outcome="failed") == 0
    assert _value(found, "killwatch_discord_rate_limited_total") == 0
    assert _value(found, "killwatch_discord_connected") == 1
    assert (_value(found, "killwatch_match_seconds_count") or 0) >= 1  # the engine's observer
    assert _value(found, "killwatch_job_runs_total", job="retention") == 0  # scheduled, not due

    assert down_status == 503
    assert [r for r in down["reasons"] if r.startswith("discord: gateway disconnected for")]
    assert down["discord"]["connected"] is False
    assert _value(while_down, "killwatch_discord_connected") == 0
    assert (_value(while_down, "killwatch_discord_disconnected_seconds") or 0) > 1
    assert back_status == 200, back
    assert _value(after, "killwatch_discord_connected") == 1


def _through(proxy: TcpProxy) -> str:
    """The test Redis's URL, reached through `proxy`."""
    parts = urlsplit(REDIS_URL)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(netloc=f"{user}@" * bool(user) + f"127.0.0.1:{proxy.port}").geturl()


async def test_a_shard_process_is_healthy_while_it_reads_the_stream_and_not_without_redis(
    tmp_path,
):
    async with redis_client():  # skips the test, with the reason, when Redis is not there
        pass
    target = urlsplit(REDIS_URL)
    port = free_port()
    async with (
        fresh_postgres_database() as url,
        kill_stream() as stream,
        TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy,
        FakeDiscord(guilds=(_guild(),)) as fake,
    ):
        await upgrade(url)
        (tmp_path / "config.toml").write_text(
            f"[ops]\nport = {port}\nstream_stale_seconds = 1\n"
            "[engine]\nsde_check = false\n"
            f'[scale]\nredis_url = "{_through(proxy)}"\nstream = "{stream.name}"\n'
        )
        env = {**_env(fake.environment()), "KILLWATCH_DATABASE__URL": _rendered(url)}
        args = ["bot", "--shards", "0", "--shard-count", "1"]
        async with running(args, tmp_path, env, port) as ops:
            status, ready = await ops.health(_healthy)
            await stream.publish(enriched_kills(5))
            found = await ops.metrics(
                lambda m: _value(m, "killwatch_stream_entries_acked_total") == 5
            )
            await proxy.cut()
            down_status, down = await ops.health(_failing_on(f"stream {stream.name}: "))
            proxy.restore()
            back_status, back = await ops.health(_healthy)

    assert status == 200, ready
    assert ready["stream"]["name"] == stream.name
    assert ready["discord"]["connected"] is True
    assert _value(found, "killwatch_stream_entries_read_total") == 5
    assert _value(found, "killwatch_stream_consumer_running") == 1
    assert _value(found, "killwatch_discord_connected") == 1
    assert _value(found, "killwatch_outbox_depth") == 0
    assert _value(found, "killwatch_engine_running") is None  # no engine in this process
    assert down_status == 503
    [reason] = [r for r in down["reasons"] if r.startswith("stream")]
    assert reason.startswith(f"stream {stream.name}: no read for")
    assert "last error: " in reason
    assert down["discord"]["connected"] is True  # only Redis went away
    assert back_status == 200, back


def _rendered(url: URL) -> str:
    return url.render_as_string(hide_password=False)
