"""A fake ESI on 127.0.0.1: killmails, names, IDs and prices from recorded data, and its limits.

What it serves:
- ``GET /killmails/{id}/{hash}/``: the ESI bodies of tests/data/killmails.jsonl; 404 for an
  unknown id, 422 when the hash is not the killmail's.
- ``POST /universe/names/``: up to 1,000 IDs from tests/data/esi_names.json (NPC corporations,
  factions, regions and systems of the SDE, ship types of the fixtures, and a few real player
  entities from public test data). One unknown ID fails the whole batch with 404, as ESI does.
- ``POST /universe/ids/``: up to 500 exact names (case-insensitive) from the same table.
- ``GET /markets/prices/``: tests/data/esi_market_prices.json. No recorded price list could be
  found in public test data, so that file is generated (deterministic, plausible magnitudes by
  category, group and meta level; 10 % of entries carry only ``adjusted_price`` and 2 % an
  ``average_price`` of 0, as real entries do) for the fixtures' types and 2,000 other market
  types.

Its limits run on an injectable clock (a test's FakeClock, so a client sleeping through a reset
on the same clock finds the window renewed):
- the error limit: every response >= 400 spends one of ``error_limit`` errors per
  ``error_window``; ``X-ESI-Error-Limit-Remain/-Reset`` on every response; 420 once spent;
- optionally a token bucket (``ratelimit="150/15m"``): ``X-Ratelimit-*`` headers, 429 with
  ``Retry-After`` when empty.

Faults are queued per route (``names``, ``ids``, ``killmail``, ``prices``) and each is used up
by one request; ``down`` fails everything with 503; ``hold`` parks a route's requests until
``release()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

Fault = Literal[
    "400", "404", "420", "429", "500", "502", "503", "504", "hang", "cut", "truncated", "invalid"
]
Route = Literal["killmail", "names", "ids", "prices"]

DATA = Path(__file__).parent.parent / "data"
KILLMAILS = DATA / "killmails.jsonl"
NAMES = DATA / "esi_names.json"
PRICES = DATA / "esi_market_prices.json"

_PLURAL = {
    "character": "characters",
    "corporation": "corporations",
    "alliance": "alliances",
    "faction": "factions",
    "solar_system": "systems",
    "constellation": "constellations",
    "region": "regions",
    "inventory_type": "inventory_types",
    "station": "stations",
    "agent": "agents",
}


def load_names() -> dict[int, tuple[str, str]]:
    """The names table: id → (ESI category, name); a fresh copy a test may change."""
    return dict(_names())


def load_killmails() -> dict[int, tuple[str, dict[str, Any]]]:
    """killmail_id → (hash, ESI body) for every fixture line that has a body."""
    return dict(_killmails())


@functools.cache
def _names() -> dict[int, tuple[str, str]]:
    return {e["id"]: (e["category"], e["name"]) for e in orjson.loads(NAMES.read_bytes())}


@functools.cache
def _killmails() -> dict[int, tuple[str, dict[str, Any]]]:
    table: dict[int, tuple[str, dict[str, Any]]] = {}
    for raw in KILLMAILS.read_bytes().splitlines():
        line = orjson.loads(raw)
        if line.get("esi"):
            table[int(line["killmail_id"])] = (line["hash"], line["esi"])
    return table


@dataclass
class Recorded:
    method: str
    route: str
    path: str
    body: Any
    user_agent: str | None
    at: float  # on the fake's clock
    status: int = 0


@dataclass
class FakeEsi:
    now: Callable[[], float] = time.monotonic
    error_limit: int = 100
    error_window: float = 60.0
    ratelimit: str | None = None  # e.g. "150/15m"
    ratelimit_group: str = "esi-fake"
    retry_after: str | None = None  # a 429's Retry-After; None: until one token refills
    hang_seconds: float = 30.0
    error_body: bytes | None = None  # the body of a faulted 4xx/5xx (default: a short JSON)
    names: dict[int, tuple[str, str]] = field(default_factory=load_names)
    killmails: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    prices: bytes = field(default_factory=PRICES.read_bytes)
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    down: bool = False
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    _held: set[str] = field(default_factory=set)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _unhold: asyncio.Event = field(default_factory=asyncio.Event)
    _errors_left: int = 0
    _window_start: float = 0.0
    _tokens: float = 0.0
    _tokens_at: float = 0.0
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        if not self.killmails:
            self.killmails = load_killmails()
        self._errors_left = self.error_limit
        self._window_start = self.now()
        limit = self._limit()
        self._tokens = float(limit[0]) if limit else 0.0
        self._tokens_at = self.now()
        app = web.Application()
        app.router.add_get("/killmails/{id}/{hash}/", self._killmail)
        app.router.add_post("/universe/names/", self._names)
        app.router.add_post("/universe/ids/", self._ids)
        app.router.add_get("/markets/prices/", self._prices)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        self._unhold.set()
        assert self._runner is not None
        await self._runner.cleanup()

    # --- knobs ---

    def fault(self, route: Route, *faults: Fault) -> None:
        self.faults[route].extend(faults)

    def hold(self, route: Route) -> None:
        """Park every request for `route` until `release()`: ESI hanging for as long as we like."""
        self._held.add(route)
        self._unhold.clear()

    def release(self) -> None:
        self._held.clear()
        self._unhold.set()

    def spend_errors(self, count: int) -> None:
        """Errors someone else on our IP made: the budget shrinks without our requests."""
        self._roll_window()
        self._errors_left = max(0, self._errors_left - count)

    def count(self, route: Route | None = None) -> int:
        return sum(1 for r in self.requests if route is None or r.route == route)

    def bodies(self, route: Route) -> list[Any]:
        return [r.body for r in self.requests if r.route == route]

    @property
    def errors_left(self) -> int:
        self._roll_window()
        return self._errors_left

    # --- routes ---

    async def _killmail(self, request: web.Request) -> web.StreamResponse:
        async def answer() -> web.Response:
            try:
                killmail_id = int(request.match_info["id"])
            except ValueError:
                return _json(400, {"error": "killmail_id must be an integer"})
            known = self.killmails.get(killmail_id)
            if known is None:
                return _json(404, {"error": "Killmail not found"})
            if known[0] != request.match_info["hash"]:
                return _json(422, {"error": "Invalid killmail_id and/or killmail_hash"})
            return _json(200, known[1])

        return await self._serve(request, "killmail", None, answer)

    async def _names(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)

        async def answer() -> web.Response:
            if not isinstance(body, list) or not body or len(body) > 1000:
                return _json(400, {"error": "ids: between 1 and 1000 integer IDs"})
            if any(not isinstance(i, int) or i not in self.names for i in body):
                return _json(404, {"error": "Ensure all IDs are valid before resolving."})
            found = [
                {"category": self.names[i][0], "id": i, "name": self.names[i][1]}
                for i in dict.fromkeys(body)
            ]
            return _json(200, found)

        return await self._serve(request, "names", body, answer)

    async def _ids(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request)

        async def answer() -> web.Response:
            if not isinstance(body, list) or not body or len(body) > 500:
                return _json(400, {"error": "names: between 1 and 500 strings"})
            wanted = {n.casefold() for n in body if isinstance(n, str)}
            found: dict[str, list[dict[str, Any]]] = {}
            for entity_id, (category, name) in self.names.items():
                if name.casefold() in wanted:
                    plural = _PLURAL.get(category, category + "s")
                    found.setdefault(plural, []).append({"id": entity_id, "name": name})
            return _json(200, found)

        return await self._serve(request, "ids", body, answer)

    async def _prices(self, request: web.Request) -> web.StreamResponse:
        async def answer() -> web.Response:
            return web.Response(body=self.prices, content_type="application/json")

        return await self._serve(request, "prices", None, answer)

    # --- the machinery every route shares ---

    async def _serve(
        self,
        request: web.Request,
        route: str,
        body: Any,
        answer: Callable[[], Any],
    ) -> web.StreamResponse:
        record = Recorded(
            request.method,
            route,
            request.path,
            body,
            request.headers.get("User-Agent"),
            self.now(),
        )
        self.requests.append(record)
        await asyncio.sleep(0)  # requests sent together are seen together
        if route in self._held:
            await self._unhold.wait()
        self._roll_window()
        if self._errors_left <= 0:
            return self._finish(record, _json(420, {"error": "error limited"}), spend=False)
        queued = self.faults.get(route)
        if self.down:
            return self._finish(record, _json(503, {"error": "ESI is down"}))
        if queued:
            return await self._fail(request, record, queued.popleft(), answer)
        limited = self._take_token()
        if limited is not None:
            return self._finish(record, limited)
        return self._finish(record, await answer())

    def _finish(
        self, record: Recorded, response: web.StreamResponse, *, spend: bool = True
    ) -> web.StreamResponse:
        if spend and response.status >= 400:
            self._errors_left = max(0, self._errors_left - 1)
        response.headers["X-ESI-Error-Limit-Remain"] = str(self._errors_left)
        reset = self._window_start + self.error_window - self.now()
        response.headers["X-ESI-Error-Limit-Reset"] = str(max(0, math.ceil(reset)))
        limit = self._limit()
        if limit is not None and self.ratelimit is not None:
            response.headers["X-Ratelimit-Group"] = self.ratelimit_group
            response.headers["X-Ratelimit-Limit"] = self.ratelimit
            response.headers["X-Ratelimit-Remaining"] = str(int(self._refill()))
        record.status = response.status
        return response

    async def _fail(
        self,
        request: web.Request,
        record: Recorded,
        fault: Fault,
        answer: Callable[[], Any],
    ) -> web.StreamResponse:
        if fault == "hang":
            # Past any sane timeout; released when the fake shuts down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.hang_seconds)
            return self._finish(record, _json(504, {"error": "Timeout contacting tranquility"}))
        if fault == "420":
            self._errors_left = 0
            return self._finish(record, _json(420, {"error": "error limited"}), spend=False)
        if fault == "429":
            return self._finish(record, self._too_many())
        if fault.isdigit():
            if self.error_body is not None:
                raw = web.Response(status=int(fault), body=self.error_body)
                return self._finish(record, raw)
            return self._finish(record, _json(int(fault), {"error": f"fault {fault}"}))
        good: web.Response = await answer()
        payload = good.body if isinstance(good.body, bytes) else b"{}"
        if fault == "truncated":
            cut = web.Response(body=payload[: len(payload) // 2], content_type="application/json")
            return self._finish(record, cut)
        if fault == "invalid":
            page = web.Response(body=b"<html>502 Bad Gateway</html>", content_type="text/html")
            return self._finish(record, page)
        assert fault == "cut"
        response = web.StreamResponse(headers={"Content-Length": str(len(payload))})
        self._finish(record, response)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 3])
        assert request.transport is not None
        request.transport.close()
        return response

    def _roll_window(self) -> None:
        now = self.now()
        if now >= self._window_start + self.error_window:
            windows = math.floor((now - self._window_start) / self.error_window)
            self._window_start += windows * self.error_window
            self._errors_left = self.error_limit

    def _limit(self) -> tuple[int, float] | None:
        if self.ratelimit is None:
            return None
        count, span = self.ratelimit.split("/")
        unit = {"s": 1.0, "m": 60.0, "h": 3600.0}[span[-1]]
        return int(count), float(span[:-1] or 1) * unit

    def _refill(self) -> float:
        limit = self._limit()
        if limit is None:
            return 0.0
        now = self.now()
        refilled = self._tokens + (now - self._tokens_at) * limit[0] / limit[1]
        self._tokens = min(float(limit[0]), refilled)
        self._tokens_at = now
        return self._tokens

    def _take_token(self) -> web.Response | None:
        if self._limit() is None:
            return None
        if self._refill() < 1.0:
            return self._too_many()
        self._tokens -= 1.0
        return None

    def _too_many(self) -> web.Response:
        limit = self._limit()
        wait = self.retry_after
        if wait is None:
            per_token = limit[1] / limit[0] if limit else 1.0
            wait = str(max(1, math.ceil(per_token)))
        response = _json(429, {"error": "Too many requests"})
        response.headers["Retry-After"] = wait
        return response


def _json(status: int, payload: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
