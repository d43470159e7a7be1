"""The daily SDE check against a local fake of CCP's static-data site."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from engine.enrich.sde import SdeDownloadError
from engine.enrich.sde.check import SdeCheck, archive_url, build_in_use, latest_build
from engine.enrich.universe import DATA_DIR_FILE, Universe
from tests.enrich.sde_support import Handler, fixture_rows, jsonl, serve, static, write_zip

IN_USE = 3650286  # the fixture rows' and the bundled universe's build
NEWER = 3651000
VERSION = "/static-data/tranquility/latest.jsonl"
ARCHIVE = f"/static-data/tranquility/eve-online-static-data-{NEWER}-jsonl.zip"


def marker(build: int) -> Handler:
    return static(jsonl([{"_key": "sde", "buildNumber": build, "releaseDate": "2026-11-03"}]))


@asynccontextmanager
async def ccp(routes: dict[str, Handler]) -> AsyncIterator[tuple[str, list[str]]]:
    """The fake site at a base URL, and the paths asked of it."""
    asked: list[str] = []

    def recorded(path: str, handler: Handler) -> Handler:
        async def answer(request: web.Request) -> web.StreamResponse:
            asked.append(path)
            return await handler(request)

        return answer

    async with serve({p: recorded(p, h) for p, h in routes.items()}) as base:
        yield base, asked


def newer_archive(tmp_path: Path) -> Handler:
    rows = fixture_rows()
    rows["_sde.jsonl"] = [{"_key": "sde", "buildNumber": NEWER, "releaseDate": "2026-11-03"}]
    return static(write_zip(tmp_path / "newer.zip", rows).read_bytes())


def test_the_build_in_use_is_read_from_the_universe_provenance() -> None:
    assert build_in_use(Universe.load().source) == IN_USE
    assert build_in_use("CCP static data export (SDE) build unknown, from the zip") is None
    assert archive_url("https://x.example/static-data/tranquility/latest.jsonl", 7) == (
        "https://x.example/static-data/tranquility/eve-online-static-data-7-jsonl.zip"
    )


async def test_a_newer_build_is_logged_once_with_both_versions_and_nothing_is_applied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    routes = {VERSION: marker(NEWER), ARCHIVE: newer_archive(tmp_path)}
    async with ccp(routes) as (base, asked), aiohttp.ClientSession() as session:
        check = SdeCheck(session, tmp_path / "data", IN_USE, version_url=base + VERSION)
        with caplog.at_level(logging.INFO, logger="engine.enrich.sde"):
            report = await check.run()

    assert (report.in_use, report.latest, report.newer, report.applied) == (
        IN_USE, NEWER, True, None
    )
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO
                and r.name.startswith("engine.enrich.sde")]
    assert f"{NEWER} (in use: {IN_USE})" in line
    assert asked == [VERSION]
    assert not (tmp_path / "data" / DATA_DIR_FILE).exists()


async def test_with_auto_update_the_newer_build_is_installed_once_for_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    routes = {VERSION: marker(NEWER), ARCHIVE: newer_archive(tmp_path)}
    async with ccp(routes) as (base, asked), aiohttp.ClientSession() as session:
        check = SdeCheck(session, data, IN_USE, version_url=base + VERSION, apply=True)
        with caplog.at_level(logging.INFO, logger="engine.enrich.sde"):
            report = await check.run()
            again = await check.run()

    assert report.applied is not None
    assert report.applied.path == data / DATA_DIR_FILE
    assert again.applied is None
    assert asked == [VERSION, ARCHIVE, VERSION]
    assert build_in_use(Universe.load(data_dir=data).source) == NEWER
    assert any("restart Killwatch" in r.getMessage() for r in caplog.records)


async def test_the_build_in_use_being_the_newest_says_nothing_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with ccp({VERSION: marker(IN_USE)}) as (base, asked), \
            aiohttp.ClientSession() as session:
        check = SdeCheck(session, tmp_path / "data", IN_USE, version_url=base + VERSION,
                         apply=True)
        with caplog.at_level(logging.INFO, logger="engine.enrich.sde"):
            report = await check.run()

    assert not report.newer
    assert [r for r in caplog.records
            if r.levelno >= logging.INFO and r.name.startswith("engine.")] == []
    assert asked == [VERSION]


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (static(b"", status=503), "HTTP 503"),
        (static(b'{"_key": "_meta", "lastBuildNumber": 1}\nnot json\n'), "names no SDE build"),
    ],
)
async def test_a_version_that_cannot_be_read_fails_the_check(
    tmp_path: Path, handler: Handler, message: str
) -> None:
    async with ccp({VERSION: handler}) as (base, _), \
            aiohttp.ClientSession() as session:
        with pytest.raises(SdeDownloadError, match=message):
            await latest_build(session, base + VERSION)
