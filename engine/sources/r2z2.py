"""zKillboard's R2Z2 feed: one JSON file per sequence number, walked upward, resumable.

`GET {base}/sequence.json` names a recent sequence (rewritten only every ~50, so it trails the
real head); `GET {base}/{N}.json` is one killmail, or 404 while N is not published yet. Files
expire after about a day.

The walk, in the three situations it meets:
- **At the head** (N is past the last known head): fetch N alone; on 404 wait `poll_wait`
  and ask again. After `max_404s` consecutive 404s (or `max_404_seconds`) re-read
  sequence.json: if the head moved past N, N is a hole in the sequence, not a kill still to
  come, and the walk goes on.
- **Behind** (N is at or below a head sequence.json reported): fetch up to `concurrency`
  sequences at once, hand them on in order; a 404 here is a hole (a published head means
  every earlier number was published), skipped at once and logged as a gap.
- **Far behind** (after a long downtime, more than `max_backlog` sequences): the oldest
  files have expired, so find the oldest one still served by bisection instead of walking
  thousands of 404s, and say how many were lost.

Each kill carries its sequence as a `Cursor`; the pipeline saves it in the same transaction as
the kill, so a restart resumes right after the last kill stored.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import msgspec

from engine.sources.base import Cursor, LiveFeed, RawKill
from engine.sources.http import (
    Backoff,
    Clock,
    HttpTimeouts,
    RateLimiter,
    Retryable,
    describe_error,
    rate_limited,
    real_clock,
)
from engine.sources.status import SourceCounters

__all__ = ["DEFAULT_R2Z2_URL", "R2Z2Source", "cursor_key"]

log = logging.getLogger(__name__)

DEFAULT_R2Z2_URL = "https://r2z2.zkillboard.com/ephemeral"


def cursor_key(name: str) -> str:
    """The state key holding the last sequence stored for the R2Z2 source called `name`."""
    return f"source:{name}:sequence"


class _Esi(msgspec.Struct):
    killmail_time: str | None = None


class _Envelope(msgspec.Struct):
    """Just what the walk needs; the pipeline's parser reads the whole payload."""

    killmail_id: int | None = None
    sequence_id: int | None = None
    uploaded_at: float | None = None
    esi: _Esi | None = None


class _Sequence(msgspec.Struct):
    sequence: int


_envelope = msgspec.json.Decoder(_Envelope)
_sequence = msgspec.json.Decoder(_Sequence)



@dataclass(frozen=True, slots=True)
class _Missing:
    """The sequence answered 404."""


_MISSING = _Missing()


