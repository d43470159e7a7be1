"""/kills, /intel and /battle through the real discord.py client against the fake Discord,
answered from recorded kills stored in SQLite."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.discord_bot import BotServices, KillwatchBot
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.filters import Matcher
from engine.history import History
from engine.queries import Queries
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.subscriptions import Subscriptions
from tests.bot.cogs_harness import (
    BOB,
    GENERAL,
    GUILD,
    NAMES,
    OTHER_GUILD,
    Entities,
    said,
    text_of,
)
from tests.engine.query_support import Placed, place, store, store_names, universe
from tests.fakes.discord import FakeDiscord, Message
from tests.fakes.discord_client import running_bot

ALLIANCE = 1182801433
# Names come from players: this one must neither ping nor render as markdown.
ALLIANCE_NAME = "**@everyone** Raiders"
CHARACTER = 780702065
JITA = 30000142
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Bot:
    fake: FakeDiscord
    kills: list[Placed]
    database: Database


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *, queries: bool = True) -> AsyncIterator[Bot]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    world = universe()
    distances = Distances(world)
    enricher = Enricher(world)
    now = datetime.now(UTC)
    # Sixty recorded kills over the last 20 hours, newest first.
    kills = [place(i, now - timedelta(minutes=20 * i, seconds=i)) for i in range(60)]
    async with Database(url) as database, FakeDiscord(guilds=[GUILD, OTHER_GUILD]) as fake:
        await store(database, kills)
        await store_names(database, {
            ALLIANCE: (ALLIANCE_NAME, "alliance"),
            CHARACTER: ("Some Pilot", "character"),
        })
        subscriptions = Subscriptions(
            database, Matcher(distances), world, ranges=distances, entities=Entities(),
            names=NAMES.get,
        )
        services = BotServices(
            subscriptions, world, History(database, enricher),
            queries=Queries(database, enricher, NAMES.get, entities=Entities())
            if queries else None,
        )
        bot = KillwatchBot(services, guild_ready_timeout=0.1)
        async with running_bot(bot, fake):
            yield Bot(fake, kills, database)


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Bot]:
    async with running(tmp_path) as bot:
        yield bot


async def ask(kw: Bot, command: str, **options: Any) -> Message:
    return await said(kw.fake, command, user_id=BOB, channel_id=GENERAL, options=options)


def _public_and_silent(message: Message) -> None:
    assert not message.ephemeral
    assert message.pings == frozenset()
    assert message.allowed_mentions == {"parse": []}


def _urls(message: Message) -> list[str]:
    found = []
    for embed in message.embeds:
        text = embed.get("description", "")
        found += [word for word in text.replace("(", " ").replace(")", " ").split()
                  if word.startswith("https://zkillboard.com/kill/")]
    return found


def _kill_ids(message: Message) -> list[int]:
    return [int(url.rstrip("/").rsplit("/", 1)[1]) for url in _urls(message)]


def _newest(kills: list[Placed]) -> list[int]:
    return [p.id for p in sorted(kills, key=lambda p: p.time, reverse=True)]


# --- /kills ----------------------------------------------------------------------------------


async def test_kills_recent_in_a_system_answers_publicly_with_the_newest_kills(kw: Bot) -> None:
    ((busiest, _),) = Counter(p.system for p in kw.kills).most_common(1)
    name = universe().system(busiest).name  # type: ignore[union-attr]
    expected = _newest([p for p in kw.kills if p.system == busiest])[:10]
    message = await ask(kw, "kills recent", system=name)
    _public_and_silent(message)
    assert _kill_ids(message) == expected
    assert f"The latest {len(expected)} stored kill" in message.content
    assert name in message.content


async def test_kills_recent_of_an_entity_shows_its_name_escaped_and_pings_nobody(
    kw: Bot,
) -> None:
    message = await ask(kw, "kills recent", entity=str(ALLIANCE))
    _public_and_silent(message)
    involved = [
        p for p in kw.kills
        if any(party.get("alliance_id") == ALLIANCE
               for party in [p.esi["victim"], *p.esi["attackers"]])
    ]
    assert _kill_ids(message) == _newest(involved)[:10]
    text = text_of(message)
    assert "\\*\\*@\u200beveryone\\*\\* Raiders" in text
    assert "**@everyone**" not in text


async def test_kills_top_lists_the_most_valuable_of_the_week(kw: Bot) -> None:
    valued = sorted((p for p in kw.kills if p.value), key=lambda p: -(p.value or 0))
    message = await ask(kw, "kills top", period="week")
    _public_and_silent(message)
    assert _kill_ids(message) == [p.id for p in valued[:10]]
    assert "most valuable" in message.content


async def test_a_misspelt_system_is_answered_with_what_was_meant(kw: Bot) -> None:
    message = await ask(kw, "kills recent", system="Jitaa")
    assert "There is no solar system named “Jitaa”. Did you mean “Jita”?" in message.content
    assert message.embeds == []


async def test_nothing_found_is_said_plainly(kw: Bot) -> None:
    message = await ask(kw, "kills recent", system="Amarr")
    assert message.content == "No stored kills in **Amarr** yet."
    assert (message.embeds, message.attachments) == ([], [])
    top = await ask(kw, "kills top", period="day", region="Derelik")
    assert top.content == "No kills with a value are stored for the last day in **Derelik**."


# --- /intel ----------------------------------------------------------------------------------


def _valid_png(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG)
    assert len(data) < 100_000
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        return image.size


async def test_intel_on_an_alliance_attaches_its_activity_and_ship_charts(kw: Bot) -> None:
    message = await ask(kw, "intel alliance", name=str(ALLIANCE))
    _public_and_silent(message)
    files = {a.filename: a for a in message.attachments}
    assert set(files) == {"activity.png", "ships.png"}
    for attachment in files.values():
        assert attachment.content_type == "image/png"
        assert _valid_png(attachment.data) == (800, 400)
    intel, ships = message.embeds
    assert intel["image"]["url"] == "attachment://activity.png"
    assert ships["image"]["url"] == "attachment://ships.png"
    assert intel["url"] == f"https://zkillboard.com/alliance/{ALLIANCE}/"
    assert intel["title"].startswith("\\*\\*@\u200beveryone\\*\\* Raiders")
    lost = sum(1 for p in kw.kills if p.esi["victim"].get("alliance_id") == ALLIANCE)
    assert f"**{lost:,}** loss" in intel["description"]
    names = [f["name"] for f in intel["fields"]]
    assert names == ["Ships flown", "Ships lost", "Active systems", "Active hours (UTC)"]


async def test_intel_on_a_name_nobody_knows_is_refused_plainly(kw: Bot) -> None:
    message = await ask(kw, "intel character", name="Nobody Here")
    assert message.content == "No character named “Nobody Here” is known."
    assert message.attachments == []


async def test_intel_on_someone_without_kills_says_so_without_charts(kw: Bot) -> None:
    message = await ask(kw, "intel character", name="12345", days=7)
    assert message.content == (
        "No kills or losses of the character **\\#12345** are stored for the last 7 days."
    )
    assert (message.embeds, message.attachments) == ([], [])


async def test_intel_on_a_system_names_who_is_active_with_a_class_chart(kw: Bot) -> None:
    ((busiest, n),) = Counter(p.system for p in kw.kills).most_common(1)
    name = universe().system(busiest).name  # type: ignore[union-attr]
    message = await ask(kw, "intel system", name=name)
    _public_and_silent(message)
    (embed,) = message.embeds
    assert embed["title"].startswith(name)
    assert embed["description"].startswith(f"**{n}** kill")
    assert [f["name"] for f in embed["fields"]] == [
        "Most active alliances", "Most active corporations", "Ships lost", "Latest kills",
    ]
    (chart,) = message.attachments
    assert chart.filename == "ships.png"
    _valid_png(chart.data)
    quiet = await ask(kw, "intel system", name="Amarr", hours=3)
    assert quiet.content == "No kills are stored in **Amarr** for the last 3 hours."


# --- /battle ---------------------------------------------------------------------------------


async def test_battle_report_summarises_the_fight_around_a_system(kw: Bot) -> None:
    now = datetime.now(UTC)
    near = universe().neighbours(JITA)[0]
    fight = [
        place(60 + i, now - timedelta(minutes=50 - 6 * i), JITA if i % 3 else near)
        for i in range(6)
    ]
    await store(kw.database, fight)
    message = await ask(kw, "battle report", system="Jita")
    _public_and_silent(message)
    (embed,) = message.embeds
    assert embed["title"] == "Battle in Jita and 1 more system"
    assert "**6 ships destroyed**" in embed["description"]
    assert embed["footer"]["text"].startswith("Battle report · Jita and")
    quiet = await ask(kw, "battle report", system="Amarr", hours=1)
    assert quiet.content.startswith("No kills are stored in **Amarr** or the ")
    assert quiet.embeds == []


# --- autocomplete and set-up -------------------------------------------------------------------


async def test_entity_names_complete_from_the_store_and_systems_from_the_universe(
    kw: Bot,
) -> None:
    entity = await kw.fake.autocomplete(
        "intel alliance", focused="name", value="**@", user_id=BOB, channel_id=GENERAL,
        within=1.0,
    )
    assert entity == [{"name": ALLIANCE_NAME, "value": ALLIANCE_NAME}]
    # A character is not offered for an alliance.
    assert await kw.fake.autocomplete(
        "intel alliance", focused="name", value="Some", user_id=BOB, channel_id=GENERAL,
        within=1.0,
    ) == []
    systems = await kw.fake.autocomplete(
        "battle report", focused="system", value="jit", user_id=BOB, channel_id=GENERAL,
        within=1.0,
    )
    assert "Jita" in [c["value"] for c in systems]


async def test_watch_entity_offers_player_names_the_store_has_seen(kw: Bot) -> None:
    choices = await kw.fake.autocomplete(
        "watch entity", focused="name", value="Some", user_id=BOB, channel_id=GENERAL,
        within=1.0,
    )
    assert {"name": "Some Pilot", "value": "Some Pilot"} in choices


async def test_without_the_query_facade_the_commands_say_so(tmp_path: Path) -> None:
    async with running(tmp_path, queries=False) as bot:
        message = await ask(bot, "kills recent")
    assert message.content == "Queries of stored kills are not set up on this bot."
