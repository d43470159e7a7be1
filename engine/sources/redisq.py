"""A RedisQ-compatible feed (zKillboard's legacy queue API, kept alive by mirrors).

`GET {base}/listen.php?queueID=NAME&ttw=N` holds the request up to N seconds and answers
`{"package": null}` when nothing came, else `{"package": {"killID", "killmail", "zkb"}}`. It may
answer with a redirect to an `object.php` URL (followed). The server keeps one queue per
queueID, so exactly one request is in flight at a time.

Newer servers leave `killmail` out and give `zkb.href`, the ESI URL of the body; the body then
comes from an injected `fetch_killmail(killmail_id, hash)` (the shared ESI client), with a
few retries, and a kill whose body cannot be had is logged, counted and skipped: never stuck.

A queue has no position to resume from, so these kills carry no cursor: a restart picks up
whatever the queue kept for this queueID.
"""

from __future__ import annotations

import logging
import random
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from engine.sources.base import LiveFeed, RawKill
from engine.sources.http import (
    Backoff,
    Clock,
    HttpTimeouts,
    Retryable,
    describe_error,
    rate_limited,
    real_clock,
)
from engine.sources.status import SourceCounters, now_utc

__all__ = ["FetchKillmail", "RedisQSource"]

log = logging.getLogger(__name__)

FetchKillmail = Callable[[int, str], Awaitable[dict[str, Any]]]
"""Fetch an ESI killmail body by id and hash. Raise `LookupError` when it does not exist (no
retry); any other exception counts as a transient failure and is retried."""

_HREF = re.compile(r"/killmails/(\d+)/([0-9A-Za-z]+)/?")
_DEFAULT_TIMEOUTS = HttpTimeouts()
_REMEMBERED = 4096  # recent killIDs kept to drop a package the queue hands out twice



