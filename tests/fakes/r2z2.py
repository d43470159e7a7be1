"""A fake zKillboard R2Z2 on 127.0.0.1: real killmails as sequences, and every fault we know.

Faults are queued per sequence (or for sequence.json) and each is used up by one request, so a
test says "the next request for 900005 gets a 429" and then watches the source recover.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

Fault = Literal["404", "429", "500", "503", "hang", "cut", "truncated", "invalid", "403"]

SEQUENCE_JSON = "sequence.json"
KILLMAILS = Path(__file__).parent.parent / "data" / "killmails.jsonl"


@dataclass
class _Request:
    path: str
    user_agent: str | None
    at: float


@dataclass
class FakeR2Z2:
    first_sequence: int = 900_000
    # What sequence.json says when not pinned: the real head minus this lag (zKillboard
    # rewrites the file only every ~50 sequences).
    sequence_lag: int = 0
    retry_after: str = "1"
    payloads: dict[int, bytes] = field(default_factory=dict)
    requests: list[_Request] = field(default_factory=list)
    pinned_sequence: int | None = None
    faults: dict[int | str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    in_flight: int = 0
    max_in_flight: int = 0
    _next: int = 0
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def __aenter__(self) -> Self:
        self._next = self._next or self.first_sequence
        app = web.Application()
        app.router.add_get("/ephemeral/{name}", self._serve)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/ephemeral"
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

    # --- the feed's content ---

    @property
    def head(self) -> int:
        """The newest sequence published (first_sequence - 1 when none is)."""
        return self._next - 1

    def publish(self, line: dict[str, Any], *, sequence_updated: int | None = None) -> int:
        """Publish one fixture line as the next sequence; returns its number."""
        sequence = self._next
        self._next += 1
        envelope: dict[str, Any] = {
            "killmail_id": line["killmail_id"],
            "hash": line["hash"],
            "esi": line.get("esi"),
            "zkb": line.get("zkb"),
            "uploaded_at": int(datetime.now(UTC).timestamp()),
            "sequence_id": sequence,
        }
        if sequence_updated is not None:
            envelope["sequence_updated"] = sequence_updated
        self.payloads[sequence] = orjson.dumps(envelope)
        return sequence

    def publish_raw(self, body: bytes) -> int:
        sequence = self._next
        self._next += 1
        self.payloads[sequence] = body
        return sequence

    def skip(self, count: int = 1) -> list[int]:
        """Numbers that will never be served: a hole in the sequence."""
        skipped = list(range(self._next, self._next + count))
        self._next += count
        return skipped

    def expire(self, up_to: int) -> None:
        """Files older than a day disappear: everything at or below `up_to`."""
        for sequence in [s for s in self.payloads if s <= up_to]:
            del self.payloads[sequence]

    def fault(self, target: int | str, *faults: Fault) -> None:
        self.faults[target].extend(faults)

    def requests_for(self, target: int | str) -> int:
        name = SEQUENCE_JSON if target == SEQUENCE_JSON else f"{target}.json"
        return sum(1 for r in self.requests if r.path.endswith("/" + name))

    # --- HTTP ---

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Yield once so requests sent together are seen together.
            await asyncio.sleep(0)
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(
            _Request(
                request.path,
                request.headers.get("User-Agent"),
                asyncio.get_running_loop().time(),
            )
        )
        if name == SEQUENCE_JSON:
            target: int | str = SEQUENCE_JSON
            sequence = self.pinned_sequence
            if sequence is None:
                sequence = max(self.first_sequence - 1, self.head - self.sequence_lag)
            body: bytes | None = orjson.dumps({"sequence": sequence})
        else:
            try:
                target = int(name.removesuffix(".json"))
            except ValueError:
                return web.Response(status=404)
            body = self.payloads.get(target)
        queued = self.faults.get(target)
        if queued:
            return await self._fail(request, queued.popleft(), body or b"{}")
        if body is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=body, content_type="application/json")

    async def _fail(self, request: web.Request, fault: Fault, body: bytes) -> web.StreamResponse:
        if fault == "404":
            return web.Response(status=404)
        if fault == "403":
            return web.Response(status=403, text="blank user agents are not welcome")
        if fault == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if fault in ("500", "503"):
            return web.Response(status=int(fault), text="internal error")
        if fault == "hang":
            # Past any sane timeout; released when the fake shuts down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), 30)
            return web.Response(status=504)
        if fault == "truncated":
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if fault == "invalid":
            return web.Response(body=b"<html>502 Bad Gateway</html>", content_type="text/html")
        assert fault == "cut"
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[: len(body) // 3])
        assert request.transport is not None
        request.transport.close()
        return response


def fixture_kills(count: int | None = None) -> list[dict[str, Any]]:
    """Real killmails with an ESI body (three fixtures have none), in file order."""
    records = (orjson.loads(raw) for raw in KILLMAILS.read_bytes().splitlines())
    lines = [line for line in records if line.get("esi")]
    return lines if count is None else lines[:count]
