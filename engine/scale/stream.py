"""The kill stream: enriched kills in a Redis Stream, one entry each, read by consumer groups.

An entry is ``{"v": "1", "kill": <msgpack of EnrichedKill>}``. Its id is Redis' own
(``<milliseconds>-<n>``), so an entry's age is in its id. The stream is trimmed on every publish:
to about `maxlen` entries and, with `max_age`, to entries younger than that. A consumer group
gets each entry once; an entry read but not acknowledged stays *pending* for that group and is
read again (``read(..., after="0")``) by the next process of the same group.

`KillStream` owns its Redis connection pool: ``async with KillStream(...) as stream``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError, ResponseError

from engine.model import EnrichedKill

__all__ = [
    "FORMAT_VERSION",
    "GroupBacklog",
    "KillStream",
    "StreamEntry",
    "StreamUnavailable",
    "decode_entry",
    "encode_kill",
    "entry_time",
    "shown_url",
]

log = logging.getLogger(__name__)

FORMAT_VERSION: Final = b"1"
_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(EnrichedKill)


class StreamUnavailable(Exception):
    """Redis cannot be reached or refused us; the message never carries a password."""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry as a consumer reads it: the kill, or why there is none."""

    id: str
    kill: EnrichedKill | None
    problem: str | None = None  # "malformed", or "trimmed" (dropped while still pending)

    @property
    def at(self) -> datetime:
        return entry_time(self.id)


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    """What a consumer group has yet to handle."""

    pending: int  # given to the group, not acknowledged
    lag: int | None  # in the stream, not yet given to the group (None: Redis cannot tell)


def encode_kill(kill: EnrichedKill) -> dict[str, bytes]:
    return {"v": FORMAT_VERSION, "kill": _ENCODER.encode(kill)}


def decode_entry(entry_id: str, fields: dict[Any, Any] | None) -> StreamEntry:
    """Never raises: an entry nobody can read is reported as such, to be acknowledged."""
    if not fields:
        return StreamEntry(entry_id, None, "trimmed")
    version, body = fields.get(b"v"), fields.get(b"kill")
    if version != FORMAT_VERSION or not isinstance(body, bytes):
        return StreamEntry(entry_id, None, "malformed")
    try:
        return StreamEntry(entry_id, _DECODER.decode(body))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return StreamEntry(entry_id, None, "malformed")


def entry_time(entry_id: str) -> datetime:
    """When Redis added the entry (the milliseconds part of its id)."""
    millis = int(entry_id.partition("-")[0])
    return datetime.fromtimestamp(millis / 1000, UTC)


def shown_url(url: str) -> str:
    """The Redis URL without any password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "the configured Redis"
    _, at, host = rest.rpartition("@")
    return f"{scheme}://{host}" if at else url


class KillStream:
    def __init__(
        self,
        url: str,
        name: str,
        *,
        password: str | None = None,
        maxlen: int | None = 100_000,
        max_age: timedelta | None = None,
        approximate: bool = True,
    ) -> None:
        """`maxlen` / `max_age`: trim to about this many entries / drop older entries (None: no
        such limit). `approximate` lets Redis trim in whole nodes, which is much cheaper."""
        self.name = name
        self._url = url
        self._password = password
        self._maxlen = maxlen
        self._max_age = max_age
        self._approximate = approximate
        self._redis: redis.Redis | None = None

    async def __aenter__(self) -> Self:
        client = redis.Redis.from_url(self._url, password=self._password)
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise StreamUnavailable(
                f"Redis at {shown_url(self._url)} cannot be used ({type(exc).__name__}): check "
                "scale.redis_url, that the server runs, and its password "
                "(KILLWATCH_SCALE__REDIS_PASSWORD)"
            ) from None
        self._redis = client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def _client(self) -> redis.Redis:
        if self._redis is None:
            raise RuntimeError("the kill stream is not open")
        return self._redis

    # --- publishing ---

    async def publish(self, kills: Sequence[EnrichedKill]) -> list[str]:
        """Append `kills` in order (one round trip) and trim; their entry ids."""
        if not kills:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for kill in kills:
                pipe.xadd(
                    self.name,
                    encode_kill(kill),  # type: ignore[arg-type]  # bytes are encodable
                    maxlen=self._maxlen,
                    approximate=self._approximate,
                )
            if self._max_age is not None:
                oldest = datetime.now(UTC) - self._max_age
                pipe.xtrim(
                    self.name,
                    minid=f"{int(oldest.timestamp() * 1000)}-0",
                    approximate=self._approximate,
                )
            results = await pipe.execute()
        return [_text(entry_id) for entry_id in results[: len(kills)]]

    # --- consuming ---

    async def ensure_group(self, group: str, start: str = "0") -> bool:
        """Create the consumer group (and the stream) unless it exists; True if created.
        `start` "0": a new group reads what the stream still holds; "$": only what comes next."""
        try:
            await self._client.xgroup_create(self.name, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise
        return True

    async def read(
        self,
        group: str,
        consumer: str,
        *,
        after: str | None = None,
        count: int = 200,
        block: float | None = None,
    ) -> list[StreamEntry]:
        """New entries for the group (`after` None), or, with `after`, the entries this consumer
        was given earlier and has not acknowledged, past that id ("0": all of them).
        `block`: wait up to this many seconds for new entries."""
        # RESP2 answers [[stream, entries]], RESP3 {stream: entries}; each entry (id, fields).
        answer: Any = await self._client.xreadgroup(
            group,
            consumer,
            {self.name: ">" if after is None else after},
            count=count,
            block=None if block is None or after is not None else max(int(block * 1000), 1),
        )
        streams = answer.items() if isinstance(answer, dict) else answer
        entries: list[StreamEntry] = []
        for _, found in streams or ():
            for item in found:
                entries.append(decode_entry(_text(item[0]), item[1]))
        return entries

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        if ids:
            await self._client.xack(self.name, group, *ids)

    async def pending(self, group: str) -> int:
        """How many entries the group was given and has not acknowledged."""
        summary = await self._client.xpending(self.name, group)
        return int(summary["pending"])

    async def backlog(self, group: str) -> GroupBacklog | None:
        """`group`'s pending entries and lag (one XINFO GROUPS); None when there is no such
        group (or no stream)."""
        try:
            groups = await self._client.xinfo_groups(self.name)
        except ResponseError as exc:
            if "no such key" in str(exc):
                return None
            raise
        for info in groups:
            if _text(info["name"]) == group:
                lag = info.get("lag")
                return GroupBacklog(int(info["pending"]), None if lag is None else int(lag))
        return None

    async def length(self) -> int:
        return int(await self._client.xlen(self.name))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