class RedisQSource(LiveFeed):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        queue_id: str,
        ttw: int = 10,
        name: str = "redisq",
        fetch_killmail: FetchKillmail | None = None,
        timeouts: HttpTimeouts = _DEFAULT_TIMEOUTS,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        user_agent: str | None = None,
        body_attempts: int = 3,
        rand: Callable[[], float] = random.random,
        wall: Callable[[], datetime] = now_utc,
    ) -> None:
        """`ttw` (1-10 s) is how long the server may hold a poll; the read timeout of a poll
        is `ttw + timeouts.read`, so a long poll is never mistaken for a hang."""
        if not 1 <= ttw <= 10:
            raise ValueError("ttw must be between 1 and 10 seconds")
        if not queue_id:
            raise ValueError("queue_id must name this consumer's queue")
        if body_attempts < 1:
            raise ValueError("body_attempts must be at least 1")
        self.name = name
        self._session = session
        self._url = base_url.rstrip("/") + "/listen.php"
        self._params = {"queueID": queue_id, "ttw": str(ttw)}
        self._headers = {"Accept": "application/json"}
        if user_agent:
            self._headers["User-Agent"] = user_agent
        self._timeout = aiohttp.ClientTimeout(
            total=timeouts.connect + ttw + timeouts.read,
            connect=timeouts.connect,
            sock_read=ttw + timeouts.read,
        )
        self._fetch_killmail = fetch_killmail
        self._clock = clock or real_clock()
        self._backoff = backoff or Backoff(first=1.0, cap=60.0, rand=rand)
        self._body_attempts = body_attempts
        self._rand = rand
        self._counters = SourceCounters(name, "redisq", wall)
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._iterating = False

    async def kills(self) -> AsyncIterator[RawKill]:
        if not self._open:
            raise RuntimeError("use `async with RedisQSource(...)` before iterating")
        if self._iterating:
            # Two loops on one queueID would each get half the kills.
            raise RuntimeError(f"{self.name}: kills() is already being iterated")
        self._iterating = True
        try:
            while True:
                package = await self._poll()
                if package is None:
                    continue
                raw = await self._complete(package)
                if raw is not None:
                    yield raw
        finally:
            self._iterating = False

    # --- one poll ---

    async def _poll(self) -> dict[str, Any] | None:
        """The next package, or None when the queue was empty or the poll failed (after
        waiting out the failure)."""
        try:
            body = await self._request()
        except Retryable as failure:
            await self._back_off(failure)
            return None
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            await self._back_off(Retryable("malformed", f"reply is not JSON ({exc})"))
            return None
        if not isinstance(envelope, dict) or "package" not in envelope:
            await self._back_off(Retryable("malformed", "reply has no `package`"))
            return None
        package = envelope["package"]
        if package is not None and not isinstance(package, dict):
            await self._back_off(Retryable("malformed", "`package` is not an object"))
            return None
        self._backoff.reset()
        # An empty package comes after the server waited ttw seconds: poll again at once.
        return package

    async def _request(self) -> bytes:
        try:
            async with self._session.get(
                self._url,
                params=self._params,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=True,
            ) as response:
                if response.status == 429:
                    raise rate_limited(response.headers, self._rand)
                if response.status >= 500:
                    raise Retryable("http_5xx", f"HTTP {response.status}")
                if response.status != 200:
                    raise Retryable("http_4xx", f"HTTP {response.status}")
                body = await response.read()
        except TimeoutError as exc:
            raise Retryable("timeout", "no answer within the timeout") from exc
        except aiohttp.ClientError as exc:
            raise Retryable("connection", describe_error(exc)) from exc
        self._counters.ok()
        return body

    async def _back_off(self, failure: Retryable) -> None:
        delay = failure.wait if failure.wait is not None else self._backoff.next()
        self._counters.error(failure.kind, str(failure))
        self._counters.backing_off(delay)
        log.warning("%s: poll failed: %s; retrying in %.1f s", self.name, failure, delay)
        await self._clock.sleep(delay)

    # --- one package ---

    async def _complete(self, package: dict[str, Any]) -> RawKill | None:
        """The package as a RawKill, its body fetched when the server left it out."""
        killmail_id, hash_ = _identity(package)
        if killmail_id is not None and killmail_id in self._seen:
            log.debug("%s: killID %d handed out again; dropped", self.name, killmail_id)
            return None
        where = f"killID {killmail_id}" if killmail_id is not None else "a package without killID"
        if package.get("killmail") is None and killmail_id is not None and hash_ is not None:
            if self._fetch_killmail is None:
                log.warning("%s: %s has no body and no ESI fetcher is set", self.name, where)
            else:
                body = await self._fetch_body(killmail_id, hash_)
                if body is None:
                    return None
                package = {**package, "killID": killmail_id, "killmail": body}
        # Anything still wrong with the package is the parser's to reject and count.
        if killmail_id is not None:
            self._remember(killmail_id)
        killmail = package.get("killmail")
        self._counters.kill(
            str(killmail_id) if killmail_id is not None else None,
            _kill_time(killmail.get("killmail_time") if isinstance(killmail, dict) else None),
            None,
        )
        return RawKill(self.name, {"package": package}, where)

    async def _fetch_body(self, killmail_id: int, hash_: str) -> dict[str, Any] | None:
        assert self._fetch_killmail is not None
        retry = Backoff(first=1.0, cap=10.0, rand=self._rand)
        for attempt in range(1, self._body_attempts + 1):
            try:
                # Any: a fetcher is outside code, so what it returns is checked, not trusted.
                body: Any = await self._fetch_killmail(killmail_id, hash_)
            except LookupError as exc:
                self._counters.error("not_found", f"killmail {killmail_id}: {exc}")
                log.warning("%s: ESI has no killmail %d (%s); skipped", self.name, killmail_id, exc)
                return None
            except Exception as exc:  # the fetcher is injected: any failure of it is transient
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if isinstance(body, Mapping):
                    return dict(body)
                failure = f"fetcher returned {type(body).__name__}, not a killmail"
            if attempt < self._body_attempts:
                delay = retry.next()
                log.info(
                    "%s: body of killmail %d failed (%s); retry %d in %.1f s",
                    self.name, killmail_id, failure, attempt, delay,
                )
                await self._clock.sleep(delay)
        self._counters.error("body_unavailable", f"killmail {killmail_id}: {failure}")
        log.warning(
            "%s: gave up on the body of killmail %d after %d attempts (%s); skipped",
            self.name, killmail_id, self._body_attempts, failure,
        )
        return None

    def _remember(self, killmail_id: int) -> None:
        self._seen[killmail_id] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


def _identity(package: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """killID and hash, from the package's fields or else from `zkb.href`."""
    zkb = package.get("zkb")
    zkb = zkb if isinstance(zkb, Mapping) else {}
    killmail_id = _int(package.get("killID"))
    hash_ = zkb.get("hash") if isinstance(zkb.get("hash"), str) else None
    href = zkb.get("href")
    if isinstance(href, str) and (killmail_id is None or hash_ is None):
        match = _HREF.search(href)
        if match is not None:
            killmail_id = killmail_id if killmail_id is not None else int(match[1])
            hash_ = hash_ if hash_ is not None else match[2]
    return killmail_id, hash_


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _kill_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
