"""Build small SDE JSONL zips from the fixture rows, and serve them from a local HTTP server.

tests/data/sde/ holds real rows (Jita and its neighbours, wormhole and Pochven systems, a few
types...) copied from the SDE CSVs into the shape of CCP's JSONL files; see its README.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

SDE_ROWS = Path(__file__).resolve().parents[1] / "data" / "sde"

Rows = dict[str, list[dict[str, Any]]]


def fixture_rows() -> Rows:
    """Every fixture file's rows, by file name; a fresh copy each call, free to edit."""
    rows: Rows = {}
    for path in sorted(SDE_ROWS.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        rows[path.name] = [json.loads(line) for line in lines if line.strip()]
    return copy.deepcopy(rows)


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def write_zip(
    path: Path,
    rows: Mapping[str, list[dict[str, Any]] | bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A zip holding one member per entry: rows as JSON Lines, or raw bytes as given."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in rows.items():
            zf.writestr(name, content if isinstance(content, bytes) else jsonl(content))
    return path


def fixture_zip(path: Path) -> Path:
    return write_zip(path, fixture_rows())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(routes: Mapping[str, Handler]) -> AsyncIterator[str]:
    """Run an HTTP server on 127.0.0.1 (ephemeral port) with GET ``routes``; yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def static(body: bytes, *, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type="application/zip")

    return handler
