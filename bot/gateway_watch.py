"""Whether the Discord client's gateway connection is up, and since when: what `/healthz` and
`/metrics` read in bot mode (`engine.ops.DiscordLink`).

discord.py reconnects by itself, so a dropped connection is no failure until it stays down
past `[ops] discord_grace_seconds`. The state is read from the client at each probe and a
change is timed from the probe that first saw it: orchestrators probe every few seconds, which
is exact enough for a grace of a minute, and nothing has to hook discord.py's events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import discord

from engine.ops import DiscordLink
from engine.sources.status import now_utc

__all__ = ["GatewayWatch", "gateway_open"]


def gateway_open(client: discord.Client) -> bool:
    """Every shard's websocket is open (a client without shards: its one websocket). While
    discord.py waits to reconnect, the closed socket is still the one it holds."""
    if client.is_closed():
        return False
    if isinstance(client, discord.AutoShardedClient):
        shards = client.shards.values()
        return bool(shards) and not any(shard.is_closed() for shard in shards)
    socket = client.ws
    return socket is not None and socket.open


class GatewayWatch:
    """``checks.discord``: call it for the connection's state and the time it began."""

    def __init__(
        self, client: discord.Client, *, clock: Callable[[], datetime] = now_utc
    ) -> None:
        self._client = client
        self._clock = clock
        self._connected = gateway_open(client)
        self._since = clock()

    def __call__(self) -> DiscordLink:
        connected = gateway_open(self._client)
        if connected != self._connected:
            self._connected, self._since = connected, self._clock()
        return DiscordLink(connected, self._since)
