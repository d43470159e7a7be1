"""The ESI client: killmail bodies, IDs to names, names to IDs, market prices.

Every call goes through the etiquette of :mod:`engine.esi.limits`: the circuit breaker first
(a down ESI costs no request at all), then the error-limit gate and the route's rate-limit
bucket (waits, never a sure 420/429), then the request with connect/read timeouts. 5xx,
timeouts, dropped connections and broken bodies are retried a bounded number of times with
backoff; 404 and other refusals are answered at once and never retried.

The client is handed its `aiohttp` session and a `Clock`, so tests point it at a fake server
and move time by hand.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Final, NoReturn, TypeAlias, TypeVar

import aiohttp
import msgspec
from cachetools import LRUCache

from engine.esi.errors import (
    EsiBadResponse,
    EsiNotFound,
    EsiRejected,
    EsiUnavailable,
    excerpt,
)
from engine.esi.limits import CircuitBreaker, ErrorLimitGate, RateLimitBuckets, RetryPolicy
from engine.model.entities import EntityRef, MarketPrice, name_key
from engine.sources.http import Clock, HttpTimeouts, real_clock

__all__ = [
    "DEFAULT_ESI_URL",
    "IDS_BATCH",
    "NAMES_BATCH",
    "EsiClient",
    "EsiName",
    "EsiStatus",
]

log = logging.getLogger(__name__)

DEFAULT_ESI_URL: Final = "https://esi.evetech.net"
NAMES_BATCH: Final = 1000  # ESI's limit for POST /universe/names/
IDS_BATCH: Final = 500  # ESI's limit for POST /universe/ids/

# What `/universe/names/` gives for one ID (category singular, ``solar_system`` → ``system``).
EsiName: TypeAlias = EntityRef

_T = TypeVar("_T")
_HASH = re.compile(r"^[0-9A-Fa-f]{1,64}$")
_INVALID_IDS_REMEMBERED = 100_000

# /universe/names/ and /universe/ids/ spell categories differently; EntityRef has one spelling.
_CATEGORY: Final = {
    "solar_system": "system",
    "characters": "character",
    "corporations": "corporation",
    "alliances": "alliance",
    "factions": "faction",
    "systems": "system",
    "constellations": "constellation",
    "regions": "region",
    "inventory_types": "inventory_type",
    "stations": "station",
    "agents": "agent",
}

# Failures that say ESI is not answering; they count toward opening the breaker.
_OUTAGE: Final = frozenset({"server_error", "timeout", "connection", "malformed"})


def _category(raw: str) -> str:
    return _CATEGORY.get(raw, raw)


class _NameWire(msgspec.Struct, frozen=True):
    category: str
    id: int
    name: str


class _IdWire(msgspec.Struct, frozen=True):
    id: int
    name: str


_names_decoder = msgspec.json.Decoder(list[_NameWire])
_ids_decoder = msgspec.json.Decoder(dict[str, list[_IdWire]])
_prices_decoder = msgspec.json.Decoder(list[MarketPrice])
_object_decoder = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


class EsiStatus(msgspec.Struct, frozen=True):
    """A snapshot of the client for `status`: how ESI has been treating us."""

    calls: int  # requests sent
    errors: dict[str, int]  # by kind: timeout, server_error, error_limited, not_found, ...
    breaker: str  # closed | open | half_open
    consecutive_failures: int
    breaker_opened: int  # how many times the breaker opened
    error_limit_remain: int | None
    error_limit_reset_in: float | None  # seconds until ESI's error window resets
    invalid_ids: int  # IDs /universe/names/ refused, never asked again


class _Transient(Exception):
    """One attempt failed in a way worth another; `gated`: the limits gates do the waiting."""

    def __init__(self, reason: str, detail: str, *, gated: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.gated = gated


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EsiClient:
    """The one ESI client of the process; share it between the resolvers, the price book and
    the feeds' killmail fetch so they share the error limit, the buckets and the breaker."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_ESI_URL,
        user_agent: str,
        timeouts: HttpTimeouts | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        error_floor: int = 10,
        breaker_threshold: int = 5,
        breaker_cool_down: float = 30.0,
        concurrency: int = 8,
        compatibility_date: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeouts = timeouts or HttpTimeouts()
        self._clock = clock or real_clock()
        self._retry = retry or RetryPolicy()
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if compatibility_date:
            self._headers["X-Compatibility-Date"] = compatibility_date
        self.error_limit = ErrorLimitGate(self._clock, floor=error_floor)
        self.buckets = RateLimitBuckets(self._clock)
        self.breaker = CircuitBreaker(
            self._clock, threshold=breaker_threshold, cool_down=breaker_cool_down
        )
        self._in_flight = asyncio.Semaphore(concurrency)
        self._invalid_ids: LRUCache[int, bool] = LRUCache(_INVALID_IDS_REMEMBERED)
        self._calls = 0
        self._errors: Counter[str] = Counter()

    # --- the routes ---

    async def killmail(self, killmail_id: int, hash: str) -> dict[str, Any]:
        """The ESI killmail body; `EsiNotFound` when id and hash name no killmail."""
        if killmail_id <= 0 or not _HASH.match(hash):
            raise EsiNotFound(f"killmail {killmail_id}: not a valid id and hash")
        route = "killmail"
        try:
            body = await self._call(
                "GET", route, f"/killmails/{killmail_id}/{hash}/", _object_decoder.decode
            )
        except EsiRejected as exc:
            if exc.status == 422:
                # ESI's answer to a hash that does not belong to the id.
                raise EsiNotFound(f"killmail {killmail_id}: id and hash do not match") from None
            raise
        found = body.get("killmail_id")
        if found is not None and found != killmail_id:
            self._errors["malformed"] += 1
            raise EsiBadResponse(f"asked for killmail {killmail_id}, ESI sent {found!r}")
        return body

    async def names(self, ids: Collection[int]) -> list[EsiName]:
        """Names of characters, corporations, alliances, factions... for `ids`.

        Batches of up to 1,000. ESI fails a whole batch with 404 when one ID in it is invalid;
        such a batch is split in halves until the bad IDs stand alone, and those are
        remembered so they are never asked again. IDs ESI does not know are simply missing
        from the result. Raises `EsiUnavailable` when ESI cannot be asked.
        """
        wanted = sorted({i for i in ids if i > 0 and i not in self._invalid_ids})
        found: list[EsiName] = []
        for chunk in _chunks(wanted, NAMES_BATCH):
            found.extend(await self._names_isolating(chunk))
        return found

    async def ids(self, names: Collection[str]) -> dict[str, list[EntityRef]]:
        """What each exact name is (a name may be a character and a corporation at once).

        Keyed by :func:`engine.model.entities.name_key` of the name; names ESI does not know
        are absent. Batches of up to 500.
        """
        unique: dict[str, str] = {}
        for name in names:
            key = name_key(name)
            if key:
                unique.setdefault(key, name.strip())
        result: dict[str, list[EntityRef]] = {}
        for chunk in _chunks(list(unique.values()), IDS_BATCH):
            answer = await self._call(
                "POST", "ids", "/universe/ids/", _ids_decoder.decode, body=list(chunk)
            )
            for plural, entries in answer.items():
                category = _category(plural)
                for entry in entries:
                    ref = EntityRef(category, entry.id, entry.name)
                    result.setdefault(name_key(entry.name), []).append(ref)
        return result

    async def prices(self) -> list[MarketPrice]:
        """CCP's average and adjusted price of every traded type (one call, ~15k entries)."""
        return await self._call("GET", "prices", "/markets/prices/", _prices_decoder.decode)

    def status(self) -> EsiStatus:
        return EsiStatus(
            calls=self._calls,
            errors=dict(self._errors),
            breaker=self.breaker.state.value,
            consecutive_failures=self.breaker.consecutive_failures,
            breaker_opened=self.breaker.opened,
            error_limit_remain=self.error_limit.remain,
            error_limit_reset_in=self.error_limit.reset_in,
            invalid_ids=len(self._invalid_ids),
        )

    def is_invalid(self, entity_id: int) -> bool:
        """Did ESI say this ID does not exist? (Then no name will ever come for it.)"""
        return entity_id in self._invalid_ids

    # --- names: isolating bad IDs ---

    async def _names_isolating(self, ids: Sequence[int]) -> list[EsiName]:
        try:
            answer = await self._call(
                "POST", "names", "/universe/names/", _names_decoder.decode, body=list(ids)
            )
        except EsiNotFound:
            if len(ids) == 1:
                self._invalid_ids[ids[0]] = True
                log.info("ESI knows no entity %d; it will not be asked again", ids[0])
                return []
            # Halving finds k bad IDs among n in about 2·k·log2(n) calls, each 404 costing one
            # point of the error limit; the gate stops before the limit runs out.
            middle = len(ids) // 2
            first = await self._names_isolating(ids[:middle])
            return first + await self._names_isolating(ids[middle:])
        return [EntityRef(_category(n.category), n.id, n.name) for n in answer]

    # --- one call: breaker, retries ---

    async def _call(
        self,
        method: str,
        route: str,
        path: str,
        decode: Callable[[bytes], _T],
        *,
        body: object = None,
    ) -> _T:
        trial = self.breaker.admit()
        if trial is None:
            self._errors["circuit_open"] += 1
            raise EsiUnavailable(
                "circuit_open", f"{route}: ESI failing, next try in {self.breaker.retry_in():.0f}s"
            )
        attempts = 1 if trial else self._retry.attempts
        backoff = self._retry.backoff()
        payload = None if body is None else _encoder.encode(body)
        try:
            for attempt in range(1, attempts + 1):
                try:
                    result = await self._attempt(method, route, path, payload, decode)
                except _Transient as exc:
                    self._errors[exc.reason] += 1
                    if attempt == attempts:
                        self._give_up(route, exc, trial=trial)
                    if not exc.gated:
                        delay = backoff.next()
                        log.info(
                            "ESI %s: %s (attempt %d of %d); retrying in %.1fs",
                            route, exc.detail, attempt, attempts, delay,
                        )  # fmt: skip
                        await self._clock.sleep(delay)
                    continue
                except (EsiNotFound, EsiRejected) as exc:
                    self._errors["not_found" if isinstance(exc, EsiNotFound) else "rejected"] += 1
                    self.breaker.success()  # an answer, even "no", means ESI is up
                    raise
                self.breaker.success()
                return result
        except asyncio.CancelledError:
            if trial:
                self.breaker.abandon_trial()
            raise
        raise AssertionError("unreachable: the last attempt returns or gives up")

    def _give_up(self, route: str, exc: _Transient, *, trial: bool) -> NoReturn:
        if exc.reason in _OUTAGE:
            opened = self.breaker.opened
            self.breaker.failure()
            if self.breaker.opened != opened:
                log.warning(
                    "ESI keeps failing (%s); calls stop for %.0fs",
                    exc.detail, self.breaker.cool_down,
                )  # fmt: skip
        elif trial:
            # Throttled is not broken: no verdict on ESI's health, the next call may try.
            self.breaker.abandon_trial()
        if exc.reason == "malformed":
            raise EsiBadResponse(f"{route}: {exc.detail}")
        raise EsiUnavailable(exc.reason, f"{route}: {exc.detail}")

    # --- one attempt: gates, request, status ---

    async def _attempt(
        self,
        method: str,
        route: str,
        path: str,
        payload: bytes | None,
        decode: Callable[[bytes], _T],
    ) -> _T:
        await self.error_limit.wait()
        await self.buckets.wait(route)
        headers = dict(self._headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        async with self._in_flight:
            self._calls += 1
            try:
                async with self._session.request(
                    method,
                    self._base + path,
                    data=payload,
                    headers=headers,
                    timeout=self._timeouts.request(),
                ) as response:
                    status = response.status
                    answer_headers = response.headers
                    raw = await response.read()
            except TimeoutError:
                raise _Transient("timeout", "no answer within the timeout") from None
            except aiohttp.ClientPayloadError as exc:
                raise _Transient("malformed", f"body cut short: {exc}") from None
            except aiohttp.ClientError as exc:
                raise _Transient("connection", f"{type(exc).__name__}: {exc}") from None
        self.error_limit.observe(answer_headers)
        self.buckets.observe(route, answer_headers)
        if 200 <= status < 300:
            try:
                return decode(raw)
            except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
                raise _Transient("malformed", f"{exc} in {excerpt(raw)!r}") from None
        if status == 404:
            raise EsiNotFound(f"{route}: not found")
        if status == 420:
            self.error_limit.locked_out(answer_headers)
            log.warning(
                "ESI error limit reached; waiting %.0fs for the reset", self.error_limit.delay()
            )
            raise _Transient("error_limited", "HTTP 420, error limit reached", gated=True)
        if status == 429:
            wait = self.buckets.too_many(route, answer_headers)
            raise _Transient("rate_limited", f"HTTP 429, retry after {wait:.0f}s", gated=True)
        if status >= 500:
            raise _Transient("server_error", f"HTTP {status} {excerpt(raw)!r}")
        raise EsiRejected(status, route, excerpt(raw))
