"""wanderer-kills' server-sent-event stream (`GET {base}/api/v1/kills/stream`).

wanderer-kills is a self-hosted service that follows zKillboard itself and pushes killmails it
has already enriched. Its stream (the `sse_phoenix_pubsub` library behind a Phoenix controller)
opens with a `retry:` field, sends each killmail as a JSON `data:` event (unnamed, or named
`killmail`), keeps the connection alive with `: ping` comments and `heartbeat` events, and
may send `connected`, `batch {kills[]}`/`transition` (preload on connect) and `error` events.
Its channel API's `killmail_update {system_id, killmails[], timestamp, preload}` envelope is
accepted here too. Filters go in the query: `system_ids`, `character_ids`, comma-separated.

A killmail there is not in ESI's shape: `kill_time`/`system_id`, names (`*_name`, `*_ticker`,
`ship_group`...) beside the ids, and a `zkb` block whose keys are snake_case in some versions
and zKillboard's camelCase in others. `wanderer_payload` maps one back to the envelope
`{"killmail_id", "hash", "esi", "zkb"}` that `engine.model.parse_killmail` reads, keeping what
the model has room for (ids, time, system, victim with items, attackers, zkb values/labels).

Reconnects send `Last-Event-ID` when the server gave event ids, and each kill from an event
with an id carries it as a cursor (on the last kill of the event only), so a restart resumes
after the last event whose kills were stored.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from engine.sources.base import Cursor, LiveFeed, RawKill
from engine.sources.http import (
    Backoff,
    Clock,
    HttpTimeouts,
    Retryable,
    describe_error,
    real_clock,
    retry_after,
)
from engine.sources.sse import SSEEvent, SSEParser
from engine.sources.status import SourceCounters, now_utc

__all__ = ["DEFAULT_TIMEOUTS", "WandererSource", "cursor_key", "wanderer_payload"]

log = logging.getLogger(__name__)

# The server sends a heartbeat every 30 s: silence for much longer than that is a hang.
DEFAULT_TIMEOUTS = HttpTimeouts(connect=5.0, read=75.0)

_KILL_EVENTS = frozenset(
    {"message", "killmail", "killmail_update", "batch", "preload_batch", "new_kill"}
)
_REMEMBERED = 4096  # recent kills kept to drop exact repeats (a preload replayed on reconnect)


def cursor_key(name: str) -> str:
    """The state key holding the last event id stored for the wanderer source `name`."""
    return f"source:{name}:last_event_id"



class WandererSource(LiveFeed):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        systems: Sequence[int] = (),
        characters: Sequence[int] = (),
        name: str = "wanderer",
        start: str | None = None,
        timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        reconnect: float = 3.0,
        user_agent: str | None = None,
        path: str = "/api/v1/kills/stream",
        rand: Callable[[], float] = random.random,
        wall: Callable[[], datetime] = now_utc,
    ) -> None:
        """`start` is the last event id a previous run stored. `reconnect` is the wait before
        reconnecting after the server ended the stream, until the server sets one with `retry:`.
        `timeouts.read` is the longest silence tolerated (heartbeats come every 30 s)."""
        self.name = name
        self._session = session
        self._url = base_url.rstrip("/") + path
        self._params: dict[str, str] = {}
        if systems:
            self._params["system_ids"] = ",".join(str(int(s)) for s in systems)
        if characters:
            self._params["character_ids"] = ",".join(str(int(c)) for c in characters)
        self._headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if user_agent:
            self._headers["User-Agent"] = user_agent
        self._timeout = timeouts.stream()
        self._clock = clock or real_clock()
        self._backoff = backoff or Backoff(first=1.0, cap=60.0, rand=rand)
        self._reconnect = reconnect
        self._server_retry: float | None = None
        self._rand = rand
        self._last_event_id = start or None
        self._counters = SourceCounters(name, "wanderer", wall)
        self._counters.last_position = self._last_event_id
        self._recent: OrderedDict[int, int] = OrderedDict()  # killmail_id -> payload digest
        self._iterating = False

    @property
    def last_event_id(self) -> str | None:
        return self._last_event_id

    async def kills(self) -> AsyncIterator[RawKill]:
        if not self._open:
            raise RuntimeError("use `async with WandererSource(...)` before iterating")
        if self._iterating:
            raise RuntimeError(f"{self.name}: kills() is already being iterated")
        self._iterating = True
        try:
            while True:
                received = False
                try:
                    async with self._session.get(
                        self._url,
                        params=self._params,
                        headers=self._request_headers(),
                        timeout=self._timeout,
                    ) as response:
                        self._check(response)
                        self._counters.ok()
                        log.info(
                            "%s: stream open%s", self.name,
                            f", resuming after event {self._last_event_id}"
                            if self._last_event_id else "",
                        )
                        parser = SSEParser(self._last_event_id)
                        async for chunk in response.content.iter_any():
                            self._counters.ok()  # heartbeats too: a quiet stream is alive
                            if not received:
                                received = True
                                self._backoff.reset()
                            for event in parser.feed(chunk):
                                for raw in self._kills_in(event):
                                    yield raw
                            # Only now: every kill before this id has been handed on.
                            self._last_event_id = parser.last_event_id
                            if parser.retry is not None:
                                self._server_retry = parser.retry / 1000
                    self._counters.disconnected()
                    if not received:
                        raise Retryable(
                            "closed", "server ended the stream without sending anything"
                        )
                    delay = self._reconnect if self._server_retry is None else self._server_retry
                    log.info("%s: server ended the stream; reconnecting in %.1f s", self.name,
                             delay)
                    self._counters.backing_off(delay)
                    await self._clock.sleep(delay)
                except Retryable as failure:
                    await self._back_off(failure)
                except TimeoutError:
                    await self._back_off(Retryable("timeout", "no data within the read timeout"))
                except aiohttp.ClientError as exc:
                    await self._back_off(Retryable("connection", describe_error(exc)))
        finally:
            self._iterating = False

    # --- connection ---

    def _request_headers(self) -> dict[str, str]:
        if self._last_event_id is None:
            return self._headers
        return {**self._headers, "Last-Event-ID": self._last_event_id}

    def _check(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 429:
            default = 10.0 + 10.0 * self._rand()
            raise Retryable("http_429", "rate limited", retry_after(response.headers, default))
        if response.status >= 500:
            raise Retryable("http_5xx", f"HTTP {response.status}")
        if response.status != 200:
            raise Retryable("http_4xx", f"HTTP {response.status}")
        if response.content_type != "text/event-stream":
            raise Retryable("malformed", f"answered {response.content_type}, not an event stream")

    async def _back_off(self, failure: Retryable) -> None:
        self._counters.disconnected()
        if failure.wait is not None:
            delay = failure.wait
        else:
            delay = self._backoff.next()
            if self._server_retry is not None:
                delay = max(delay, self._server_retry)
        self._counters.error(failure.kind, str(failure))
        self._counters.backing_off(delay)
        log.warning("%s: stream failed: %s; reconnecting in %.1f s", self.name, failure, delay)
        await self._clock.sleep(delay)

    # --- events ---

    def _kills_in(self, event: SSEEvent) -> list[RawKill]:
        if event.type == "error":
            self._counters.error("server_error", event.data[:200])
            log.warning("%s: the server reports an error: %.200s", self.name, event.data)
            return []
        if event.type not in _KILL_EVENTS:
            log.debug("%s: %s event", self.name, event.type)
            return []
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            self._counters.error("malformed", f"event {event.id}: data is not JSON ({exc})")
            log.warning("%s: event %s (%s) is not JSON; skipped", self.name, event.id, event.type)
            return []
        killmails = _killmails_of(data)
        if killmails is None:
            log.debug("%s: %s event %s holds no killmail", self.name, event.type, event.id)
            return []
        raws: list[RawKill] = []
        for killmail in killmails:
            payload = _payload_of(killmail)
            killmail_id, when = None, None
            if isinstance(payload, dict):
                killmail_id = payload.get("killmail_id")
                if isinstance(killmail_id, int) and self._repeat(killmail_id, payload):
                    continue
                when = payload["esi"].get("killmail_time")
            self._counters.kill(event.id, _kill_time(when), None)
            where = f"event {event.id or '-'} killmail {killmail_id}"
            raws.append(RawKill(self.name, payload, where))
        if raws and event.id is not None:
            raws[-1] = replace(raws[-1], cursor=Cursor(cursor_key(self.name), event.id))
        return raws

    def _repeat(self, killmail_id: int, payload: Mapping[str, Any]) -> bool:
        """True for a kill already handed on unchanged; a changed one (an update) passes."""
        digest = hash(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS))
        if self._recent.get(killmail_id) == digest:
            return True
        self._recent[killmail_id] = digest
        self._recent.move_to_end(killmail_id)
        if len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)
        return False


def _killmails_of(data: Any) -> list[Any] | None:
    """The killmails an event carries, whatever envelope the server version used."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return [data]  # not even an object: the parser will reject it and say so
    for key in ("killmails", "kills"):
        if isinstance(data.get(key), list):
            return list(data[key])
    if any(key in data for key in _KILLMAIL_KEYS):
        return [data]
    return None


