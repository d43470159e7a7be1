"""Updating the universe from CCP's SDE JSONL zip: a small real archive built in each test."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web

from engine.enrich import assemble
from engine.enrich._format import decode_universe
from engine.enrich.assemble import write_universe
from engine.enrich.sde import (
    REQUIRED_FILES,
    SdeDownloadError,
    SdeError,
    read_sde_archive,
    update_universe,
)
from engine.enrich.universe import DATA_DIR_FILE, Constellation, Region, SolarSystem, Universe
from tests.enrich.sde_support import (
    Handler,
    fixture_rows,
    fixture_zip,
    jsonl,
    serve,
    static,
    write_zip,
)

JITA = 30000142
PERIMETER = 30000144
THE_FORGE = 10000002
KIMOTORO = 20000020
KEEPSTAR = 35834
BUILD_URL_PATH = "/static-data/tranquility/eve-online-static-data-3650286-jsonl.zip"
LATEST_URL_PATH = "/static-data/eve-online-static-data-latest-jsonl.zip"


@pytest.fixture(scope="module")
def bundled() -> Universe:
    return Universe.load()


@pytest.fixture
def sde_zip(tmp_path: Path) -> Path:
    return fixture_zip(tmp_path / "sde.zip")


@pytest.fixture
def sde_bytes(sde_zip: Path) -> bytes:
    return sde_zip.read_bytes()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


async def _updated(sde_zip: Path, data_dir: Path) -> Universe:
    await update_universe(sde_zip, data_dir)
    return Universe.load(data_dir=data_dir)


def _dir_listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


# -- a successful update -------------------------------------------------------------------


async def test_update_writes_a_universe_the_bot_then_loads_from_the_data_dir(
    sde_zip: Path, data_dir: Path
) -> None:
    report = await update_universe(sde_zip, data_dir)

    assert report.path == data_dir / DATA_DIR_FILE
    assert _dir_listing(data_dir) == [DATA_DIR_FILE]  # no scratch files left behind
    assert report.size == (data_dir / DATA_DIR_FILE).stat().st_size
    universe = Universe.load(data_dir=data_dir)
    assert universe.system(JITA) == SolarSystem(
        id=JITA,
        name="Jita",
        constellation_id=KIMOTORO,
        region_id=THE_FORGE,
        security=0.945913,
        x=-1.29064861735e17,
        y=6.075530691e16,
        z=1.1746922706e17,
        wormhole_class=7,
    )
    assert universe.constellation(KIMOTORO) == Constellation(KIMOTORO, "Kimotoro", THE_FORGE)
    assert universe.region(THE_FORGE) == Region(THE_FORGE, "The Forge")
    assert universe.find_system("1dq1-a").security == -0.385782  # type: ignore[union-attr]
    assert len(universe.systems()) == 15
    assert universe.system(30000001) is None  # only what the archive holds


async def test_every_row_matches_the_bundled_build_from_the_csv_dumps(
    sde_zip: Path, data_dir: Path, bundled: Universe
) -> None:
    # Same SDE facts through the other edition: the JSONL path must give identical records.
    universe = await _updated(sde_zip, data_dir)
    rows = fixture_rows()
    lookups = {
        "mapSolarSystems.jsonl": "system",
        "mapConstellations.jsonl": "constellation",
        "mapRegions.jsonl": "region",
        "types.jsonl": "type",
        "groups.jsonl": "group",
        "categories.jsonl": "category",
        "factions.jsonl": "faction",
        "npcCorporations.jsonl": "npc_corporation",
    }
    for file, lookup in lookups.items():
        for row in rows[file]:
            got = getattr(universe, lookup)(row["_key"])
            assert got is not None
            assert got == getattr(bundled, lookup)(row["_key"]), (file, row["_key"])
    for row in rows["metaGroups.jsonl"]:
        assert universe.meta_group_name(row["_key"]) == bundled.meta_group_name(row["_key"])
    fixture_systems = {row["_key"] for row in rows["mapSolarSystems.jsonl"]}
    for system in fixture_systems:
        expected = tuple(n for n in bundled.neighbours(system) if n in fixture_systems)
        assert universe.neighbours(system) == expected


@pytest.mark.parametrize(
    ("system_id", "expected"),
    [
        (31000005, 12),  # Thera: from its constellation G-C00324
        (31000007, 1),  # J105443: from constellation A-C00311
        (31000001, 14),  # Sentinel MZ: its own row beats its constellation's 1
        (30000012, 8),  # Asabona: its own 8 (lowsec) beats Anares' 7
        (JITA, 7),  # k-space has classes too
        (30000021, 25),  # Kuharah, Pochven
        (30000326, None),  # WF-1LM in UUA-F4: no class anywhere up the chain
    ],
)
async def test_wormhole_class_is_inherited_system_then_constellation_then_region(
    sde_zip: Path, data_dir: Path, system_id: int, expected: int | None
) -> None:
    universe = await _updated(sde_zip, data_dir)
    assert universe.system(system_id).wormhole_class == expected  # type: ignore[union-attr]


async def test_region_class_applies_when_the_constellation_has_none(
    tmp_path: Path, data_dir: Path
) -> None:
    rows = fixture_rows()
    for constellation in rows["mapConstellations.jsonl"]:
        if constellation["_key"] == KIMOTORO:
            del constellation["wormholeClassID"]
    for region in rows["mapRegions.jsonl"]:
        if region["_key"] == 10000001:  # Derelik: Asabona's region
            del region["wormholeClassID"]
    universe = await _updated(write_zip(tmp_path / "sde.zip", rows), data_dir)
    assert universe.system(JITA).wormhole_class == 7  # type: ignore[union-attr]  # The Forge
    assert universe.system(30000012).wormhole_class == 8  # type: ignore[union-attr]  # own row


async def test_stargates_listed_at_both_ends_become_one_link_each(
    sde_zip: Path, data_dir: Path
) -> None:
    report = await update_universe(sde_zip, data_dir)
    assert len(fixture_rows()["mapStargates.jsonl"]) == 22
    assert report.after.stargate_links == 11
    universe = Universe.load(data_dir=data_dir)
    assert universe.neighbours(JITA) == (
        30000138, 30000140, 30000143, PERIMETER, 30000145, 30001363, 30002780
    )
    assert JITA in universe.neighbours(PERIMETER)
    assert universe.neighbours(31000005) == ()  # Thera: wormholes only


async def test_types_take_their_category_from_their_group(
    sde_zip: Path, data_dir: Path
) -> None:
    universe = await _updated(sde_zip, data_dir)
    keepstar = universe.type(KEEPSTAR)
    assert keepstar is not None
    assert (keepstar.name, keepstar.group_id, keepstar.category_id) == ("Keepstar", 1657, 65)
    assert universe.group(1657).name == "Citadel"  # type: ignore[union-attr]
    assert universe.category(65).name == "Structure"  # type: ignore[union-attr]
    damage_control = universe.type(2048)
    assert damage_control is not None
    assert damage_control.meta_group_id == 2
    assert universe.meta_group_name(2) == "Tech II"
    assert universe.type(0).published is False  # type: ignore[union-attr]
    # An NPC corporation in a type's factionID (as the SDE has it) is accepted and kept.
    assert universe.type(35812).faction_id == 1000084  # type: ignore[union-attr]
    assert universe.npc_corporation(1000084).name == "Amarr Navy"  # type: ignore[union-attr]
    assert universe.faction(500001).militia_corporation_id == 1000180  # type: ignore[union-attr]


async def test_english_names_are_used_and_unknown_fields_and_blank_lines_ignored(
    tmp_path: Path, data_dir: Path
) -> None:
    rows = fixture_rows()
    rifter = next(t for t in rows["types.jsonl"] if t["_key"] == 587)
    rifter["name"] = {"de": "Rifter (de)", "en": "Rifter", "zh": "Rifter (zh)"}
    rifter["description"] = {"en": "A long text the reader must skip."}
    archive: dict[str, list[dict[str, object]] | bytes] = dict(rows)
    archive["types.jsonl"] = b"\n" + jsonl(rows["types.jsonl"]) + b"\n\n"
    universe = await _updated(write_zip(tmp_path / "sde.zip", archive), data_dir)
    assert universe.type(587).name == "Rifter"  # type: ignore[union-attr]
    assert universe.find_type("rifter").id == 587  # type: ignore[union-attr]


async def test_files_inside_a_top_level_folder_are_found(tmp_path: Path, data_dir: Path) -> None:
    rows = {f"sde/{name}": content for name, content in fixture_rows().items()}
    universe = await _updated(write_zip(tmp_path / "sde.zip", rows), data_dir)
    assert universe.system(JITA).name == "Jita"  # type: ignore[union-attr]


async def test_source_note_names_the_sde_build(
    tmp_path: Path, sde_zip: Path, data_dir: Path
) -> None:
    universe = await _updated(sde_zip, data_dir)
    assert "build 3650286, released 2026-10-26" in universe.source
    rows = fixture_rows()
    del rows["_sde.jsonl"]  # optional: only the provenance note needs it
    unknown = read_sde_archive(write_zip(tmp_path / "no-info.zip", rows))
    assert "build unknown" in unknown.source


async def test_same_rows_in_any_order_give_the_same_bytes(tmp_path: Path, sde_zip: Path) -> None:
    rows = fixture_rows()
    shuffled = {name: list(reversed(records)) for name, records in reversed(rows.items())}
    first = await update_universe(sde_zip, tmp_path / "a")
    second = await update_universe(write_zip(tmp_path / "rev.zip", shuffled), tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()


async def test_report_compares_with_the_bundled_file_then_with_the_previous_update(
    sde_zip: Path, data_dir: Path, bundled: Universe
) -> None:
    first = await update_universe(sde_zip, data_dir)
    assert first.before_origin == "bundled file"
    assert first.before.systems == len(bundled.systems()) == 8437
    assert (first.after.systems, first.after.types, first.after.groups) == (15, 7, 7)
    second = await update_universe(sde_zip, data_dir)
    assert second.before_origin == str(data_dir / DATA_DIR_FILE)
    assert second.before == second.after == first.after


# -- where the bot loads the universe from ---------------------------------------------------


def test_load_uses_the_bundled_file_when_the_data_dir_has_none(
    tmp_path: Path, bundled: Universe
) -> None:
    universe = Universe.load(data_dir=tmp_path)
    assert len(universe.systems()) == len(bundled.systems())


async def test_load_skips_a_stale_data_dir_file_with_a_warning(
    tmp_path: Path, sde_zip: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await update_universe(sde_zip, data_dir)
    target = data_dir / DATA_DIR_FILE
    raw = msgspec.msgpack.decode(gzip.decompress(target.read_bytes()))
    raw["format_version"] = 999  # written by a newer or older Killwatch
    target.write_bytes(gzip.compress(msgspec.msgpack.encode(raw)))
    with caplog.at_level(logging.WARNING, logger="engine.enrich.universe"):
        universe = Universe.load(data_dir=data_dir)
    assert len(universe.systems()) == 8437  # the bundled one
    assert "format version 999" in caplog.text
    assert str(target) in caplog.text


# -- archives that cannot be used: a clear error, and nothing written -----------------------


def _failing_archive(tmp_path: Path, case: str) -> Path:
    rows = fixture_rows()
    path = tmp_path / f"{case}.zip"
    if case == "missing_file":
        del rows["mapStargates.jsonl"]
    elif case == "bad_line":
        rows["types.jsonl"][2]["groupID"] = "Frigate"
    elif case == "dangling_gate":
        rows["mapStargates.jsonl"][0]["destination"]["solarSystemID"] = 30000001
    elif case == "unknown_group":
        rows["types.jsonl"][1]["groupID"] = 999999
    elif case == "no_english_name":
        rows["groups.jsonl"][0]["name"] = {"de": "Nur Deutsch"}
    elif case == "empty_systems":
        rows["mapSolarSystems.jsonl"] = []
        rows["mapStargates.jsonl"] = []
    elif case == "truncated":
        blob = fixture_zip(path).read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
        return path
    elif case == "not_a_zip":
        path.write_text("<html>Service Unavailable</html>")
        return path
    elif case == "damaged_member":
        fixture = write_zip(path, rows, compression=zipfile.ZIP_STORED)
        blob = bytearray(fixture.read_bytes())
        at = blob.index(b'"Jita"')
        blob[at + 1 : at + 5] = b"Jota"  # same length: only the CRC can tell
        path.write_bytes(bytes(blob))
        return path
    elif case == "no_such_file":
        return tmp_path / "absent.zip"
    return write_zip(path, rows)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "lacks mapStargates.jsonl"),
        ("bad_line", "types.jsonl line 3: Expected `int`, got `str` - at `$.groupID`"),
        ("dangling_gate", "stargates refers to unknown ids: [30000001]"),
        ("unknown_group", "type 587 is in group 999999, which groups.jsonl lacks"),
        ("no_english_name", "groups.jsonl: entry 0 has no English name"),
        ("empty_systems", "mapSolarSystems.jsonl in"),
        ("truncated", "is not a zip archive (or is truncated)"),
        ("not_a_zip", "is not a zip archive (or is truncated)"),
        ("damaged_member", "mapSolarSystems.jsonl is damaged in the archive"),
        ("no_such_file", "no such file"),
    ],
)
async def test_unusable_archive_fails_clearly_and_keeps_the_previous_universe(
    tmp_path: Path, sde_zip: Path, data_dir: Path, case: str, message: str
) -> None:
    await update_universe(sde_zip, data_dir)
    previous = (data_dir / DATA_DIR_FILE).read_bytes()

    with pytest.raises(SdeError) as failure:
        await update_universe(_failing_archive(tmp_path, case), data_dir)

    assert message in str(failure.value)
    assert (data_dir / DATA_DIR_FILE).read_bytes() == previous
    assert _dir_listing(data_dir) == [DATA_DIR_FILE]


def test_every_required_file_is_reported_when_missing(tmp_path: Path) -> None:
    rows = fixture_rows()
    for name in ("types.jsonl", "factions.jsonl"):
        del rows[name]
    with pytest.raises(SdeError, match=r"lacks types\.jsonl, factions\.jsonl$"):
        read_sde_archive(write_zip(tmp_path / "sde.zip", rows))
    assert "_sde.jsonl" not in REQUIRED_FILES


# -- the atomic write ----------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(
    tmp_path: Path, sde_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = read_sde_archive(sde_zip)
    target = tmp_path / DATA_DIR_FILE
    target.write_bytes(b"previous universe")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(assemble.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_universe(payload, target)
    assert target.read_bytes() == b"previous universe"
    assert _dir_listing(tmp_path) == ["sde.zip", DATA_DIR_FILE]


def test_a_written_file_is_complete_and_readable_by_others(tmp_path: Path, sde_zip: Path) -> None:
    payload = read_sde_archive(sde_zip)
    target = tmp_path / "deep" / DATA_DIR_FILE
    size = write_universe(payload, target)
    assert decode_universe(target.read_bytes()) == payload
    assert size == target.stat().st_size
    assert target.stat().st_mode & 0o777 == 0o644


# -- from a URL ------------------------------------------------------------------------------


async def test_update_from_a_url_follows_the_latest_redirect(
    sde_bytes: bytes, data_dir: Path
) -> None:
    seen: list[str] = []

    async def latest(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("User-Agent", ""))
        raise web.HTTPFound(BUILD_URL_PATH)

    routes = {LATEST_URL_PATH: latest, BUILD_URL_PATH: static(sde_bytes)}
    async with (
        serve(routes) as base,
        aiohttp.ClientSession(headers={"User-Agent": "Killwatch/test"}) as session,
    ):
        report = await update_universe(base + LATEST_URL_PATH, data_dir, session=session)

    assert seen == ["Killwatch/test"]
    assert report.after.systems == 15
    assert _dir_listing(data_dir) == [DATA_DIR_FILE]  # the downloaded zip is gone
    assert Universe.load(data_dir=data_dir).system(JITA).name == "Jita"  # type: ignore[union-attr]


def _cut_short(body: bytes) -> Handler:
    """Announces the whole archive, sends half, then drops the connection."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    return handler


