"""`killwatch ingest` and `killwatch bot` as a user runs them, and `run` left as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from tests.scale.support import migrated_postgres

REPO = Path(__file__).resolve().parents[2]
SQLITE = {"KILLWATCH_DATABASE__URL": "sqlite+aiosqlite:///./kw.db"}


def killwatch(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("KILLWATCH_") and k != "DISCORD_TOKEN"}
    clean.update(PYTHONPATH=str(REPO), KILLWATCH_ESI__ENABLED="false", **env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", [["ingest"], ["bot", "--shards", "0-0", "--shard-count", "1"]])
def test_scale_out_commands_refuse_sqlite_in_one_line(tmp_path, command):
    result = killwatch(*command, cwd=tmp_path, env={**SQLITE, "DISCORD_TOKEN": "t"})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "needs PostgreSQL" in result.stderr


def test_bot_refuses_shards_outside_the_count_and_a_missing_token(tmp_path):
    result = killwatch("bot", "--shards", "2-4", "--shard-count", "4", cwd=tmp_path, env=SQLITE)
    assert result.returncode == 2
    assert "not within 0-3" in result.stderr
    result = killwatch("bot", "--shards", "0-1", "--shard-count", "4", cwd=tmp_path, env=SQLITE)
    assert result.returncode == 2
    assert "needs a Discord token" in result.stderr


async def test_unreachable_redis_is_one_line_without_its_password(tmp_path):
    async with migrated_postgres() as url:
        env = {
            "KILLWATCH_DATABASE__URL": url.render_as_string(hide_password=False),
            # Port 1: nothing listens there.
            "KILLWATCH_SCALE__REDIS_URL": "redis://:hunter2-secret@127.0.0.1:1/0",
        }
        result = killwatch("ingest", cwd=tmp_path, env=env)
    assert result.returncode == 1, result.stderr
    assert "Redis at redis://127.0.0.1:1/0 cannot be used" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_single_process_mode_never_loads_redis(tmp_path):
    probe = ("import sys, bot.cli, bot.serve, bot.runtime, bot.layout; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'redis'))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_the_redis_password_is_a_secret(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("KILLWATCH_"):
            monkeypatch.delenv(name)
    path = tmp_path / "c.toml"
    path.write_text('[scale]\nredis_password = "hunter2"\n')
    with pytest.raises(ConfigError, match=r"scale\.redis_password may not be written"):
        load_settings(path)
    path.write_text('[scale]\nstream = "kills"\n')
    monkeypatch.setenv("KILLWATCH_SCALE__REDIS_PASSWORD", "hunter2")
    settings = load_settings(path)
    assert settings.redis_password() == "hunter2"
    assert "hunter2" in settings.secrets()  # scrubbed from every log line
    assert "hunter2" not in settings.model_dump_json()
