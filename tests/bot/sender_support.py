"""The sender's tests: a server to post to, a real discord.py client, deliveries of real kills."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import discord

from engine.dispatch.sender import Delivery
from engine.model import EnrichedKill
from tests.fakes.discord import (
    Channel,
    FakeDiscord,
    Guild,
    Member,
    Message,
    Overwrite,
    Permission,
    Role,
)

GUILD_ID = 3_333 << 22
OWNER, ALICE, BOB = 801, 802, 803
BOT_ROLE, PILOTS = 901, 902
KILLS, INTEL, FIGHTS, LOCKED, HIDDEN, DOOMED = 4001, 4002, 4003, 4004, 4005, 4006
BURST = tuple(range(5000, 5015))
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MESSAGES = "/channels/{channel_id}/messages"
EDIT = "/channels/{channel_id}/messages/{message_id}"

GUILD = Guild(
    GUILD_ID,
    "Sender tests",
    channels=[
        Channel(KILLS, "kills"),
        Channel(INTEL, "intel"),
        Channel(FIGHTS, "fights"),
        Channel(
            LOCKED, "locked", overwrites=(Overwrite(BOT_ROLE, deny=Permission.SEND_MESSAGES),)
        ),
        Channel(HIDDEN, "hidden", overwrites=(Overwrite(GUILD_ID, deny=Permission.VIEW_CHANNEL),)),
        Channel(DOOMED, "doomed"),
        *(Channel(c, f"burst-{c}") for c in BURST),
    ],
    # The bot may ping @here and roles: a name from the data must still ping no one.
    roles=[Role(BOT_ROLE, "killwatch", int(Permission.MENTION_EVERYONE)), Role(PILOTS, "pilots")],
    members=[Member(OWNER, "owner"), Member(ALICE, "alice"), Member(BOB, "bob")],
    owner_id=OWNER,
    bot_roles=(BOT_ROLE,),
)

_KILL_URL = re.compile(r"https://zkillboard\.com/kill/(\d+)/")


def make_client() -> discord.Client:
    # A 429 asking for longer than 30 s is raised (discord.RateLimited) rather than slept on.
    return discord.Client(
        intents=discord.Intents.default(), guild_ready_timeout=0.1, max_ratelimit_timeout=30.0
    )


def deliveries(
    kills: Iterable[EnrichedKill], *, first: int = 1, subscriptions: Sequence[int] = (1,)
) -> list[Delivery]:
    return [Delivery(first + n, kill, tuple(subscriptions)) for n, kill in enumerate(kills)]


def embed_dict(embed: discord.Embed) -> dict[str, Any]:
    """An embed as the fake stores it (Discord adds the type)."""
    return {"type": "rich", **embed.to_dict()}


def nonces(fake: FakeDiscord) -> list[Any]:
    """The nonce of every message create the fake received, refused ones included."""
    return [(r.json or {}).get("nonce") for r in fake.requests_to("POST", MESSAGES)]


def shown(message: Message) -> list[int]:
    """The killmails a posted message shows, in order: its embeds' links, else its content's."""
    if message.embeds:
        texts = [e.get("url") or e.get("description") or "" for e in message.embeds]
        return [int(_KILL_URL.findall(text)[0]) for text in texts]
    return [int(found) for found in _KILL_URL.findall(message.content)]
