"""The Dockerfile and compose.yaml stay true to the code: every command they run exists, every
setting they give is a real key, the non-root user and health check are there, and the bot
processes of the example cover each Discord shard exactly once."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.cli import _parser
from bot.config import Settings
from engine.scale.shards import ShardRange

REPO = Path(__file__).resolve().parents[1]


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for line in lines
        if line and not line.startswith("#")
        for word, _, rest in [line.partition(" ")]
    ]


def _json_or_shell(argument: str) -> list[str]:
    return yaml.safe_load(argument) if argument.startswith("[") else shlex.split(argument)


def _assert_setting(name: str) -> None:
    """KILLWATCH_<SECTION>__<KEY> names a real setting."""
    match = re.fullmatch(r"KILLWATCH_([A-Z]+)__([A-Z_]+)", name)
    assert match, f"{name} is not KILLWATCH_<SECTION>__<KEY>"
    section, key = match.group(1).lower(), match.group(2).lower()
    assert section in Settings.model_fields, f"{name}: no [{section}] section"
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type)
    assert issubclass(model, BaseModel)
    assert key in model.model_fields, f"{name}: [{section}] has no key {key}"


def _assert_command(argv: list[str]) -> None:
    assert argv[0] == "killwatch", argv
    try:
        _parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"killwatch does not accept {shlex.join(argv)}")


def test_the_image_is_multi_stage_runs_as_a_user_and_checks_its_health():
    steps = _instructions()
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) >= 2, "build and run stages"
    assert all("slim" in image for image in froms)
    assert any(word == "COPY" and rest.startswith("--from=") for word, rest in steps)
    users = [rest for word, rest in steps if word == "USER"]
    assert users, "a USER instruction"
    assert users[-1] not in ("root", "0")
    [health] = [rest for word, rest in steps if word == "HEALTHCHECK"]
    check = _json_or_shell(health.split("CMD", 1)[1].strip())
    _assert_command(check)
    assert check[1] == "health"
    [command] = [rest for word, rest in steps if word == "CMD"]
    shell = _json_or_shell(command)
    assert shell[:2] == ["sh", "-c"]
    parts = [shlex.split(p) for p in shell[2].replace("exec ", "").split("&&")]
    assert [p[1] for p in parts] == ["migrate", "run"]
    for part in parts:
        _assert_command(part)


def test_what_the_image_copies_exists_and_its_settings_are_real_keys():
    for word, rest in _instructions():
        if word == "COPY" and not rest.startswith("--from="):
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such file"
        if word == "ENV":
            for name in re.findall(r"(KILLWATCH_[A-Z_]+)=", rest):
                if name != "KILLWATCH_CONFIG":
                    _assert_setting(name)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def test_every_killwatch_service_runs_a_real_command_with_real_settings(compose):
    services = compose["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "killwatch"}
    assert {s["command"][1] for s in ours.values()} == {"migrate", "ingest", "bot"}
    for service in ours.values():
        _assert_command(service["command"])
        for name in service["environment"]:
            _assert_setting(name)
        for secret in service.get("secrets", ()):
            assert secret in compose["secrets"]
    # The database and Redis the settings point at are services of the file.
    environment = next(iter(ours.values()))["environment"]
    assert "@postgres:" in environment["KILLWATCH_DATABASE__URL"]
    assert "//redis:" in environment["KILLWATCH_SCALE__REDIS_URL"]
    assert {"postgres", "redis"} <= set(services)


def test_the_bot_processes_cover_every_shard_exactly_once(compose):
    ranges = []
    for service in compose["services"].values():
        command = service.get("command") or []
        if command[:2] == ["killwatch", "bot"]:
            args = _parser().parse_args(command[1:])
            ranges.append(ShardRange.parse(args.shards, args.shard_count))
    assert len(ranges) >= 2
    counts = {r.count for r in ranges}
    assert len(counts) == 1
    [count] = counts
    covered = sorted(shard for r in ranges for shard in r.ids)
    assert covered == list(range(count))
