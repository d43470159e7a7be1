"""Rebuild the universe file in a data directory from CCP's SDE zip, a local file or a URL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import aiohttp

from engine.enrich._format import UniverseFile, decode_universe
from engine.enrich.assemble import write_universe
from engine.enrich.sde.archive import read_sde_archive
from engine.enrich.sde.download import DOWNLOAD_TIMEOUT, MAX_DOWNLOAD_BYTES, download_sde
from engine.enrich.universe import BUNDLED_FILE, DATA_DIR_FILE

__all__ = [
    "SDE_LATEST_URL",
    "UniverseCounts",
    "UpdateReport",
    "is_url",
    "update_universe",
]

logger = logging.getLogger(__name__)

# CCP's stable address for the newest JSONL edition; it redirects to the numbered build
# (https://developers.eveonline.com/docs/services/static-data/).
SDE_LATEST_URL = (
    "https://developers.eveonline.com/static-data/eve-online-static-data-latest-jsonl.zip"
)


@dataclass(frozen=True, slots=True)
class UniverseCounts:
    """How many entries each table of a universe file holds."""

    systems: int
    constellations: int
    regions: int
    stargate_links: int
    types: int
    groups: int
    categories: int
    meta_groups: int
    factions: int
    npc_corporations: int

    @classmethod
    def of(cls, payload: UniverseFile) -> UniverseCounts:
        return cls(
            systems=len(payload.systems),
            constellations=len(payload.constellations),
            regions=len(payload.regions),
            stargate_links=len(payload.jumps),
            types=len(payload.types),
            groups=len(payload.groups),
            categories=len(payload.categories),
            meta_groups=len(payload.meta_groups),
            factions=len(payload.factions),
            npc_corporations=len(payload.npc_corporations),
        )

    def items(self) -> list[tuple[str, int]]:
        """(table, count) pairs in a fixed order, for display."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True, slots=True)
class UpdateReport:
    """What an update wrote, and what it replaced (``before_origin`` says which file)."""

    path: Path
    size: int
    source: str
    before: UniverseCounts
    before_origin: str
    after: UniverseCounts


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def _current(data_dir: Path) -> tuple[UniverseCounts, str]:
    """Counts of the universe the bot would load now: a previous update, else the bundled one."""
    previous = data_dir / DATA_DIR_FILE
    if previous.is_file():
        try:
            return UniverseCounts.of(decode_universe(previous.read_bytes())), str(previous)
        except (OSError, ValueError) as exc:
            logger.warning("cannot read %s (%s); comparing with the bundled file", previous, exc)
    blob = resources.files("engine.enrich").joinpath(BUNDLED_FILE).read_bytes()
    return UniverseCounts.of(decode_universe(blob)), "bundled file"


def _scratch_file(data_dir: Path) -> Path:
    # Next to the result, not in /tmp: same disk, and a tmpfs /tmp may be too small.
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".sde-download-", suffix=".zip", dir=data_dir)
    os.close(fd)
    return Path(name)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def _fetch(
    url: str,
    data_dir: Path,
    session: aiohttp.ClientSession,
    client_timeout: aiohttp.ClientTimeout,
    max_bytes: int,
) -> UniverseFile:
    scratch = await asyncio.to_thread(_scratch_file, data_dir)
    try:
        await download_sde(
            session, url, scratch, client_timeout=client_timeout, max_bytes=max_bytes
        )
        return await asyncio.to_thread(read_sde_archive, scratch)
    finally:
        await asyncio.to_thread(_remove, scratch)


async def update_universe(
    source: str | Path,
    data_dir: Path,
    *,
    session: aiohttp.ClientSession | None = None,
    client_timeout: aiohttp.ClientTimeout = DOWNLOAD_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> UpdateReport:
    """Build ``<data_dir>/universe.msgpack.gz`` from an SDE JSONL zip (a path or a URL).

    A URL is fetched with ``session`` (required then), each read bounded by
    ``client_timeout``. The new file replaces the old one
    atomically, and only once the whole archive has been read and checked: any failure
    leaves the previous file as it was. Raises :class:`SdeError` for a bad or unreachable
    archive, ``OSError`` when ``data_dir`` cannot be written.
    """
    if is_url(source):
        if session is None:
            raise ValueError("a URL source needs an aiohttp session")
        payload = await _fetch(str(source), data_dir, session, client_timeout, max_bytes)
    else:
        payload = await asyncio.to_thread(read_sde_archive, Path(source))
    before, before_origin = await asyncio.to_thread(_current, data_dir)
    target = data_dir / DATA_DIR_FILE
    size = await asyncio.to_thread(write_universe, payload, target)
    logger.info("wrote %s (%d bytes): %s", target, size, payload.source)
    return UpdateReport(
        path=target,
        size=size,
        source=payload.source,
        before=before,
        before_origin=before_origin,
        after=UniverseCounts.of(payload),
    )
