"""A running Killwatch bot for the abuse tests: real facades, real SQLite, a fake Discord with
two servers, and a bot that *could* ping everyone (so a reply that pings is a real leak).

Server A: the owner, Mona (holds the configured manager role), Adam (a role with Manage
Server), Bob (a plain member), Sam (holds the role the server itself set as manager role).
Server B: Carol owns it; Bob holds its role named like the manager role (so he manages B,
and only B); Mona is a plain member there.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bot.discord_bot import BotServices, KillwatchBot
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.filters import Matcher
from engine.guilds import GuildSettings
from engine.history import History
from engine.queries import Queries
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.subscriptions import Subscriptions
from tests.bot.cogs_harness import NAMES, Entities, said, text_of, universe
from tests.fakes.discord import Channel, FakeDiscord, Guild, Member, Message, Permission, Role
from tests.fakes.discord_client import running_bot

__all__ = [
    "ADAM",
    "BOB",
    "CAROL",
    "GUILD_A",
    "GUILD_B",
    "HOME",
    "KILLS_A",
    "KILLS_B",
    "MANAGERS_B",
    "MANAGER_ROLE",
    "MONA",
    "OWNER",
    "PINGERS",
    "PINGERS_B",
    "SAM",
    "SERVER_MANAGERS",
    "Running",
    "private",
    "running",
    "said",
    "text_of",
]

GUILD_A, GUILD_B = 5_555 << 22, 6_666 << 22
OWNER, MONA, ADAM, BOB, SAM, CAROL = 501, 502, 503, 504, 505, 506
MANAGERS, DIRECTORS, PINGERS, BOT_ROLE, SERVER_MANAGERS = 601, 602, 603, 604, 605
MANAGERS_B, PINGERS_B = 1601, 1603
KILLS_A, HOME, KILLS_B = 7001, 7002, 7101
MANAGER_ROLE = "Killwatch managers"

# The bot may mention everyone in both servers: only its own allowed_mentions keep it quiet.
_BOT = Role(BOT_ROLE, "Killwatch", int(Permission.MENTION_EVERYONE))

SERVER_A = Guild(
    GUILD_A,
    "Hostile **Server** @everyone",
    channels=[Channel(KILLS_A, "kills"), Channel(HOME, "home", position=1)],
    roles=[
        Role(MANAGERS, MANAGER_ROLE),
        Role(DIRECTORS, "Directors", int(Permission.MANAGE_GUILD)),
        Role(PINGERS, "Home defence", mentionable=True),
        Role(SERVER_MANAGERS, "Server-chosen managers"),
        _BOT,
    ],
    members=[
        Member(OWNER, "owner"),
        Member(MONA, "mona", roles=(MANAGERS,)),
        Member(ADAM, "adam", roles=(DIRECTORS,)),
        Member(BOB, "bob"),
        Member(SAM, "sam", roles=(SERVER_MANAGERS,)),
    ],
    owner_id=OWNER,
    bot_roles=(BOT_ROLE,),
)
SERVER_B = Guild(
    GUILD_B,
    "Elsewhere",
    channels=[Channel(KILLS_B, "kills")],
    roles=[Role(MANAGERS_B, MANAGER_ROLE), Role(PINGERS_B, "Home defence", mentionable=True),
           Role(BOT_ROLE + 1000, "Killwatch", int(Permission.MENTION_EVERYONE))],
    members=[Member(CAROL, "carol"), Member(BOB, "bob", roles=(MANAGERS_B,)),
             Member(MONA, "mona")],
    owner_id=CAROL,
    bot_roles=(BOT_ROLE + 1000,),
)


@dataclass
class Running:
    fake: FakeDiscord
    bot: KillwatchBot
    database: Database
    matcher: Matcher
    subscriptions: Subscriptions
    guilds: GuildSettings
    enricher: Enricher


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, *, manager_role: str | None = MANAGER_ROLE, dm_limit: int = 3
) -> AsyncIterator[Running]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    world = universe()
    distances = Distances(world)
    matcher = Matcher(distances)
    enricher = Enricher(world)
    async with Database(url) as database, FakeDiscord(guilds=[SERVER_A, SERVER_B]) as fake:
        subscriptions = Subscriptions(
            database, matcher, world, ranges=distances, entities=Entities(), names=NAMES.get,
            dm_limit=dm_limit,
        )
        guilds = GuildSettings(database, subscriptions)
        services = BotServices(
            subscriptions, world, History(database, enricher), manager_role=manager_role,
            pings=True, guilds=guilds,
            queries=Queries(database, enricher, NAMES.get, entities=Entities()),
        )
        bot = KillwatchBot(services, guild_ready_timeout=0.1)
        async with running_bot(bot, fake):
            yield Running(fake, bot, database, matcher, subscriptions, guilds, enricher)


def private(message: Message) -> Message:
    """An answer only its member sees, that pings nobody, fits Discord, and hides no traceback."""
    assert message.ephemeral
    assert message.pings == frozenset()
    assert message.allowed_mentions == {"parse": []}
    assert len(message.content or "") <= 2000
    text = text_of(message)
    assert "Traceback" not in text
    assert "something went wrong" not in text  # an unexpected error, not a clear refusal
    return message
