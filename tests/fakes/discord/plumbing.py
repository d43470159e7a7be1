"""Every REST request goes through here: body parsing, the bot token, faults, rate limits, records.

Order, as Discord answers: a bad token (401) first; then a storm or a queued fault; then the
global bucket (interaction callbacks and webhooks are exempt) and the route's bucket; only then
does the handler run (and may refuse with 403/404 on a channel). Headers of the route's bucket
go on every answer of a bucketed route, 429s included.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import BodyPartReader, web

from tests.fakes.discord.records import FilePart, Request
from tests.fakes.discord.rules import Bucket, DiscordError, Limit, error_for_code
from tests.fakes.discord.state import API, BODY, FILES, FakeState, json_response

__all__ = ["Plumbing"]

_log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Answered(Exception):
    """A response decided before the handler (a 429), carrying its scope."""

    def __init__(self, response: web.Response, scope: str) -> None:
        super().__init__(scope)
        self.response = response
        self.scope = scope


class Plumbing(FakeState):
    # --- REST plumbing: auth, limits, faults, recording ---

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API + "/"):
            return await handler(request)
        arrived = self.now()
        route = self._route_of(request)
        channel_id = self._channel_of(request)
        scope: str | None = None
        code: int | None = None
        headers: dict[str, str] = {}
        drop = False
        try:
            request[BODY], request[FILES] = await self._read_body(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            self._authorize(request, route)
            headers = self._limit(request, route, channel_id)
            drop = self._take_drop(route, channel_id)
            response = await handler(request)
        except _Answered as answered:
            response, scope = answered.response, answered.scope
        except DiscordError as error:
            response, code = json_response(error.body(), error.status), error.code
        except (ValueError, KeyError, TypeError) as error:
            # A malformed request: Discord says 400; a 500 would make discord.py sleep ~25 s.
            _log.warning("fake Discord refused %s %s: %r", request.method, request.path, error)
            self.internal_errors.append(error)
            response, code = (
                json_response({"message": "Invalid Form Body", "code": 50035}, 400),
                50035,
            )
        response.headers.update(headers)
        self._record(request, route, response, arrived, scope, code)
        if drop:
            # The work is done; the answer is lost on the way back.
            assert request.transport is not None
            request.transport.abort()
        return response

    def _route_of(self, request: web.Request) -> str:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        return f"{request.method} {template.removeprefix(API)}"

    @staticmethod
    def _channel_of(request: web.Request) -> int | None:
        raw = request.match_info.get("channel_id")
        return int(raw) if raw is not None and raw.isdigit() else None

    async def _read_body(self, request: web.Request) -> tuple[Any, tuple[FilePart, ...]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[FilePart] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                data = bytes(await part.read(decode=False))
                if part.name == "payload_json":
                    payload = orjson.loads(data)
                else:
                    ctype = part.headers.get("Content-Type")
                    files.append(FilePart(part.name or "", part.filename or "", ctype, data))
            return payload, tuple(files)
        raw = await request.read()
        if not raw:
            return None, ()
        try:
            return orjson.loads(raw), ()
        except orjson.JSONDecodeError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    @staticmethod
    def _exempt(route: str) -> bool:
        """Interaction callbacks and their webhooks: no bot token, no global limit."""
        path = route.split(" ", 1)[1]
        return path.startswith(("/interactions/", "/webhooks/"))

    def _authorize(self, request: web.Request, route: str) -> None:
        if self._exempt(route):
            return
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    @staticmethod
    def _fault_keys(route: str, channel_id: int | None) -> list[int | None]:
        """Which faults apply: the channel's, then those for every request (but interaction
        callbacks and webhooks, which Discord keeps apart)."""
        keys: list[int | None] = [] if channel_id is None else [channel_id]
        return keys if Plumbing._exempt(route) else [*keys, None]

    def _limit(self, request: web.Request, route: str, channel_id: int | None) -> dict[str, str]:
        now = self.now()
        keys = self._fault_keys(route, channel_id)
        for key in keys:
            storm = self._storms.get(key)
            if storm is not None and storm[0] > now:
                raise self._too_many(storm[0] - now, scope=storm[1])
        for key in keys:
            faults = self._faults.get(key)
            if faults:
                fault = faults.popleft()
                if fault.status == 429:
                    raise self._too_many(fault.retry_after, scope="user")
                if fault.code:
                    raise error_for_code(fault.code)
                raise DiscordError(fault.status, 0, f"{fault.status}: fake fault")
        if self.global_limit is not None and not self._exempt(route):
            taken = self._limits.take(("global",), self.global_limit)
            if not taken.allowed:
                raise self._too_many(taken.reset_after, scope="global")
        limit, bucket, major = self._bucket_of(request, route)
        taken = self._limits.take((bucket, major), limit)
        headers = self._bucket_headers(taken, bucket)
        if not taken.allowed:
            raise self._too_many(taken.reset_after, scope="user", headers=headers)
        return headers

    def _bucket_of(self, request: web.Request, route: str) -> tuple[Limit, str, str]:
        info = request.match_info
        if route == "POST /channels/{channel_id}/messages":
            return self.message_limit, "fake-message-create", info["channel_id"]
        if route == "PATCH /channels/{channel_id}/messages/{message_id}":
            return self.edit_limit, "fake-message-edit", info["channel_id"]
        if route == "DELETE /channels/{channel_id}/messages/{message_id}":
            return self.delete_limit, "fake-message-delete", info["channel_id"]
        major = "+".join(
            info[k] for k in ("channel_id", "guild_id", "interaction_id", "token") if k in info
        )
        digest = hashlib.sha1(route.encode()).hexdigest()[:12]
        return self.route_limit, digest, major

    @staticmethod
    def _bucket_headers(taken: Bucket, bucket: str) -> dict[str, str]:
        # Rounded up, so a client that waits what it is told never arrives early.
        reset_after = math.ceil(taken.reset_after * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(taken.limit),
            "X-RateLimit-Remaining": str(taken.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _too_many(
        self, retry_after: float, *, scope: str, headers: Mapping[str, str] | None = None
    ) -> _Answered:
        retry_after = max(math.ceil(retry_after * 1000) / 1000, 0.001)
        is_global = scope == "global"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        response = json_response(body, 429, headers)
        response.headers["Retry-After"] = str(math.ceil(retry_after))
        response.headers["X-RateLimit-Scope"] = scope
        # Without Via, discord.py takes a 429 for a Cloudflare ban and gives up.
        response.headers["Via"] = "1.1 google"
        if is_global:
            response.headers["X-RateLimit-Global"] = "true"
        return _Answered(response, scope)

    def _take_drop(self, route: str, channel_id: int | None) -> bool:
        for key in self._fault_keys(route, channel_id):
            if self._drops[key] > 0:
                self._drops[key] -= 1
                return True
        return False

    def _record(
        self,
        request: web.Request,
        route: str,
        response: web.StreamResponse,
        arrived: float,
        scope: str | None,
        code: int | None,
    ) -> None:
        status = response.status
        if status == 429:
            self.rate_limited[scope or "user"] += 1
        # Discord's ban counter: 401, 403 and 429 (except shared-scope 429s).
        if status in (401, 403) or (status == 429 and scope != "shared"):
            self.invalid_requests += 1
        self.requests.append(
            Request(
                method=request.method,
                path=request.path.removeprefix(API),
                route=route,
                query=dict(request.query),
                json=request.get(BODY),
                files=request.get(FILES, ()),
                headers=dict(request.headers),
                status=status,
                response_headers=dict(response.headers),
                at=arrived,
                scope=scope,
                code=code,
            )
        )
        self._notify()
