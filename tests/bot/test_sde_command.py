"""`killwatch sde update` as a user runs it: a real subprocess, a small SDE zip, a fake CCP."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.sde_command import render_report
from engine.enrich.sde import UniverseCounts, UpdateReport
from engine.enrich.universe import DATA_DIR_FILE, Universe
from tests.bot.test_cli import _env, killwatch
from tests.enrich.sde_support import fixture_rows, fixture_zip, serve, static, write_zip

LATEST = "/static-data/eve-online-static-data-latest-jsonl.zip"


async def _killwatch_async(*args: str, cwd: Path) -> tuple[int, str, str]:
    # The fake server lives in this event loop, so the command must not block it.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=_env(None),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_update_from_a_file_reports_the_changes_and_the_next_run_sees_none(tmp_path: Path):
    sde = fixture_zip(tmp_path / "sde.zip")
    data = tmp_path / "data"

    first = killwatch("sde", "update", "--from", str(sde), "--data-dir", str(data), cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert "build 3650286" in first.stdout
    assert "compared with bundled file:" in first.stdout
    assert "  systems              8437 -> 15      (-8422)" in first.stdout
    assert "  types               53289 -> 7       (-53282)" in first.stdout
    assert "  meta groups            13 -> 13\n" in first.stdout  # unchanged: no marker
    assert "Restart Killwatch" in first.stdout
    assert Universe.load(data_dir=data).system(30000142).name == "Jita"  # type: ignore[union-attr]

    again = killwatch("sde", "update", "--from", str(sde), "--data-dir", str(data), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"compared with {data / DATA_DIR_FILE}:" in again.stdout
    assert "  systems                15 -> 15\n" in again.stdout


def test_data_dir_defaults_to_data_in_the_working_directory(tmp_path: Path):
    sde = fixture_zip(tmp_path / "sde.zip")
    result = killwatch("sde", "update", "--from", str(sde), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / DATA_DIR_FILE).is_file()


def test_an_archive_without_a_needed_file_fails_without_a_traceback(tmp_path: Path):
    rows = fixture_rows()
    del rows["mapSolarSystems.jsonl"]
    sde = write_zip(tmp_path / "sde.zip", rows)
    data = tmp_path / "data"

    result = killwatch("sde", "update", "--from", str(sde), "--data-dir", str(data), cwd=tmp_path)

    assert result.returncode == 1
    assert "killwatch: sde update failed:" in result.stderr
    assert "lacks mapSolarSystems.jsonl" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (data / DATA_DIR_FILE).exists()


def test_an_unreadable_source_or_data_dir_fails_without_a_traceback(tmp_path: Path):
    missing = killwatch("sde", "update", "--from", str(tmp_path / "nope.zip"), cwd=tmp_path)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data directory should be")
    sde = fixture_zip(tmp_path / "sde.zip")
    unwritable = killwatch(
        "sde", "update", "--from", str(sde), "--data-dir", str(blocker), cwd=tmp_path
    )
    assert unwritable.returncode == 1
    assert f"cannot write to {blocker}" in unwritable.stderr
    assert "Traceback" not in unwritable.stderr


async def test_update_from_a_url_and_a_404(tmp_path: Path):
    body = await asyncio.to_thread(lambda: fixture_zip(tmp_path / "sde.zip").read_bytes())
    data = tmp_path / "data"
    routes = {LATEST: static(body), "/gone.zip": static(b"Not Found", status=404)}
    async with serve(routes) as base:
        code, out, err = await _killwatch_async(
            "sde", "update", "--from", base + LATEST, "--data-dir", str(data), cwd=tmp_path
        )
        assert code == 0, err
        assert "(-8422)" in out

        code, out, err = await _killwatch_async(
            "sde", "update", "--from", base + "/gone.zip", "--data-dir", str(data), cwd=tmp_path
        )
    assert code == 1
    assert "answered HTTP 404" in err
    assert "Traceback" not in err
    assert out == ""


def test_sde_is_listed_and_explains_itself(tmp_path: Path):
    listing = killwatch("--help", cwd=tmp_path)
    assert "sde" in listing.stdout
    result = killwatch("sde", "update", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "usage: killwatch sde update [-h] [--from FILE_OR_URL] [--data-dir DIR]" in result.stdout
    assert "eve-online-static-data-latest-jsonl.zip" in result.stdout


def test_report_lists_every_table_and_marks_only_changes():
    before = UniverseCounts(8437, 1175, 113, 6888, 53289, 1611, 48, 13, 27, 283)
    after = UniverseCounts(8440, 1175, 113, 6890, 53300, 1611, 48, 13, 27, 283)
    text = render_report(
        UpdateReport(Path("data/universe.msgpack.gz"), 876_544, "SDE build 1", before,
                     "bundled file", after)
    )
    lines = text.splitlines()
    assert lines[:2] == ["SDE build 1", "compared with bundled file:"]
    assert "  systems              8437 -> 8440    (+3)" in lines
    assert "  stargate links       6888 -> 6890    (+2)" in lines
    assert "  npc corporations      283 -> 283" in lines
    assert len([line for line in lines if "->" in line]) == 10
    assert lines[-2] == "wrote data/universe.msgpack.gz (856 KB)"
