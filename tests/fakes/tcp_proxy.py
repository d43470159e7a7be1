"""A TCP proxy on 127.0.0.1 in front of a real server (the test Redis), that a test can cut.

``async with TcpProxy(host, port) as proxy:`` forwards each connection to `port`
(`proxy.port` is where to connect). `await proxy.cut()` is the server going away for the
clients behind the proxy only: every open connection is closed and new ones are closed as soon
as they are accepted, until `proxy.restore()`. The server itself, shared with other tests, is
never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self

__all__ = ["TcpProxy"]

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.refusing = False
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self._close_all()
        await self._server.wait_closed()

    async def cut(self) -> None:
        self.refusing = True
        self._close_all()
        await asyncio.sleep(0)  # let the transports see it

    def restore(self) -> None:
        self.refusing = False

    def _close_all(self) -> None:
        for writer in list(self._open):
            writer.close()
        self._open.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._open.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for end in (writer, upstream_writer):
                self._open.discard(end)
                end.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends; then end the other, so the pair winds down together."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    writer.close()
