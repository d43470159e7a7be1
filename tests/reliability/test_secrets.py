"""Secrets stay secret when things go wrong: `killwatch run` as a real process, with a
recognisable Discord token, a channel that answers 403, ESI unreachable, bad and refused slash
commands and a SIGTERM — then every line it printed and everything it sent Discord is searched
for the token. The same for the database password, with PostgreSQL refusing the connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.enrich.distances import Distances
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.store.database import Database
from engine.subscriptions import Subscriptions
from tests.conftest import KILLMAILS
from tests.fakes.discord import Channel, FakeDiscord, Guild, Member
from tests.fakes.discord_client import FakeDiscordThread
from tests.store.support import POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]
# Shaped like a bot token; the last part is what a leak would most likely show.
TOKEN_SECRET = "Zr3l1ab1l1tyN33dl3-t0k3n-xq7"
TOKEN = f"MTIzNDU2Nzg5MDEy.GkWtch.{TOKEN_SECRET}"
PASSWORD = "pw-N33dl3-9c4e1f-never-print"

GUILD, KILLS, CLOSED, OWNER, MEMBER = 8100, 8101, 8102, 8103, 8104
MISSING_PERMISSIONS = 50013


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KILLWATCH_") and k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    env["KILLWATCH_LOGGING__LEVEL"] = "DEBUG"  # the most there is to leak
    env.update(extra)
    return env


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _leaks(texts: dict[str, str], *secrets: str) -> list[str]:
    return [f"{secret!r} in {where}" for where, text in texts.items() for secret in secrets
            if secret in text]


def _wait(condition: Callable[[], bool], within: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


async def _subscribe(url: str) -> None:
    universe = Universe.load()
    distances = Distances(universe)
    async with Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        for channel in (KILLS, CLOSED):
            await facade.create(f"channel:{channel}", GUILD, OWNER, text="attackers >= 1")


def _recorded(fake: FakeDiscord, interactions: list[int]) -> dict[str, str]:
    """Everything the bot sent Discord over REST (bodies and files, not the Authorization
    header, which must carry the token), every message as it stands and as it was, and
    every answer to an interaction."""
    found: dict[str, str] = {}
    for n, request in enumerate(fake.requests):
        body = json.dumps(request.json, default=str)
        files = b"".join(part.data for part in request.files).decode("utf-8", "replace")
        found[f"request {n} {request.route}"] = f"{request.path} {body} {files}"
    for message in fake.all_messages(include_deleted=True):
        found[f"message {message.id}"] = json.dumps(
            [message.content, message.embeds, message.revisions], default=str)
    for interaction_id in interactions:
        for n, response in enumerate(fake.interaction_responses(interaction_id)):
            found[f"interaction {interaction_id} answer {n}"] = json.dumps(
                dict(response.data), default=str)
    return found


def test_the_discord_token_is_never_printed_nor_sent_when_things_go_wrong(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text(
        f"[discord]\ntest_guild_id = {GUILD}\n"
        f'[[sources]]\nkind = "replay"\nname = "slow"\npath = "{KILLMAILS}"\n'
        # The first kill at once, the next a minute later: the bot stays up for the commands.
        "speed = 0.001\nmax_gap_seconds = 60\n"
    )
    guild = Guild(GUILD, "Secret Keepers",
                  channels=(Channel(KILLS, "kills"), Channel(CLOSED, "closed", position=1)),
                  members=(Member(OWNER, "owner"), Member(MEMBER, "member")), owner_id=OWNER)
    interactions: list[int] = []
    with FakeDiscordThread(FakeDiscord(guilds=(guild,), token=TOKEN)) as served:
        fake = served.fake
        served.call(lambda: fake.fail_channel(CLOSED, MISSING_PERMISSIONS))
        env = _env(
            **fake.environment(),
            KILLWATCH_ESI__ENABLED="true",
            KILLWATCH_ESI__URL=f"http://127.0.0.1:{_closed_port()}/",  # ESI unreachable
            KILLWATCH_ESI__NAMES_TIMEOUT_SECONDS="0.2",
        )
        assert env["KILLWATCH_DISCORD__TOKEN"] == TOKEN
        migrated = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, check=False)
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        asyncio.run(_subscribe(f"sqlite+aiosqlite:///{tmp_path}/data/killwatch.db"))

        out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with out.open("w") as stdout_file, err.open("w") as stderr_file:
            process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path,
                                       env=env, stdout=stdout_file, stderr=stderr_file)
        posts = ("POST", "/channels/{channel_id}/messages")

        def posted_and_refused() -> bool:
            return bool(fake.messages(KILLS)) and any(
                r.status == 403 for r in fake.requests_to(*posts))

        try:
            _wait(lambda: served.call(posted_and_refused), 60, "a kill posted, and a 403", err)
            for user, command, options in (
                (OWNER, "sub add", {"filter": "valeu >= 1b and @everyone"}),  # bad filter
                (MEMBER, "sub add", {"filter": "value >= 1b"}),  # no permission
                (MEMBER, "killwatch status", {}),  # no permission
                (OWNER, "sub test", {"filter": "value >= 1b"}),
                (OWNER, "kills recent", {"entity": "\u00b2"}),
                (OWNER, "killwatch status", {}),
            ):
                interaction = served.run(fake.slash(command, user_id=user, channel_id=KILLS,
                                                    options=options))
                interactions.append(interaction.id)

                def answered(found: Any = interaction) -> bool:
                    return found.original is not None and not found.original.loading

                _wait(lambda answered=answered: served.call(answered), 15, f"/{command}", err)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            process.kill()
        stdout, stderr = out.read_text(), err.read_text()
        assert process.returncode == 0, stderr[-3000:]
        recorded = served.call(lambda: _recorded(fake, interactions))

    # Things did go wrong, and were reported.
    assert "SIGTERM received" in stderr
    assert str(MISSING_PERMISSIONS) in stderr or "Missing Permissions" in stderr, stderr[-3000:]
    assert "That filter cannot be read" in "".join(recorded.values())
    assert "You need the **Manage Server** permission" in "".join(recorded.values())
    assert len(recorded) > 10
    texts = {"stdout": stdout, "stderr": stderr, **recorded}
    assert _leaks(texts, TOKEN, TOKEN_SECRET) == []


@contextlib.contextmanager
def _processes(commands: dict[str, list[str]], cwd: Path, env: dict[str, str]) -> Iterator[
        dict[str, subprocess.Popen[str]]]:
    """Several `killwatch` commands at once (each starts a Python; in turn they would be slow)."""
    started = {
        name: subprocess.Popen([sys.executable, "-m", "bot", *argv], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, argv in commands.items()
    }
    try:
        yield started
    finally:
        for process in started.values():
            process.kill()


def test_the_database_password_is_never_printed_when_postgresql_refuses(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[[sources]]\nkind = "replay"\nname = "sample"\n')
    nobody = POSTGRES_URL.set(username="killwatch_nobody", password=None, database="nowhere")
    urls = {
        "closed port": f"postgresql+asyncpg://killwatch@127.0.0.1:{_closed_port()}/killwatch",
        # A live server that refuses the role (skipped by nothing: an unreachable server
        # refuses just the same, through another error path).
        "refused role": nobody.render_as_string(hide_password=False),
    }
    outputs: dict[str, str] = {}
    for label, url in urls.items():
        env = _env(KILLWATCH_DATABASE__URL=url, KILLWATCH_DATABASE__PASSWORD=PASSWORD,
                   KILLWATCH_DISCORD__TOKEN=TOKEN, KILLWATCH_ESI__ENABLED="false")
        commands = {"run": ["run"], "migrate": ["migrate"], "status": ["status"],
                    "check-config": ["check-config"]}
        with _processes(commands, tmp_path, env) as running:
            for name, process in running.items():
                stdout, stderr = process.communicate(timeout=60)
                outputs[f"{label}: {name} (exit {process.returncode})"] = stdout + stderr
                if name != "check-config":
                    assert process.returncode != 0, (label, name, stderr[-2000:])
    # check-config shows the effective configuration, the secrets masked.
    shown = next(text for where, text in outputs.items() if "check-config" in where)
    assert "killwatch_nobody" in shown or "killwatch@127.0.0.1" in shown
    assert _leaks(outputs, PASSWORD, TOKEN, TOKEN_SECRET) == []
