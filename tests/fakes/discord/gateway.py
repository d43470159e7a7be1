"""The fake's gateway: HELLO, heartbeat ACKs, IDENTIFY → READY + GUILD_CREATEs, RESUME, dispatches.

Plain-text JSON frames (discord.py asks for zlib-stream but reads text frames as they come).
Each IDENTIFY opens a session whose dispatches are numbered and kept, so a client that lost
its connection (not one that closed it with 1000) RESUMEs and gets what it missed, then
RESUMED, as from Discord. With `allow_resume=False` a RESUME is answered with INVALID_SESSION
(op 9, false) and discord.py identifies again, after its own 5 s `before_identify_hook` wait.
Privileged intents close the connection with 4014, as Discord does for a bot that has not
enabled them, unless `allow_privileged_intents`; a wrong token closes it with 4004.
`drop_gateway()` is an outage: every connection closed and new ones refused (503) until
`restore_gateway()`; discord.py keeps retrying and then RESUMEs.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.fakes.discord.models import guild_create_payload, member_payload
from tests.fakes.discord.records import Interaction
from tests.fakes.discord.state import Connection, FakeState, Session

__all__ = ["PRIVILEGED_INTENTS", "Gateway"]

PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
_CLIENT_QUIT = (1000, 1001)  # a client closing with these ends its session


class Gateway(FakeState):
    gateway_refused = False  # an outage in progress: the handshake is answered 503

    @property
    def connected(self) -> int:
        """Gateway connections with a session (identified or resumed)."""
        return sum(1 for c in self._connections if c.live)

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int:
        """Send a DISPATCH (op 0) to every session; returns how many connections got it now.

        A session whose connection dropped keeps it for its RESUME."""
        if event == "INTERACTION_CREATE":
            self._remember_interaction(data)
        sent = 0
        for session in list(self._sessions.values()):
            if not session.ended:
                sent += await self._emit(session, event, dict(data))
        return sent

    async def close_gateway(self, code: int = 4000) -> None:
        """Close every gateway connection with `code`; discord.py reconnects and RESUMEs."""
        for conn in list(self._connections):
            await self._close(conn, code)

    async def drop_gateway(self) -> None:
        """Close every gateway connection and refuse new ones until `restore_gateway`."""
        self.gateway_refused = True
        await self.close_gateway()

    def restore_gateway(self) -> None:
        self.gateway_refused = False

    async def send_reconnect(self) -> None:
        """Op 7 RECONNECT to every connection, as Discord does before moving a session."""
        for conn in list(self._connections):
            await self._send(conn, {"op": 7, "d": None})

    async def invalidate_sessions(self) -> None:
        """Op 9 (not resumable) to every connection: discord.py identifies again."""
        for session in self._sessions.values():
            session.ended = True
        for conn in list(self._connections):
            await self._send(conn, {"op": 9, "d": False})

    def _remember_interaction(self, data: Mapping[str, Any]) -> None:
        interaction_id = int(data["id"])
        if interaction_id in self._interactions:
            return
        interaction = Interaction(
            id=interaction_id,
            token=str(data["token"]),
            type=int(data["type"]),
            payload=dict(data),
            channel_id=int(data.get("channel_id") or data.get("channel", {}).get("id") or 0),
            dispatched_at=self.now(),
        )
        self._interactions[interaction_id] = interaction
        self._by_token[interaction.token] = interaction

    async def _emit(self, session: Session, event: str, data: dict[str, Any]) -> int:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.frames.append(frame)
        conn = session.connection
        if conn is None or conn.ws.closed:
            return 0
        await self._send(conn, frame)
        return 1

    async def _send(self, conn: Connection, frame: dict[str, Any]) -> None:
        frame.setdefault("s", None)
        frame.setdefault("t", None)
        async with conn.lock:
            if not conn.ws.closed:
                await conn.ws.send_str(orjson.dumps(frame).decode())

    async def _close(self, conn: Connection, code: int) -> None:
        conn.closed_by_fake = True
        await conn.ws.close(code=code)

    async def _close_connections(self) -> None:
        for conn in list(self._connections):
            await self._close(conn, 1001)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_refused:
            raise web.HTTPServiceUnavailable(text="gateway unavailable")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws)
        self._connections.add(conn)
        try:
            interval = int(self.heartbeat_interval * 1000)
            await self._send(conn, {"op": 10, "d": {"heartbeat_interval": interval}})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._frame(conn, orjson.loads(msg.data))
        finally:
            self._connections.discard(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                # A client that says goodbye ends its session; a lost connection does not.
                quit = not conn.closed_by_fake and ws.close_code in _CLIENT_QUIT
                session.ended = session.ended or quit
            self._notify()
        return ws

    async def _frame(self, conn: Connection, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == 1:
            self.heartbeats += 1
            await self._send(conn, {"op": 11})
            return
        self.gateway_received.append(frame)
        data = frame.get("d") or {}
        if op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 8:
            await self._members_chunk(conn, data)
        self._notify()

    async def _members_chunk(self, conn: Connection, data: Mapping[str, Any]) -> None:
        guild = self._guilds.get(int(data.get("guild_id", 0)))
        if guild is None or conn.session is None:
            return
        members = list(guild.members)
        if guild.member(self.bot_id) is None:
            members.append(self.bot_member(guild))
        chunk = {
            "guild_id": str(guild.id),
            "members": [member_payload(guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "nonce": data.get("nonce"),
        }
        await self._emit(conn.session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            conn.closed_by_fake = True
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if not self.allow_privileged_intents and int(data.get("intents", 0)) & PRIVILEGED_INTENTS:
            conn.closed_by_fake = True
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard_id, shard_count = (int(x) for x in data.get("shard") or (0, 1))
        session = Session(secrets.token_hex(16), (shard_id, shard_count), connection=conn)
        self._sessions[session.id] = session
        conn.session = session
        mine = [g for g in self._guilds.values() if (g.id >> 22) % shard_count == shard_id]
        ready = {
            "v": 10,
            "user": {**self._bot_user(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "shard": [shard_id, shard_count],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        await self._emit(session, "READY", ready)
        for guild in mine:
            payload = guild_create_payload(guild, self.bot_member(guild))
            await self._emit(session, "GUILD_CREATE", payload)

    async def _resume(self, conn: Connection, data: Mapping[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        seq = int(data.get("seq") or 0)
        missed = [] if session is None else [f for f in session.frames if f["s"] > seq]
        resumable = (
            self.allow_resume
            and data.get("token") == self.token
            and session is not None
            and not session.ended
            # Frames older than the kept ones are gone: Discord would refuse too.
            and (not missed or missed[0]["s"] == seq + 1)
        )
        if not resumable or session is None:
            await self._send(conn, {"op": 9, "d": False})
            return
        old = session.connection
        session.connection, conn.session = conn, session
        if old is not None and old is not conn:
            await self._close(old, 4000)
        for frame in missed:
            await self._send(conn, dict(frame))
        await self._emit(session, "RESUMED", {})
