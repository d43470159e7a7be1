"""The fake Discord's state: its knobs, what it has recorded, and lookups the handlers share."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.discord.models import (
    Channel,
    Guild,
    Member,
    Snowflakes,
    channel_permissions,
    user_payload,
)
from tests.fakes.discord.records import Attachment, FilePart, Interaction, Message, Request
from tests.fakes.discord.rules import Limit, RateLimits

__all__ = [
    "BODY",
    "DEFAULT_DELETE_LIMIT",
    "DEFAULT_EDIT_LIMIT",
    "DEFAULT_GLOBAL_LIMIT",
    "DEFAULT_MESSAGE_LIMIT",
    "DEFAULT_ROUTE_LIMIT",
    "FILES",
    "Connection",
    "FakeState",
    "Fault",
    "json_response",
    "no_content",
]

API = "/api/v10"
# What the middleware parsed from a request, for the handlers.
BODY: web.RequestKey[Any] = web.RequestKey("body")
FILES: web.RequestKey[tuple[FilePart, ...]] = web.RequestKey("files")
DEFAULT_GLOBAL_LIMIT = Limit(50, 1.0)
DEFAULT_MESSAGE_LIMIT = Limit(5, 5.0)
DEFAULT_EDIT_LIMIT = Limit(5, 5.0)
DEFAULT_DELETE_LIMIT = Limit(5, 1.0)
DEFAULT_ROUTE_LIMIT = Limit(50, 1.0)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json.
    response = web.Response(body=orjson.dumps(data), status=status, headers=headers)
    response.headers["Content-Type"] = "application/json"
    return response


def no_content() -> web.Response:
    return web.Response(status=204)


@dataclass(eq=False)
class Session:
    """A gateway session: its sequence, and the dispatches kept for a RESUME to replay."""

    id: str
    shard: tuple[int, int]
    seq: int = 0
    frames: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5000))
    connection: Connection | None = None
    ended: bool = False


@dataclass(eq=False)
class Connection:
    """One gateway websocket; it carries a session once identified (or resumed)."""

    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None
    closed_by_fake: bool = False

    @property
    def live(self) -> bool:
        return self.session is not None and not self.ws.closed


@dataclass
class Fault:
    status: int
    code: int
    retry_after: float


class FakeState:
    """Knobs (constructor arguments), records, and the lookups every part of the fake uses."""

    def __init__(
        self,
        *,
        guilds: Sequence[Guild] = (),
        token: str = "fake-token",
        bot_id: int = 900_000_000_000_000_001,
        bot_name: str = "Killwatch",
        application_id: int | None = None,
        app_owner_id: int = 900_000_000_000_000_009,
        heartbeat_interval: float = 1.0,
        global_limit: Limit | None = DEFAULT_GLOBAL_LIMIT,
        message_limit: Limit = DEFAULT_MESSAGE_LIMIT,
        edit_limit: Limit = DEFAULT_EDIT_LIMIT,
        delete_limit: Limit = DEFAULT_DELETE_LIMIT,
        route_limit: Limit = DEFAULT_ROUTE_LIMIT,
        nonce_window: float = 300.0,
        interaction_deadline: float = 3.0,
        interaction_token_ttl: float = 900.0,
        latency: float = 0.0,
        allow_privileged_intents: bool = False,
        allow_resume: bool = True,
        enforce_permissions: bool = True,
        dm_requires_shared_guild: bool = True,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.application_id = application_id if application_id is not None else bot_id
        self.app_owner_id = app_owner_id
        self.heartbeat_interval = heartbeat_interval
        self.global_limit = global_limit
        self.message_limit = message_limit
        self.edit_limit = edit_limit
        self.delete_limit = delete_limit
        self.route_limit = route_limit
        self.nonce_window = nonce_window
        self.interaction_deadline = interaction_deadline
        self.interaction_token_ttl = interaction_token_ttl
        self.latency = latency
        self.allow_privileged_intents = allow_privileged_intents
        self.allow_resume = allow_resume
        self.enforce_permissions = enforce_permissions
        self.dm_requires_shared_guild = dm_requires_shared_guild
        self.now = now

        # What the test reads.
        self.requests: list[Request] = []
        self.rate_limited: Counter[str] = Counter()  # 429s by X-RateLimit-Scope
        self.invalid_requests = 0  # 401, 403 and non-shared 429: Discord's ban counter
        self.nonce_dedupes = 0
        self.identifies: list[dict[str, Any]] = []
        self.gateway_received: list[dict[str, Any]] = []  # every frame but heartbeats
        self.heartbeats = 0
        self.command_syncs: list[int | None] = []  # guild id, None for global
        self.internal_errors: list[Exception] = []  # requests the fake could not parse
        self.url = ""

        self._guilds: dict[int, Guild] = {g.id: g for g in guilds}
        self._snowflakes = Snowflakes()
        self._limits = RateLimits(now)
        self._messages: dict[int, Message] = {}
        self._by_channel: dict[int, list[Message]] = defaultdict(list)
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self._interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._dm_channels: dict[int, int] = {}  # DM channel id -> user id
        self._dm_by_user: dict[int, int] = {}
        self._uploads: dict[int, Attachment] = {}
        self._failures: dict[int, int] = {}  # channel id -> error code
        self._deleted: set[int] = set()
        self._blocked_dms: set[int] = set()
        self._storms: dict[int | None, tuple[float, str]] = {}  # channel, or None for all
        self._faults: dict[int | None, deque[Fault]] = defaultdict(deque)
        self._drops: Counter[int | None] = Counter()
        self._connections: set[Connection] = set()
        self._sessions: dict[str, Session] = {}
        self._changed: asyncio.Event | None = None

    # --- lookups ---

    @property
    def api_base_url(self) -> str:
        """What `discord.http.Route.BASE` (and Killwatch's `discord.api_base_url`) must be."""
        return self.url + API

    @property
    def gateway_url(self) -> str:
        """What the gateway URL (Killwatch's `discord.gateway_url`) must be."""
        return self.url.replace("http://", "ws://", 1) + "/"

    @property
    def guilds(self) -> list[Guild]:
        return list(self._guilds.values())

    def guild(self, guild_id: int) -> Guild:
        return self._guilds[guild_id]

    def bot_member(self, guild: Guild) -> Member:
        member = guild.member(self.bot_id)
        return member or Member(self.bot_id, self.bot_name, roles=guild.bot_roles, bot=True)

    def bot_permissions(self, channel_id: int) -> int:
        """The bot's permissions in a guild channel, as Discord computes them."""
        guild, channel = self._find_channel(channel_id)
        if guild is None or channel is None:
            raise LookupError(f"channel {channel_id} is in no guild")
        return channel_permissions(guild, self.bot_member(guild), channel)

    def _bot_user(self) -> dict[str, Any]:
        return user_payload(self.bot_id, self.bot_name, bot=True)

    def _find_channel(self, channel_id: int) -> tuple[Guild | None, Channel | None]:
        for guild in self._guilds.values():
            channel = guild.channel(channel_id)
            if channel is not None:
                return guild, channel
        return None, None

    def _member_anywhere(self, user_id: int) -> Member | None:
        for guild in self._guilds.values():
            member = guild.member(user_id)
            if member is not None:
                return member
        return None

    def _any_member(self, user_id: int) -> Member:
        return self._member_anywhere(user_id) or Member(user_id, f"user-{user_id}")

    def _dm_channel(self, user_id: int) -> int:
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel_id = self._snowflakes.next()
            self._dm_by_user[user_id] = channel_id
            self._dm_channels[channel_id] = user_id
        return channel_id

    def _notify(self) -> None:
        """Wake whoever waits in `wait_for`: something was recorded."""
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()
