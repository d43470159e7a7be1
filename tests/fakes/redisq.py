"""A fake RedisQ mirror on 127.0.0.1 (listen.php, object.php) plus ESI's killmail route.

It serves real fixture killmails as packages, one per poll. Faults are queued and each is used
up by one poll; a fault never consumes a kill, so the kill it hid comes with the next good poll
(a test can then check every kill arrives exactly once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

from tests.conftest import KILLMAILS

Fault = Literal["empty", "429", "500", "503", "404", "hang", "cut", "truncated", "invalid", "odd"]
EsiFault = Literal["500", "404", "invalid"]


@dataclass
class Poll:
    path: str
    query: dict[str, str]
    user_agent: str | None


@dataclass
class FakeRedisQ:
    retry_after: str | None = "7"
    redirect: bool = False  # answer polls with a 302 to object.php, as zKillboard did
    bodyless: bool = False  # leave `killmail` out: clients fetch it by zkb.href
    empty_wait: float = 0.02  # a real server holds an empty poll ttw seconds; keep tests quick
    faults: deque[Fault] = field(default_factory=deque)
    esi_faults: dict[int, deque[EsiFault]] = field(default_factory=lambda: defaultdict(deque))
    polls: list[Poll] = field(default_factory=list)
    esi_requests: list[int] = field(default_factory=list)
    url: str = ""  # the RedisQ base, for RedisQSource(base_url=...)
    esi_url: str = ""  # where zkb.href points, for the test's fetcher
    _queue: deque[dict[str, Any]] = field(default_factory=deque)
    _bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    _objects: dict[str, bytes] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/listen.php", self._listen)
        app.router.add_get("/object.php", self._object)
        app.router.add_get("/esi/killmails/{id}/{hash}/", self._esi)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.esi_url = f"{self.url}/esi"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def publish(self, *lines: dict[str, Any]) -> list[int]:
        """Queue fixture lines as packages; returns their killIDs."""
        for line in lines:
            self._queue.append(line)
            self._bodies[line["killmail_id"]] = line["esi"]
        return [line["killmail_id"] for line in lines]

    def fault(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @property
    def pending(self) -> int:
        return len(self._queue)

    # --- HTTP ---

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        self.polls.append(
            Poll(request.path, dict(request.query), request.headers.get("User-Agent"))
        )
        if self.faults:
            return await self._fail(request, self.faults.popleft())
        if not self._queue:
            await asyncio.sleep(self.empty_wait)
            return web.json_response({"package": None})
        body = self._package(self._queue.popleft())
        if self.redirect:
            object_id = f"obj{len(self._objects)}"
            self._objects[object_id] = body
            raise web.HTTPFound(f"/object.php?objectID={object_id}")
        return web.Response(body=body, content_type="application/json")

    async def _object(self, request: web.Request) -> web.Response:
        body = self._objects.pop(request.query.get("objectID", ""), None)
        if body is None:
            return web.json_response({"package": None})
        return web.Response(body=body, content_type="application/json")

    async def _esi(self, request: web.Request) -> web.Response:
        killmail_id = int(request.match_info["id"])
        self.esi_requests.append(killmail_id)
        queued = self.esi_faults.get(killmail_id)
        fault = queued.popleft() if queued else None
        if fault == "500":
            return web.json_response({"error": "Internal Server Error"}, status=500)
        if fault == "invalid":
            return web.Response(body=b"<html>oops</html>", content_type="text/html")
        body = self._bodies.get(killmail_id)
        if fault == "404" or body is None:
            return web.json_response(
                {"error": "Invalid killmail_id and/or killmail_hash"}, status=404
            )
        return web.json_response(body)

    def _package(self, line: dict[str, Any]) -> bytes:
        zkb = dict(line.get("zkb") or {})
        zkb["hash"] = line["hash"]
        package: dict[str, Any] = {"killID": line["killmail_id"], "zkb": zkb}
        if self.bodyless:
            zkb["href"] = f"{self.esi_url}/killmails/{line['killmail_id']}/{line['hash']}/"
        else:
            package["killmail"] = line["esi"]
        return orjson.dumps({"package": package})

    async def _fail(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault == "empty":
            return web.json_response({"package": None})
        if fault == "429":
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return web.Response(status=429, headers=headers, text="slow down")
        if fault in ("500", "503", "404"):
            return web.Response(status=int(fault), text="error")
        if fault == "hang":
            # Past any sane timeout; released when the fake shuts down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 30)
            return web.json_response({"package": None})
        if fault == "invalid":
            return web.Response(body=b"<html>502 Bad Gateway</html>", content_type="text/html")
        if fault == "odd":
            return web.json_response({"queue": "no package key here"})
        body = self._package(self._queue[0]) if self._queue else b'{"package": null}'
        if fault == "truncated":
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        assert fault == "cut"
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 3])
        assert request.transport is not None
        request.transport.close()
        return response


def fixture_kills(count: int | None = None) -> list[dict[str, Any]]:
    """Real killmails with an ESI body, in file order."""
    records = (orjson.loads(raw) for raw in KILLMAILS.read_bytes().splitlines())
    lines = [line for line in records if line.get("esi")]
    return lines if count is None else lines[:count]