def _chunked(body: bytes) -> Handler:
    """No Content-Length: 2,000 bytes in chunks, so only counting can stop it."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(20):
            await response.write(b"x" * 100)
        await response.write_eof()
        return response

    return handler


@pytest.mark.parametrize(
    ("route", "max_bytes", "message"),
    [
        (lambda _: static(b"<html>Not Found</html>", status=404), 1 << 20, "HTTP 404 Not Found"),
        (lambda _: static(b"", status=503), 1 << 20, "answered HTTP 503"),
        (_cut_short, 1 << 20, "cannot download"),
        (lambda _: static(b"y" * 5000), 1000, "is 5000 bytes, over the 1000 limit"),
        (_chunked, 1000, "sent more than the 1000 byte limit"),
        (lambda _: static(b"<html>maintenance</html>"), 1 << 20, "is not a zip archive"),
    ],
)
async def test_a_failed_download_fails_clearly_and_keeps_the_previous_universe(
    sde_zip: Path,
    sde_bytes: bytes,
    data_dir: Path,
    route: Callable[[bytes], Handler],
    max_bytes: int,
    message: str,
) -> None:
    await update_universe(sde_zip, data_dir)
    previous = (data_dir / DATA_DIR_FILE).read_bytes()
    routes = {"/sde.zip": route(sde_bytes)}
    async with serve(routes) as base, aiohttp.ClientSession() as session:
        with pytest.raises(SdeError) as failure:
            await update_universe(
                base + "/sde.zip", data_dir, session=session, max_bytes=max_bytes
            )
    assert message in str(failure.value)
    assert (data_dir / DATA_DIR_FILE).read_bytes() == previous
    assert _dir_listing(data_dir) == [DATA_DIR_FILE]


async def test_a_silent_server_times_out(data_dir: Path) -> None:
    release = asyncio.Event()

    async def silent(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(body=b"late")

    timeout = aiohttp.ClientTimeout(total=None, connect=1.0, sock_read=0.1)
    try:
        async with serve({"/sde.zip": silent}) as base, aiohttp.ClientSession() as session:
            with pytest.raises(SdeDownloadError, match="timed out"):
                await update_universe(
                    base + "/sde.zip", data_dir, session=session, client_timeout=timeout
                )
    finally:
        release.set()
    assert _dir_listing(data_dir) == []


async def test_a_refused_connection_is_a_download_error(data_dir: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SdeDownloadError, match="cannot download"):
            await update_universe(f"http://127.0.0.1:{port}/sde.zip", data_dir, session=session)


def test_a_url_needs_a_session(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="session"):
        asyncio.run(update_universe("https://example.invalid/sde.zip", data_dir))
    assert not data_dir.exists()  # checked before anything was created
