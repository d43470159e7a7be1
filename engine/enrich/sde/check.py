"""Is there a newer SDE than the universe in use? (The daily "sde" job.)

CCP publishes the number of the newest SDE build in a one-line JSON Lines file
(``latest.jsonl``: ``{"_key": "sde", "buildNumber": ..., "releaseDate": ...}``), and each
build's archive beside it as ``eve-online-static-data-<build>-jsonl.zip``
(https://developers.eveonline.com/docs/services/static-data/). :class:`SdeCheck` compares that
number with the build the loaded universe names in its provenance note, logs a newer one and,
when asked, applies it exactly as ``killwatch sde update`` does. The running process keeps the
universe it loaded (the matcher, distances and subscriptions all hold it): a restart picks the
new one up.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import msgspec

from engine.enrich.sde.errors import SdeDownloadError
from engine.enrich.sde.update import UpdateReport, update_universe

__all__ = [
    "SDE_VERSION_URL",
    "SdeCheck",
    "SdeCheckReport",
    "archive_url",
    "build_in_use",
    "latest_build",
]

log = logging.getLogger(__name__)

SDE_VERSION_URL: Final = "https://developers.eveonline.com/static-data/tranquility/latest.jsonl"
VERSION_TIMEOUT: Final = aiohttp.ClientTimeout(total=60.0, connect=15.0)
_MAX_VERSION_BYTES: Final = 64 * 1024  # one short line; anything bigger is not the marker
_BUILD: Final = re.compile(r"\bbuild (\d+)")


class _Marker(msgspec.Struct, frozen=True):
    key: str | int = msgspec.field(name="_key")
    buildNumber: int | None = None


_marker = msgspec.json.Decoder(_Marker)


def build_in_use(source: str) -> int | None:
    """The SDE build a universe's provenance note names (``Universe.source``), if any."""
    found = _BUILD.search(source)
    return int(found.group(1)) if found else None


def archive_url(version_url: str, build: int) -> str:
    """The JSON Lines zip of `build`, published beside the version marker."""
    return f"{version_url.rsplit('/', 1)[0]}/eve-online-static-data-{build}-jsonl.zip"


async def latest_build(
    session: aiohttp.ClientSession,
    url: str = SDE_VERSION_URL,
    *,
    headers: dict[str, str] | None = None,
    client_timeout: aiohttp.ClientTimeout = VERSION_TIMEOUT,
) -> int:
    """The newest build number CCP publishes; :class:`SdeDownloadError` when it cannot say."""
    try:
        async with session.get(url, headers=headers, timeout=client_timeout) as response:
            if response.status != 200:
                raise SdeDownloadError(
                    f"{url} answered HTTP {response.status} {response.reason or ''}".rstrip()
                )
            body = await response.content.read(_MAX_VERSION_BYTES)
    except TimeoutError as exc:  # first: aiohttp's timeouts are ClientErrors too
        raise SdeDownloadError(f"cannot read {url}: timed out") from exc
    except aiohttp.ClientError as exc:
        raise SdeDownloadError(f"cannot read {url}: {exc}") from exc
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            marker = _marker.decode(line)
        except msgspec.DecodeError:
            continue
        if marker.key == "sde" and marker.buildNumber is not None:
            return marker.buildNumber
    raise SdeDownloadError(f"{url} names no SDE build (no record with _key \"sde\")")


@dataclass(frozen=True, slots=True)
class SdeCheckReport:
    in_use: int | None  # None: the universe names no build
    latest: int
    applied: UpdateReport | None = None

    @property
    def newer(self) -> bool:
        return self.in_use is None or self.latest > self.in_use


class SdeCheck:
    """One check per `run()`; `apply` downloads and installs a newer build into `data_dir`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        data_dir: Path,
        in_use: int | None,
        *,
        version_url: str = SDE_VERSION_URL,
        apply: bool = False,
        user_agent: str | None = None,
    ) -> None:
        self._session = session
        self._data_dir = data_dir
        self._in_use = in_use
        self._installed: int | None = None  # applied by this process, not loaded yet
        self._version_url = version_url
        self._apply = apply
        self._headers = {"User-Agent": user_agent} if user_agent else None

    async def run(self) -> SdeCheckReport:
        latest = await latest_build(self._session, self._version_url, headers=self._headers)
        report = SdeCheckReport(self._in_use, latest)
        if not report.newer:
            log.debug("SDE: build %d in use is the newest", latest)
            return report
        if self._installed is not None and latest <= self._installed:
            return report  # applied already; said so then
        shown = "unknown" if self._in_use is None else str(self._in_use)
        log.info("SDE: a newer build is available: %d (in use: %s)%s", latest, shown,
                 "" if self._apply else "; `killwatch sde update` installs it")
        if not self._apply:
            return report
        applied = await update_universe(
            archive_url(self._version_url, latest), self._data_dir, session=self._session
        )
        self._installed = latest
        log.info("SDE: installed build %d into %s; restart Killwatch to use it",
                 latest, applied.path)
        return SdeCheckReport(self._in_use, latest, applied)
