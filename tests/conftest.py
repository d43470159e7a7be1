"""Shared fixtures: the recorded killmails, and paths into tests/data."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

DATA = Path(__file__).parent / "data"
KILLMAILS = DATA / "killmails.jsonl"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def fixture_lines() -> list[bytes]:
    return KILLMAILS.read_bytes().splitlines()


@pytest.fixture(scope="session")
def fixture_records(fixture_lines: list[bytes]) -> dict[int, dict[str, object]]:
    return {orjson.loads(line)["killmail_id"]: orjson.loads(line) for line in fixture_lines}
