from __future__ import annotations

import json

import pytest

from engine.model import parse_killmail
from engine.sources import ReplaySource, bundled_sample


def _line(kill_id: int, when: str) -> str:
    return json.dumps({"killmail_id": kill_id, "esi": {"killmail_time": when}})


async def test_pacing_follows_killmail_time_times_the_speed_with_gaps_capped(tmp_path):
    path = tmp_path / "k.jsonl"
    path.write_text("\n".join([
        _line(1, "2026-01-01T00:00:00Z"),
        _line(2, "2026-01-01T00:01:00Z"),  # 60 s later -> 1 s at speed 60
        "",
        _line(3, "2026-01-01T05:00:00Z"),  # hours later -> capped at max_gap
        "garbage that is still handed on",
    ]))
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    source = ReplaySource(path, speed=60, max_gap=2.5, sleep=fake_sleep)
    async with source:
        raws = [raw async for raw in source.kills()]
    assert [r.where for r in raws] == ["k.jsonl:1", "k.jsonl:2", "k.jsonl:4", "k.jsonl:5"]
    assert waits == [1.0, 2.5]


async def test_full_speed_never_sleeps_on_the_pacing_clock(tmp_path):
    path = tmp_path / "k.jsonl"
    path.write_text(_line(1, "2026-01-01T00:00:00Z") + "\n" + _line(2, "2026-01-02T00:00:00Z"))

    async def forbidden(seconds: float) -> None:
        raise AssertionError("no pacing at full speed")

    async with ReplaySource(path, sleep=forbidden) as source:
        assert len([raw async for raw in source.kills()]) == 2


def test_speed_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="speed"):
        ReplaySource(tmp_path / "x", speed=0)


async def test_kills_before_opening_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="async with"):
        async for _ in ReplaySource(tmp_path / "x").kills():
            pass


async def test_the_bundled_sample_is_real_parseable_killmails():
    async with ReplaySource(bundled_sample()) as source:
        kills = [parse_killmail(raw.payload) async for raw in source.kills()]
    assert len(kills) == 40
    assert all(k.zkb is not None and k.zkb.total_value for k in kills)
