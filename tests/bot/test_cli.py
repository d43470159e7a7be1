"""The `killwatch` command as a user runs it: a real subprocess in a scratch directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "MTIzNDU2Nzg5.cli-test-token-do-not-log"


def killwatch(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KILLWATCH_") and k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    env["KILLWATCH_ESI__ENABLED"] = "false"  # no network in tests; ESI has its own fakes
    env.update(extra or {})
    return env


@pytest.mark.parametrize("command", ["run", "replay", "migrate", "check-config", "health"])
def test_every_subcommand_explains_itself(tmp_path, command):
    result = killwatch(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert f"usage: killwatch {command}" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_replay_prints_one_line_per_kill_and_a_summary(tmp_path):
    result = killwatch("replay", str(REPO / "tests/data/killmails.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 374  # 377 lines, 3 without a killmail body
    assert any("Keepstar" in line and "192b ISK" in line and "3753 attackers" in line
               for line in lines)
    assert all(line.endswith("/") and "https://zkillboard.com/kill/" in line for line in lines)
    assert "rejected 3 (missing_body 3)" in result.stderr
    assert not (tmp_path / "data").exists()  # the configured database was not touched


SAMPLE = '[[sources]]\nkind = "replay"\nname = "sample"\n'


def test_run_refuses_an_unmigrated_database_then_runs_after_migrate(tmp_path):
    (tmp_path / "config.toml").write_text(SAMPLE)
    refused = killwatch("run", cwd=tmp_path)
    assert refused.returncode == 1
    assert "killwatch migrate" in refused.stderr

    assert killwatch("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "data" / "killwatch.db").is_file()
    first = killwatch("run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == 40  # the bundled sample

    again = killwatch("run", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout == ""  # a restart posts nothing twice
    assert "duplicates 40" in again.stderr

    status = killwatch("status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert ": stopped" in status.stdout
    assert "feed sample (replay): at 40" in status.stdout
    assert "duplicates 40" in status.stdout


def test_status_before_any_run_says_so(tmp_path):
    assert killwatch("migrate", cwd=tmp_path).returncode == 0
    result = killwatch("status", cwd=tmp_path)
    assert result.returncode == 0
    assert "has not run against this database yet" in result.stdout


def test_run_follows_r2z2_by_default_and_says_plainly_when_it_is_unreachable(tmp_path):
    # Nothing listens on port 9 here: every connection is refused at once.
    (tmp_path / "config.toml").write_text('[feeds]\nconnect_timeout_seconds = 0.5\n')
    env = _env({"KILLWATCH_SOURCES": '[{"kind": "r2z2", "url": "http://127.0.0.1:9/ephemeral"}]'})
    assert killwatch("migrate", cwd=tmp_path, env=env).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stderr is not None
        lines = [process.stderr.readline()]
        while "retrying in" not in lines[-1]:
            lines.append(process.stderr.readline())
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=15)
    finally:
        process.kill()
    stderr = "".join(lines) + rest
    assert process.returncode == 0
    assert "r2z2: sequence.json: cannot connect to 127.0.0.1:9" in stderr
    assert "retrying in" in stderr
    assert "Traceback" not in stderr


def test_check_config_masks_secrets_and_rejects_bad_values(tmp_path):
    ok = killwatch("check-config", cwd=tmp_path, env={"DISCORD_TOKEN": TOKEN})
    assert ok.returncode == 0
    assert '"token": "**********"' in ok.stdout
    assert TOKEN not in ok.stdout + ok.stderr

    (tmp_path / "bad.toml").write_text('[logging]\nlevel = "LOUD"\n')
    bad = killwatch("--config", "bad.toml", "check-config", cwd=tmp_path)
    assert bad.returncode == 2
    assert "logging.level = 'LOUD'" in bad.stderr
    assert "'DEBUG', 'INFO', 'WARNING' or 'ERROR'" in bad.stderr


def test_killwatch_config_names_the_file(tmp_path):
    (tmp_path / "mine.toml").write_text("[engine]\nbatch_size = 17\n")
    result = killwatch("check-config", cwd=tmp_path, env={"KILLWATCH_CONFIG": "mine.toml"})
    assert '"batch_size": 17' in result.stdout


def test_sigterm_stops_a_paced_run_quickly_and_cleanly(tmp_path):
    (tmp_path / "slow.toml").write_text(
        '[[sources]]\nkind = "replay"\nspeed = 0.001\nmax_gap_seconds = 30\n'
    )
    env = _env({"KILLWATCH_CONFIG": "slow.toml"})
    assert killwatch("migrate", cwd=tmp_path, env=env).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = process.stdout.readline()  # the first kill prints at once, then a long wait
        assert "https://zkillboard.com/kill/" in first
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0
    assert time.monotonic() - started < 10
    assert "SIGTERM received" in stderr
    assert "new 1," in stderr


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    env = {
        "KILLWATCH_DATABASE__URL": "postgresql+asyncpg://killwatch@127.0.0.1:9/killwatch",
        "KILLWATCH_DATABASE__PASSWORD": "hunter2-do-not-print",
    }
    for command in ("migrate", "run", "status"):
        result = killwatch(command, cwd=tmp_path, env=env)
        assert result.returncode == 1, command
        assert "the database cannot be used" in result.stderr
        assert "Traceback" not in result.stderr
        assert "hunter2" not in result.stdout + result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _running(tmp_path: Path, env: dict[str, str], first_line: str) -> subprocess.Popen[str]:
    assert killwatch("migrate", cwd=tmp_path, env=env).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    while first_line not in (line := process.stderr.readline()):
        assert line, "killwatch run ended early"
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=15)
    finally:
        process.kill()


def test_health_asks_the_running_process_on_the_configured_port(tmp_path):
    port = _free_port()
    (tmp_path / "config.toml").write_text(
        '[[sources]]\nkind = "replay"\nspeed = 0.001\nmax_gap_seconds = 30\n'
        f'[ops]\nhost = "0.0.0.0"\nport = {port}\n'
    )
    env = _env(None)
    process = _running(tmp_path, env, "health and metrics on")
    try:
        healthy = killwatch("health", cwd=tmp_path, env=env)
    finally:
        _stop(process)
    assert (healthy.returncode, healthy.stdout) == (0, "healthy\n")
    gone = killwatch("health", "--timeout", "2", cwd=tmp_path, env=env)
    assert gone.returncode == 1
    assert gone.stdout.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz did not answer")


def test_health_says_why_a_process_with_a_dead_feed_is_unhealthy(tmp_path):
    port = _free_port()
    (tmp_path / "config.toml").write_text(
        '[feeds]\nconnect_timeout_seconds = 0.5\n'
        f'[ops]\nport = {port}\nfeed_stale_minutes = 0.01\n'
    )
    env = _env({"KILLWATCH_SOURCES": '[{"kind": "r2z2", "url": "http://127.0.0.1:9/ephemeral"}]'})
    process = _running(tmp_path, env, "retrying in")
    try:
        time.sleep(1)  # past the 0.6 s staleness limit, so the verdict cannot be "healthy"
        verdict = killwatch("health", cwd=tmp_path, env=env)
    finally:
        _stop(process)
    assert verdict.returncode == 1
    assert verdict.stdout.startswith("unhealthy: ")
    assert "r2z2" in verdict.stdout


def test_health_with_the_endpoint_off_says_how_to_turn_it_on(tmp_path):
    result = killwatch("health", cwd=tmp_path)
    assert result.returncode == 2
    assert "[ops] port = 0" in result.stderr