class R2Z2Source(LiveFeed):
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str = DEFAULT_R2Z2_URL,
        name: str = "r2z2",
        start_after: int | None = None,
        user_agent: str,
        timeouts: HttpTimeouts | None = None,
        requests_per_second: float | None = 10.0,
        poll_wait: float = 6.0,
        max_404s: int = 10,
        max_404_seconds: float = 300.0,
        concurrency: int = 8,
        max_backlog: int = 30_000,
        malformed_retries: int = 2,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """`start_after` is the last sequence stored by a previous run (None: start at the
        head sequence.json names). `requests_per_second` None lifts the rate cap."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.name = name
        self._session = session
        self._base = base_url.rstrip("/")
        self._start_after = start_after
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._timeout = (timeouts or HttpTimeouts()).request()
        self._clock = clock or real_clock()
        self._limiter = RateLimiter(requests_per_second, self._clock)
        self._poll_wait = poll_wait
        self._max_404s = max_404s
        self._max_404_seconds = max_404_seconds
        self._concurrency = concurrency
        self._max_backlog = max_backlog
        self._malformed_retries = malformed_retries
        self._rand = rand
        self._backoff = Backoff(first=1.0, cap=60.0, rand=rand)
        self._counters = SourceCounters(name, "r2z2")
        self._head: int | None = None  # the highest sequence known to be published
        self._gap_start: int | None = None

    async def kills(self) -> AsyncIterator[RawKill]:
        if not self._open:
            raise RuntimeError("use `async with R2Z2Source(...)` before iterating")
        sequence = await self._first_sequence()
        waiting_since: float | None = None
        misses = 0
        while True:
            if self._head is not None and sequence <= self._head:
                window = min(self._concurrency, self._head - sequence + 1)
                results = await asyncio.gather(
                    *(self._fetch(sequence + offset) for offset in range(window))
                )
                for offset, result in enumerate(results):
                    current = sequence + offset
                    if isinstance(result, _Missing):
                        self._note_gap(current)
                    else:
                        self._close_gap(current)
                        yield self._raw(current, result)
                sequence += window
                if sequence > self._head:
                    await self._refresh_head()  # a backlog may have grown while we walked
                continue

            result = await self._fetch(sequence)
            if not isinstance(result, _Missing):
                misses, waiting_since = 0, None
                self._close_gap(sequence)
                yield self._raw(sequence, result)
                sequence += 1
                continue

            # Not published yet, or a hole: only sequence.json can tell which.
            misses += 1
            now = self._clock.now()
            waiting_since = now if waiting_since is None else waiting_since
            if misses >= self._max_404s or now - waiting_since >= self._max_404_seconds:
                misses, waiting_since = 0, None
                await self._refresh_head()
                if self._head is not None and self._head >= sequence:
                    log.info(
                        "%s: sequence %d is still missing but the feed is at %d; skipping on",
                        self.name,
                        sequence,
                        self._head,
                    )
                    continue
            await self._clock.sleep(self._poll_wait)

    # --- positions ---

    async def _first_sequence(self) -> int:
        await self._refresh_head()
        while self._head is None:
            await self._refresh_head()
        if self._start_after is None:
            log.info("%s: no saved position; starting at the feed's head, %d", self.name,
                     self._head)
            return self._head
        sequence = self._start_after + 1
        if self._head - sequence > self._max_backlog:
            oldest = await self._oldest_served(sequence, self._head)
            log.warning(
                "%s: down too long: sequences %d-%d expired from R2Z2 before they could be "
                "read (%d lost); resuming at %d",
                self.name,
                sequence,
                oldest - 1,
                oldest - sequence,
                oldest,
            )
            sequence = oldest
        else:
            log.info("%s: resuming at sequence %d (head %d)", self.name, sequence, self._head)
        return sequence

    async def _oldest_served(self, low: int, high: int) -> int:
        """The lowest sequence in [low, high] still served, assuming files expire oldest first."""
        while low < high:
            middle = (low + high) // 2
            if isinstance(await self._fetch(middle), _Missing):
                low = middle + 1
            else:
                high = middle
        return low

    async def _refresh_head(self) -> None:
        """Re-read sequence.json; on failure keep the head we had (the caller moves on)."""
        try:
            body = await self._request(f"{self._base}/sequence.json")
        except Retryable as failure:
            await self._back_off(failure, "sequence.json")
            return
        if isinstance(body, _Missing):
            self._counters.error("not_found", "sequence.json answered 404")
            missing = Retryable("not_found", "sequence.json answered 404")
            await self._back_off(missing, "sequence.json")
            return
        try:
            head = _sequence.decode(body).sequence
        except msgspec.DecodeError as exc:
            unreadable = Retryable("malformed", f"sequence.json: {exc}")
            await self._back_off(unreadable, "sequence.json")
            return
        self._backoff.reset()
        if self._head is None or head > self._head:
            self._head = head

    def _note_gap(self, sequence: int) -> None:
        if self._gap_start is None:
            self._gap_start = sequence
        self._counters.error("gap", f"sequence {sequence} missing")

    def _close_gap(self, sequence: int) -> None:
        if self._gap_start is not None:
            log.warning(
                "%s: gap in the feed: sequences %d-%d are missing (%d)",
                self.name,
                self._gap_start,
                sequence - 1,
                sequence - self._gap_start,
            )
            self._gap_start = None

    def _raw(self, sequence: int, body: bytes) -> RawKill:
        try:
            envelope = _envelope.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = _Envelope()  # the parser will say what is wrong with it
        self._counters.kill(str(sequence), _kill_time(envelope), _uploaded(envelope))
        return RawKill(
            self.name, body, f"sequence {sequence}", Cursor(cursor_key(self.name), str(sequence))
        )

    # --- requests ---

    async def _fetch(self, sequence: int) -> bytes | _Missing:
        """One sequence: its body or 404. Retries everything else until it gets one of those."""
        url = f"{self._base}/{sequence}.json"
        malformed = 0
        while True:
            try:
                body = await self._request(url)
                if not isinstance(body, _Missing):
                    _envelope.decode(body)
                self._backoff.reset()
                return body
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                # A body cut short in transit reads as invalid JSON too: ask again a couple of
                # times, then hand it on for the parser to reject and count. Never stuck on it.
                malformed += 1
                if malformed > self._malformed_retries:
                    log.warning("%s: sequence %d stays unreadable; passing it on", self.name,
                                sequence)
                    return body
                await self._back_off(Retryable("malformed", str(exc)), f"sequence {sequence}")
            except Retryable as failure:
                await self._back_off(failure, f"sequence {sequence}")

    async def _request(self, url: str) -> bytes | _Missing:
        await self._limiter.wait()
        try:
            async with self._session.get(
                url, headers=self._headers, timeout=self._timeout, allow_redirects=True
            ) as response:
                if response.status == 404:
                    self._counters.ok()
                    return _MISSING
                if response.status == 429:
                    raise rate_limited(response.headers, self._rand)
                if response.status >= 500:
                    raise Retryable("http_5xx", f"HTTP {response.status}")
                if response.status != 200:
                    hint = " (is the User-Agent accepted?)" if response.status == 403 else ""
                    raise Retryable("http_4xx", f"HTTP {response.status}{hint}")
                body = await response.read()
        except TimeoutError as exc:
            raise Retryable("timeout", "no answer within the timeout") from exc
        except aiohttp.ClientError as exc:
            raise Retryable("connection", describe_error(exc)) from exc
        self._counters.ok()
        return body

    async def _back_off(self, failure: Retryable, what: str) -> None:
        delay = failure.wait if failure.wait is not None else self._backoff.next()
        self._counters.error(failure.kind, f"{what}: {failure}")
        self._counters.backing_off(delay)
        log.warning("%s: %s: %s; retrying in %.1f s", self.name, what, failure, delay)
        await self._clock.sleep(delay)



def _kill_time(envelope: _Envelope) -> datetime | None:
    if envelope.esi is None or envelope.esi.killmail_time is None:
        return None
    try:
        return datetime.fromisoformat(envelope.esi.killmail_time.replace("Z", "+00:00"))
    except ValueError:
        return None


def _uploaded(envelope: _Envelope) -> datetime | None:
    if envelope.uploaded_at is None:
        return None
    try:
        return datetime.fromtimestamp(envelope.uploaded_at, UTC)
    except (OverflowError, OSError, ValueError):
        return None