_KILLMAIL_KEYS = ("killmail_id", "victim", "attackers", "kill_time", "killmail_time")


def _payload_of(killmail: Any) -> dict[str, Any] | bytes:
    if isinstance(killmail, Mapping):
        return wanderer_payload(killmail)
    return orjson.dumps(killmail)


# --- mapping wanderer-kills' killmail to the envelope parse_killmail reads ---

_VICTIM = (
    "ship_type_id", "character_id", "corporation_id", "alliance_id", "faction_id",
    "damage_taken", "position",
)
_ATTACKER = (
    "character_id", "corporation_id", "alliance_id", "faction_id", "ship_type_id",
    "weapon_type_id", "damage_done", "final_blow", "security_status",
)
_ITEM = ("flag", "quantity_destroyed", "quantity_dropped", "singleton")
# zKillboard's own spelling, which the model reads; snake_case is wanderer-kills' rewrite.
_ZKB = {
    "location_id": "locationID",
    "fitted_value": "fittedValue",
    "dropped_value": "droppedValue",
    "destroyed_value": "destroyedValue",
    "total_value": "totalValue",
    "points": "points",
    "npc": "npc",
    "solo": "solo",
    "awox": "awox",
    "labels": "labels",
    "href": "href",
    "hash": "hash",
}


