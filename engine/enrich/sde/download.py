"""Fetch the SDE zip over HTTP into a local file, streaming, with timeouts and a size cap."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import BinaryIO

import aiohttp

from engine.enrich.sde.errors import SdeDownloadError

__all__ = ["DOWNLOAD_TIMEOUT", "MAX_DOWNLOAD_BYTES", "download_sde"]

logger = logging.getLogger(__name__)

# No total: the archive is ~100 MB and a slow line may need minutes. A server that goes
# silent for a minute, though, is a hang, not a slow line.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15.0, sock_read=60.0)
MAX_DOWNLOAD_BYTES = 1 << 30  # ~10x today's archive; beyond that something is wrong
_WRITE_BATCH = 1 << 20


async def download_sde(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    client_timeout: aiohttp.ClientTimeout = DOWNLOAD_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> int:
    """GET ``url`` into ``dest`` (created or truncated) and return the number of bytes.

    Redirects are followed (CCP's "latest" URL redirects to the numbered build). Raises
    :class:`SdeDownloadError` on an HTTP error status, a timeout, a lost connection or a
    body larger than ``max_bytes``; ``dest`` may then hold part of the body, and the caller
    owns (and removes) it.
    """
    logger.info("downloading %s", url)
    try:
        async with session.get(url, timeout=client_timeout) as response:
            if response.status != 200:
                raise SdeDownloadError(
                    f"{url} answered HTTP {response.status} {response.reason or ''}".rstrip()
                )
            if response.content_length is not None and response.content_length > max_bytes:
                raise SdeDownloadError(
                    f"{url} is {response.content_length} bytes, over the {max_bytes} limit"
                )
            fh = await asyncio.to_thread(dest.open, "wb")
            try:
                size = await _copy(response.content, fh, url, max_bytes)
            finally:
                await asyncio.to_thread(fh.close)
    except TimeoutError as exc:  # first: aiohttp's timeouts are ClientErrors too
        detail = f" ({exc})" if str(exc) else ""
        raise SdeDownloadError(f"cannot download {url}: timed out{detail}") from exc
    except aiohttp.ClientError as exc:  # refused, reset, cut short (ClientPayloadError), ...
        raise SdeDownloadError(f"cannot download {url}: {exc}") from exc
    logger.info("downloaded %s (%d bytes)", url, size)
    return size


async def _copy(body: aiohttp.StreamReader, fh: BinaryIO, url: str, max_bytes: int) -> int:
    size = 0
    pending = bytearray()
    async for chunk in body.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise SdeDownloadError(f"{url} sent more than the {max_bytes} byte limit")
        pending += chunk
        # Batch the writes: one thread hop per megabyte, not one per network read.
        if len(pending) >= _WRITE_BATCH:
            await asyncio.to_thread(fh.write, bytes(pending))
            pending.clear()
    if pending:
        await asyncio.to_thread(fh.write, bytes(pending))
    return size
