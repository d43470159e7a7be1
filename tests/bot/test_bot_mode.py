"""`killwatch run` with a Discord token, as a real process against a fake Discord: the kills a
channel subscribed to arrive there once, and a restart posts nothing twice."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.model import KillmailRejected, parse_killmail
from engine.store.database import Database
from engine.subscriptions import Subscriptions
from tests.bot.test_cli import REPO, _env
from tests.fakes.discord import Channel, FakeDiscord, Guild, Member
from tests.fakes.discord_client import FakeDiscordThread

GUILD, CHANNEL, OWNER = 7100, 7101, 7102
KILLS = REPO / "tests" / "data" / "killmails.jsonl"
FILTER = "value >= 10b"


def _expected() -> set[int]:
    enricher = Enricher(Universe.load())
    wanted = set()
    for line in KILLS.read_bytes().splitlines():
        try:
            kill = enricher.enrich(parse_killmail(line))
        except KillmailRejected:
            continue
        if kill.value is not None and kill.value >= 10e9:
            wanted.add(kill.id)
    return wanted


async def _subscribe(url: str) -> None:
    universe = Universe.load()
    distances = Distances(universe)
    async with Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        await facade.create(f"channel:{CHANNEL}", GUILD, OWNER, text=FILTER)


def _run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )


def _posted(served: FakeDiscordThread) -> list[int]:
    def collect() -> list[int]:
        ids = []
        for message in served.fake.messages(CHANNEL):
            for embed in message.embeds:
                found = re.search(r"/kill/(\d+)/", str(embed.get("url", "")))
                if found:
                    ids.append(int(found.group(1)))
        return ids

    return served.call(collect)


def test_a_subscribed_channel_gets_each_matching_kill_once_across_restarts(tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[discord]\ntest_guild_id = {GUILD}\n'
        f'[[sources]]\nkind = "replay"\nname = "fixtures"\npath = "{KILLS}"\n'
    )
    guild = Guild(GUILD, "Test Alliance", channels=(Channel(CHANNEL, "kills"),),
                  members=(Member(OWNER, "owner"),), owner_id=OWNER)
    with FakeDiscordThread(FakeDiscord(guilds=(guild,))) as served:
        env = _env(served.fake.environment())
        url = f"sqlite+aiosqlite:///{tmp_path}/data/killwatch.db"
        assert subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, env=env,
                              capture_output=True, check=False).returncode == 0
        asyncio.run(_subscribe(url))

        first = _run(tmp_path, env)
        assert first.returncode == 0, first.stderr[-3000:]
        posted = _posted(served)
        assert sorted(posted) == sorted(_expected())
        assert len(posted) == len(set(posted)) > 5

        again = _run(tmp_path, env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert sorted(_posted(served)) == sorted(posted)  # a restart posts nothing twice

        commands = served.call(lambda: [c["name"] for c in served.fake.commands(GUILD)])
    assert {"watch", "sub", "dm"} <= set(commands)
    token = served.fake.token
    for output in (first.stdout, first.stderr, again.stdout, again.stderr):
        assert token not in output
    assert "logged in to Discord" in first.stderr
    assert orjson.dumps(sorted(posted))  # the ids are plain ints


def test_a_token_discord_refuses_is_said_plainly_and_never_printed(tmp_path):
    (tmp_path / "config.toml").write_text(
        '[[sources]]\nkind = "replay"\nname = "sample"\n'
    )
    wrong = "MTIz.wrong-token-that-must-not-show"
    with FakeDiscordThread(FakeDiscord(guilds=())) as served:
        env = _env({**served.fake.environment(), "KILLWATCH_DISCORD__TOKEN": wrong})
        assert subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, env=env,
                              capture_output=True, check=False).returncode == 0
        result = _run(tmp_path, env)
    assert result.returncode == 1
    assert "Discord refused the token" in result.stderr
    assert "Traceback" not in result.stderr
    assert wrong not in result.stdout + result.stderr


def test_sigterm_stops_the_bot_quickly_after_posting_what_it_read(tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[discord]\ntest_guild_id = {GUILD}\n'
        f'[[sources]]\nkind = "replay"\nname = "slow"\npath = "{KILLS}"\n'
        "speed = 0.001\nmax_gap_seconds = 60\n"
    )
    guild = Guild(GUILD, "Test Alliance", channels=(Channel(CHANNEL, "kills"),),
                  members=(Member(OWNER, "owner"),), owner_id=OWNER)
    with FakeDiscordThread(FakeDiscord(guilds=(guild,))) as served:
        env = _env(served.fake.environment())
        assert subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path, env=env,
                              capture_output=True, check=False).returncode == 0
        asyncio.run(_subscribe_everything(f"sqlite+aiosqlite:///{tmp_path}/data/killwatch.db"))
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not _posted(served) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _posted(served), "the first kill was never posted"
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
        assert process.returncode == 0, stderr[-2000:]
        assert time.monotonic() - started < 15
        assert "SIGTERM received" in stderr
        assert len(_posted(served)) == 1


async def _subscribe_everything(url: str) -> None:
    universe = Universe.load()
    distances = Distances(universe)
    async with Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        await facade.create(f"channel:{CHANNEL}", GUILD, OWNER, text="attackers >= 1")