def wanderer_payload(killmail: Mapping[str, Any]) -> dict[str, Any]:
    """One wanderer-kills killmail as `{"killmail_id", "hash", "esi", "zkb"}`.

    Never raises: a field of the wrong type is passed through for the parser to reject with a
    precise reason, and names the model has no room for are dropped."""
    zkb = _zkb(killmail)
    esi: dict[str, Any] = {}
    _put(esi, "killmail_id", killmail.get("killmail_id"))
    _put(esi, "killmail_time", _first(killmail, "killmail_time", "kill_time"))
    _put(esi, "solar_system_id", _first(killmail, "solar_system_id", "system_id"))
    victim = killmail.get("victim")
    _put(esi, "victim", _victim(victim) if isinstance(victim, Mapping) else victim)
    attackers = killmail.get("attackers")
    if isinstance(attackers, list):
        attackers = [_pick(a, _ATTACKER) if isinstance(a, Mapping) else a for a in attackers]
    _put(esi, "attackers", attackers)
    _put(esi, "war_id", killmail.get("war_id"))
    _put(esi, "moon_id", killmail.get("moon_id"))
    payload: dict[str, Any] = {"killmail_id": killmail.get("killmail_id")}
    hash_ = _first(killmail, "hash", "killmail_hash")
    if hash_ is None and isinstance(zkb, dict):
        hash_ = zkb.get("hash")
    _put(payload, "hash", hash_)
    payload["esi"] = esi
    _put(payload, "zkb", zkb)
    return payload


def _zkb(killmail: Mapping[str, Any]) -> Any:
    """The zkb block in zKillboard's spelling; anything but an object passes unchanged (the
    parser says what is wrong with it)."""
    raw = killmail.get("zkb")
    if not isinstance(raw, Mapping):
        return raw
    zkb: dict[str, Any] = {}
    for snake, camel in _ZKB.items():
        _put(zkb, camel, raw[camel] if raw.get(camel) is not None else raw.get(snake))
    # Some versions hoist the value beside the zkb block.
    if "totalValue" not in zkb:
        _put(zkb, "totalValue", killmail.get("total_value"))
    return zkb


def _victim(victim: Mapping[str, Any]) -> dict[str, Any]:
    mapped = _pick(victim, _VICTIM)
    items = victim.get("items")
    _put(mapped, "items", _items(items) if isinstance(items, list) else items)
    return mapped


def _items(items: list[Any]) -> list[Any]:
    mapped: list[Any] = []
    for item in items:
        if not isinstance(item, Mapping):
            mapped.append(item)
            continue
        entry = _pick(item, _ITEM)
        _put(entry, "item_type_id", _first(item, "item_type_id", "type_id"))
        inner = item.get("items")
        _put(entry, "items", _items(inner) if isinstance(inner, list) else inner)
        mapped.append(entry)
    return mapped


def _pick(source: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _first(source: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if source.get(key) is not None:
            return source[key]
    return None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _kill_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
