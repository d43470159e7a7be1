"""Updating the static universe from CCP's official SDE (the JSON Lines zip).

``update_universe(source, data_dir)`` reads the archive (a local file, or a URL fetched with
an injected aiohttp session), checks it and writes ``<data_dir>/universe.msgpack.gz``
atomically; ``Universe.load(data_dir=...)`` prefers that file to the bundled one.
"""

from __future__ import annotations

from engine.enrich.sde.archive import REQUIRED_FILES, read_sde_archive
from engine.enrich.sde.download import DOWNLOAD_TIMEOUT, MAX_DOWNLOAD_BYTES, download_sde
from engine.enrich.sde.errors import SdeDownloadError, SdeError
from engine.enrich.sde.update import (
    SDE_LATEST_URL,
    UniverseCounts,
    UpdateReport,
    is_url,
    update_universe,
)

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "MAX_DOWNLOAD_BYTES",
    "REQUIRED_FILES",
    "SDE_LATEST_URL",
    "SdeDownloadError",
    "SdeError",
    "UniverseCounts",
    "UpdateReport",
    "download_sde",
    "is_url",
    "read_sde_archive",
    "update_universe",
]
