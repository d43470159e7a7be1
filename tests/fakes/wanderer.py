"""A fake wanderer-kills SSE stream on 127.0.0.1 (`/api/v1/kills/stream`).

It keeps a log of events (numbered from 1) built from real fixture killmails rewritten into
wanderer-kills' enriched shape, replays the ones after the request's Last-Event-ID, then holds the
stream open with `: ping` comments and sends whatever is published next. Faults are queued:
`connect_faults` are used up one per connection attempt, `cut_after` (drop the connection in the
middle of the n-th event) one per successful connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

ConnectFault = Literal["500", "503", "429", "404", "hang", "silent", "json", "empty"]


@dataclass
class Connect:
    query: dict[str, str]
    last_event_id: str | None
    accept: str | None


@dataclass(frozen=True)
class Event:
    id: int
    type: str | None
    data: Any  # JSON-able; a str is sent as it is (to serve broken JSON)


@dataclass
class FakeWanderer:
    retry_ms: int | None = None  # sent first on every connection, as sse_phoenix_pubsub does
    heartbeat: float = 0.05  # seconds between `: ping` comments while idle
    send_ids: bool = True
    multiline: bool = False  # spread each event's JSON over several `data:` lines
    line_end: str = "\n"
    space: bool = True  # "data: {...}" rather than "data:{...}"
    end_after_replay: bool = False  # end the stream cleanly once the log is sent
    retry_after: str = "9"
    connect_faults: deque[ConnectFault] = field(default_factory=deque)
    cut_after: deque[int] = field(default_factory=deque)
    connects: list[Connect] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/api/v1/kills/stream", self._stream)
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
        self._new.set()
        assert self._runner is not None
        await self._runner.cleanup()

    # --- the stream's content ---

    def publish(self, type_: str | None, data: Any) -> int:
        event = Event(len(self.events) + 1, type_, data)
        self.events.append(event)
        self._new.set()
        return event.id

    def publish_kill(self, line: dict[str, Any], type_: str | None = None, **style: Any) -> int:
        """One killmail per event, as the real stream sends them (unnamed by default)."""
        return self.publish(type_, to_wanderer(line, **style))

    def publish_update(self, lines: list[dict[str, Any]], *, preload: bool = False) -> int:
        """Several killmails in one `killmail_update` event."""
        data = {
            "system_id": lines[0]["esi"]["solar_system_id"],
            "killmails": [to_wanderer(line) for line in lines],
            "timestamp": "2026-06-01T12:00:00Z",
            "preload": preload,
        }
        return self.publish("killmail_update", data)

    # --- HTTP ---

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.connects.append(
            Connect(
                dict(request.query),
                request.headers.get("Last-Event-ID"),
                request.headers.get("Accept"),
            )
        )
        fault = self.connect_faults.popleft() if self.connect_faults else None
        if fault in ("500", "503", "404"):
            return web.Response(status=int(fault), text="error")
        if fault == "429":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if fault == "json":
            return web.json_response({"error": "not a stream"})
        if fault == "hang":
            await self._hold()
            return web.Response(status=504)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        if fault == "empty":
            return response  # a clean end before anything was sent
        if fault == "silent":
            await self._hold()  # headers, then nothing: only a read timeout can tell
            return response
        after = int(request.headers.get("Last-Event-ID") or 0)
        position = next((i for i, e in enumerate(self.events) if e.id > after), len(self.events))
        cut = self.cut_after.popleft() if self.cut_after else None
        sent = 0
        end = self.line_end.encode()
        try:
            if self.retry_ms is not None:
                await response.write(b"retry: %d" % self.retry_ms + end + end)
            while not self._release.is_set():
                while position < len(self.events):
                    encoded = self._encode(self.events[position])
                    if cut is not None and sent == cut:
                        await response.write(encoded[: len(encoded) // 2])
                        assert request.transport is not None
                        request.transport.close()
                        return response
                    await response.write(encoded)
                    position += 1
                    sent += 1
                if self.end_after_replay:
                    return response
                self._new.clear()
                try:
                    await asyncio.wait_for(self._new.wait(), self.heartbeat)
                except TimeoutError:
                    await response.write(b": ping" + end + end)
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away
        return response

    async def _hold(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), 30)

    def _encode(self, event: Event) -> bytes:
        end = self.line_end
        sep = ": " if self.space else ":"
        lines = []
        if self.send_ids:
            lines.append(f"id{sep}{event.id}")
        if event.type is not None:
            lines.append(f"event{sep}{event.type}")
        if isinstance(event.data, str):
            text = event.data
        else:
            option = orjson.OPT_INDENT_2 if self.multiline else 0
            text = orjson.dumps(event.data, option=option).decode()
        lines.extend(f"data{sep}{part}" for part in text.split("\n"))
        return (end.join(lines) + end + end).encode()


# --- fixture killmails in wanderer-kills' enriched shape ---

_ZKB_SNAKE = {
    "locationID": "location_id",
    "fittedValue": "fitted_value",
    "droppedValue": "dropped_value",
    "destroyedValue": "destroyed_value",
    "totalValue": "total_value",
}


def to_wanderer(
    line: dict[str, Any], *, zkb_case: str = "snake", lean: bool = False
) -> dict[str, Any]:
    """A fixture killmail as wanderer-kills serves it: `kill_time`, `system_id`, names beside
    ids, `ship_group`/`ship_category`, and a snake_case (or camelCase) zkb block.

    `lean` drops what its leaner serialiser leaves out: victim items, position, faction."""
    esi = line["esi"]
    victim = dict(esi["victim"])
    if lean:
        for key in ("items", "position", "faction_id"):
            victim.pop(key, None)
    victim |= _names(victim)
    attackers = [dict(attacker) | _names(attacker) for attacker in esi.get("attackers") or ()]
    zkb = dict(line.get("zkb") or {})
    zkb["hash"] = line["hash"]
    if zkb_case == "snake":
        zkb = {_ZKB_SNAKE.get(key, key): value for key, value in zkb.items()}
    killmail: dict[str, Any] = {
        "killmail_id": line["killmail_id"],
        "kill_time": esi["killmail_time"],
        "system_id": esi["solar_system_id"],
        "system_name": f"System {esi['solar_system_id']}",
        "victim": victim,
        "attackers": attackers,
        "zkb": zkb,
        "attacker_count": len(attackers),
    }
    for key in ("war_id", "moon_id"):
        if esi.get(key) is not None:
            killmail[key] = esi[key]
    return killmail


def _names(party: dict[str, Any]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    if party.get("character_id"):
        names["character_name"] = f"Pilot {party['character_id']}"
    if party.get("corporation_id"):
        names["corporation_name"] = f"Corp {party['corporation_id']}"
        names["corporation_ticker"] = "CORP"
    if party.get("alliance_id"):
        names["alliance_name"] = f"Alliance {party['alliance_id']}"
    if party.get("ship_type_id"):
        names["ship_name"] = f"Ship {party['ship_type_id']}"
        names["ship_group"] = "Frigate"
        names["ship_category"] = "Ship"
    return names
