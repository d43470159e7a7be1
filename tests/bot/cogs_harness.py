"""A running Killwatch bot for the subscription commands: real facade, real SQLite, fake Discord.

`killwatch(tmp_path)` starts everything the commands need — the store migrated in a SQLite
file, the matcher, the `Subscriptions` facade, `History` over the stored kills — and a real
`KillwatchBot` logged in to a `FakeDiscord` with two servers. `said(...)` runs a slash command
as a member and returns what that member finally saw.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from bot.discord_bot import BotServices, KillwatchBot
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.history import History
from engine.model import EnrichedKill, Killmail, KillmailRejected, parse_killmail
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.participants import participants_of
from engine.store.records import StoredKill
from engine.store.repositories import KillmailRepository
from engine.subscriptions import Subscriptions
from tests.conftest import KILLMAILS
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
from tests.fakes.discord_client import running_bot

__all__ = [
    "ADMIN",
    "ALICE",
    "BOB",
    "CAROL",
    "ERIN",
    "GENERAL",
    "GOONS",
    "GUILD_ID",
    "INIT",
    "KILLS",
    "MANAGER_ROLE",
    "OTHER_CHANNEL",
    "OTHER_GUILD_ID",
    "PINGERS",
    "READ_ONLY",
    "Entities",
    "Killwatch",
    "fixture_kills",
    "killwatch",
    "said",
    "store_kills",
    "text_of",
    "universe",
]

GUILD_ID = 2_222 << 22
OTHER_GUILD_ID = 3_333 << 22
OWNER, ALICE, BOB, ADMIN, CAROL, ERIN = 701, 702, 703, 704, 705, 706
MANAGERS, ADMINS, PINGERS = 801, 802, 803
GENERAL, KILLS, READ_ONLY, OTHER_CHANNEL = 2001, 2002, 2003, 3001
MANAGER_ROLE = "Killwatch managers"
GOONS, INIT = 1354830081, 1727758877

GUILD = Guild(
    GUILD_ID,
    "Wormhole **Society**",
    channels=[
        Channel(GENERAL, "general"),
        Channel(KILLS, "kills", position=1),
        Channel(
            READ_ONLY, "announcements", position=2,
            overwrites=(Overwrite(GUILD_ID, deny=Permission.SEND_MESSAGES),),
        ),
    ],
    roles=[
        Role(MANAGERS, MANAGER_ROLE),
        Role(ADMINS, "Directors", int(Permission.MANAGE_GUILD)),
        Role(PINGERS, "Home defence", mentionable=True),
    ],
    members=[
        Member(OWNER, "owner"),
        Member(ALICE, "alice", roles=(MANAGERS,)),
        Member(BOB, "bob"),
        Member(ADMIN, "director", roles=(ADMINS,)),
    ],
    owner_id=OWNER,
)
# Another server, where Carol manages and Bob is a member too.
OTHER_GUILD = Guild(
    OTHER_GUILD_ID,
    "Elsewhere",
    channels=[Channel(OTHER_CHANNEL, "kills")],
    members=[Member(CAROL, "carol"), Member(BOB, "bob"), Member(ERIN, "erin")],
    owner_id=CAROL,
)


class Entities:
    """The ESI names-to-ids lookup, as a small table (what ESI would answer for these)."""

    TABLE: Mapping[str, Sequence[tuple[str, int]]] = {
        "goonswarm federation": [("alliances", GOONS)],
        "the initiative.": [("alliances", INIT)],
    }

    async def lookup(self, names: Sequence[str]) -> Mapping[str, Sequence[tuple[str, int]]]:
        return {n.lower(): self.TABLE[n.lower()] for n in names if n.lower() in self.TABLE}


NAMES = {GOONS: "Goonswarm Federation", INIT: "The Initiative."}


@functools.cache
def universe() -> Universe:
    return Universe.load()


@functools.cache
def fixture_kills() -> tuple[Killmail, ...]:
    """The recorded killmails, parsed (those the parser rejects left out), in file order."""
    found: list[Killmail] = []
    for line in KILLMAILS.read_bytes().splitlines():
        with contextlib.suppress(KillmailRejected):
            found.append(parse_killmail(line))
    return tuple(found)


@dataclass
class Killwatch:
    fake: FakeDiscord
    bot: KillwatchBot
    database: Database
    matcher: Matcher
    subscriptions: Subscriptions
    enricher: Enricher

    async def kill_count(self) -> int:
        async with self.database.session() as session:
            return await KillmailRepository(session).count()


async def store_kills(
    database: Database, enricher: Enricher, kills: Sequence[tuple[Killmail, datetime]]
) -> list[EnrichedKill]:
    """Store killmails as the pipeline does (with their bodies), each re-dated to the time
    given: recorded kills are years old and `/sub test` looks at the last day."""
    stored: list[StoredKill] = []
    enriched: list[EnrichedKill] = []
    for killmail, when in kills:
        moved = msgspec.structs.replace(killmail, time=when)
        kill = enricher.enrich(moved)
        enriched.append(kill)
        stored.append(
            StoredKill(
                moved.killmail_id, moved.hash or "", when, moved.solar_system_id, kill.value,
                labels=kill.labels, points=kill.points, source="test",
                body=msgspec.json.encode(moved), participants=participants_of(moved),
            )
        )
    async with database.session() as session, session.begin():
        await KillmailRepository(session).add_new(stored)
    return enriched


@contextlib.asynccontextmanager
async def killwatch(
    tmp_path: Path,
    *,
    manager_role: str | None = MANAGER_ROLE,
    pings: bool = True,
    dm_limit: int = 2,
    now: float | None = None,
) -> AsyncIterator[Killwatch]:
    """Everything running, commands synced globally (so that they also work in DMs)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    world = universe()
    distances = Distances(world)
    matcher = Matcher(distances) if now is None else Matcher(distances, clock=lambda: now)
    enricher = Enricher(world)
    async with Database(url) as database, FakeDiscord(guilds=[GUILD, OTHER_GUILD]) as fake:
        subscriptions = Subscriptions(
            database, matcher, world, ranges=distances, entities=Entities(), names=NAMES.get,
            dm_limit=dm_limit,
        )
        services = BotServices(
            subscriptions, world, History(database, enricher), manager_role=manager_role,
            pings=pings,
        )
        bot = KillwatchBot(services, guild_ready_timeout=0.1)
        async with running_bot(bot, fake):
            yield Killwatch(fake, bot, database, matcher, subscriptions, enricher)


async def said(
    fake: FakeDiscord,
    name: str,
    *,
    user_id: int,
    channel_id: int | None = None,
    options: Mapping[str, Any] | None = None,
    permissions: int | None = None,
) -> Message:
    """Run `/name` as `user_id` in `channel_id` (their DM with the bot when None); the reply
    the member finally sees (a deferred reply once its follow-up has filled it)."""
    interaction = await fake.slash(
        name, user_id=user_id, channel_id=channel_id, options=options or {},
        permissions=permissions,
    )
    await fake.wait_for(
        lambda: interaction.original is not None and not interaction.original.loading
    )
    assert interaction.original is not None
    return interaction.original


def text_of(message: Message) -> str:
    """The content and every embed's text, for assertions about what a member can read."""
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
        parts.append(embed.get("footer", {}).get("text", ""))
    return "\n".join(p for p in parts if p)


