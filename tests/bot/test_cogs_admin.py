"""/killwatch against the fake Discord: config, status, export/import, server pause, and the
notice a server gets, once, when one of its channels stops taking posts."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord_bot import BotServices, KillwatchBot
from bot.notices import notify_gone
from bot.sender import SenderStatus
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.filters import Matcher
from engine.guilds import SERVER_PAUSED_REASON, GuildSettings
from engine.history import History
from engine.sources.status import SourceStatus
from engine.status import EngineStatus
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.subscriptions import SubscriptionRepository
from engine.subscriptions import Subscriptions, SubscriptionView
from tests.bot.cogs_harness import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    GENERAL,
    GUILD,
    GUILD_ID,
    KILLS,
    NAMES,
    OTHER_CHANNEL,
    OTHER_GUILD,
    OTHER_GUILD_ID,
    PINGERS,
    READ_ONLY,
    Entities,
    said,
    text_of,
    universe,
)
from tests.fakes.discord import FakeDiscord, Message, Upload
from tests.fakes.discord_client import running_bot

MANAGERS = 801  # the "Killwatch managers" role Alice holds
OWNER = 701
GONE = "missing access (50001): the bot cannot see the channel (View Channel)"


@dataclass
class Admin:
    fake: FakeDiscord
    bot: KillwatchBot
    database: Database
    matcher: Matcher
    subscriptions: Subscriptions
    guilds: GuildSettings


@contextlib.asynccontextmanager
async def admin_bot(tmp_path: Path) -> AsyncIterator[Admin]:
    """The bot with server settings and no configured manager role (only the server's own)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'killwatch.db'}"
    await upgrade(url)
    world = universe()
    distances = Distances(world)
    matcher = Matcher(distances)
    async with Database(url) as database, FakeDiscord(guilds=[GUILD, OTHER_GUILD]) as fake:
        subscriptions = Subscriptions(
            database, matcher, world, ranges=distances, entities=Entities(), names=NAMES.get
        )
        guilds = GuildSettings(database, subscriptions)
        services = BotServices(
            subscriptions, world, History(database, Enricher(world)), pings=True, guilds=guilds
        )
        bot = KillwatchBot(services, guild_ready_timeout=0.1)
        async with running_bot(bot, fake):
            yield Admin(fake, bot, database, matcher, subscriptions, guilds)


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Admin]:
    async with admin_bot(tmp_path) as running:
        yield running


def private(message: Message) -> Message:
    assert message.ephemeral
    assert message.pings == frozenset()
    assert "Traceback" not in text_of(message)
    return message


async def run(kw: Admin, command: str, *, user_id: int = ADMIN, channel_id: int = KILLS,
              **options: Any) -> Message:
    return private(await said(kw.fake, f"killwatch {command}", user_id=user_id,
                              channel_id=channel_id, options=options))


def field(message: Message, name: str) -> str:
    [embed] = message.embeds
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


# --- registration and who may ---


async def test_the_admin_commands_are_registered_for_servers_only(kw: Admin) -> None:
    [command] = [c for c in kw.fake.commands() if c["name"] == "killwatch"]
    assert command["dm_permission"] is False
    subcommands = {o["name"]: o for o in command["options"]}
    assert set(subcommands) == {
        "config", "status", "export", "import", "pause", "resume", "digest"
    }
    digest = {o["name"]: o for o in subcommands["digest"]["options"]}
    assert set(digest) == {"on", "off"}
    assert [(o["name"], o["type"]) for o in digest["on"]["options"]] == [("channel", 7)]
    [file] = subcommands["import"]["options"]
    assert (file["name"], file["type"], file["required"]) == ("file", 11, True)
    config = {o["name"]: o["type"] for o in subcommands["config"]["options"]}
    assert config["manager_role"] == 8
    assert config["log_channel"] == 7
    assert config["default_min_value"] == 3  # text, read as 1.2b or 1,200,000,000


@pytest.mark.parametrize("command", ["config", "status", "export", "pause", "resume"])
async def test_members_without_manage_server_or_the_role_are_refused(
    kw: Admin, command: str
) -> None:
    await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 1b")
    reply = await run(kw, command, user_id=BOB)
    assert "You need the **Manage Server** permission to manage Killwatch" in (reply.content or "")
    assert not (await kw.guilds.get(GUILD_ID)).paused
    assert all(not v.paused for v in await kw.subscriptions.list_guild(GUILD_ID))


async def test_the_server_manager_role_lets_its_members_in_here_and_in_sub(kw: Admin) -> None:
    refused = await run(kw, "status", user_id=ALICE)
    assert "Manage Server" in (refused.content or "")
    await run(kw, "config", manager_role=MANAGERS)
    assert (await kw.guilds.get(GUILD_ID)).manager_role_id == MANAGERS
    allowed = await run(kw, "status", user_id=ALICE)
    assert allowed.embeds[0]["title"] == "Killwatch status"
    added = private(await said(kw.fake, "sub add", user_id=ALICE, channel_id=KILLS,
                               options={"filter": "value >= 1b"}))
    assert "created" in (added.content or "")
    bob = private(await said(kw.fake, "sub add", user_id=BOB, channel_id=KILLS,
                             options={"filter": "value >= 1b"}))
    assert f"<@&{MANAGERS}>" in (bob.content or "")  # the refusal names the role


async def test_only_manage_server_chooses_the_manager_role(kw: Admin) -> None:
    await kw.guilds.set(GUILD_ID, manager_role_id=MANAGERS)
    reply = await run(kw, "config", user_id=ALICE, manager_role=PINGERS)
    assert "Only members with the **Manage Server** permission" in (reply.content or "")
    assert (await kw.guilds.get(GUILD_ID)).manager_role_id == MANAGERS
    cleared = await run(kw, "config", user_id=ALICE, clear="manager_role")
    assert "Only members" in (cleared.content or "")
    # Everything else is the manager role's to change.
    await run(kw, "config", user_id=ALICE, default_style="link")
    assert (await kw.guilds.get(GUILD_ID)).default_style == "link"


# --- config ---


async def test_config_without_options_shows_the_settings(kw: Admin) -> None:
    reply = await run(kw, "config")
    assert reply.embeds[0]["title"] == "Killwatch settings for this server"
    assert field(reply, "Manager role") == "none (Manage Server only)"
    assert field(reply, "Log channel") == "none (the owner is DMed)"
    assert field(reply, "Default style") == "full"


async def test_config_sets_every_value_and_new_subscriptions_take_the_defaults(
    kw: Admin,
) -> None:
    reply = await run(kw, "config", manager_role=MANAGERS, log_channel=GENERAL,
                      default_style="compact", default_max_age=90,
                      default_min_value="1,200,000,000")
    assert reply.embeds[0]["title"] == "Killwatch settings changed"
    assert field(reply, "Manager role") == f"<@&{MANAGERS}>"
    assert field(reply, "Log channel") == f"<#{GENERAL}>"
    assert field(reply, "Default max age") == "1h 30m"
    assert field(reply, "Default min value") == "1.20b ISK"
    settings = await kw.guilds.get(GUILD_ID)
    assert (settings.manager_role_id, settings.log_channel_id) == (MANAGERS, GENERAL)
    assert (settings.default_style, settings.default_max_age) == ("compact", 90)
    assert settings.default_min_value == 1.2e9

    private(await said(kw.fake, "sub add", user_id=ALICE, channel_id=KILLS,
                       options={"filter": "region = Delve"}))
    private(await said(kw.fake, "watch supers", user_id=ALICE, channel_id=KILLS))
    for view in await kw.subscriptions.list_guild(GUILD_ID):
        assert (view.options.style, view.options.max_age, view.options.min_value) == (
            "compact", 90, 1.2e9
        )


async def test_config_reads_isk_as_players_write_it_and_zero_clears(kw: Admin) -> None:
    await run(kw, "config", default_min_value="1.2b", default_max_age=60)
    assert (await kw.guilds.get(GUILD_ID)).default_min_value == 1.2e9
    await run(kw, "config", default_min_value="0", default_max_age=0)
    settings = await kw.guilds.get(GUILD_ID)
    assert (settings.default_min_value, settings.default_max_age) == (None, None)
    bad = await run(kw, "config", default_min_value="lots")
    assert "is not an ISK amount" in (bad.content or "")


async def test_config_refuses_a_log_channel_the_bot_cannot_post_in(kw: Admin) -> None:
    reply = await run(kw, "config", log_channel=READ_ONLY)
    assert "I cannot post in" in (reply.content or "")
    assert "**Send Messages**" in (reply.content or "")
    assert (await kw.guilds.get(GUILD_ID)).log_channel_id is None


async def test_config_clear_unsets_one_setting(kw: Admin) -> None:
    await kw.guilds.set(GUILD_ID, log_channel_id=GENERAL, default_style="link")
    await run(kw, "config", clear="log_channel")
    settings = await kw.guilds.get(GUILD_ID)
    assert (settings.log_channel_id, settings.default_style) == (None, "link")
    both = await run(kw, "config", default_style="full", clear="default_style")
    assert "not both" in (both.content or "")


# --- status ---


class StubEngine:
    def __init__(self, status: EngineStatus) -> None:
        self._status = status

    def status(self) -> EngineStatus:
        return self._status


class StubSender:
    def status(self) -> SenderStatus:
        return SenderStatus(sent=120, folded=0, messages=60, edits=0, failed=1, retries=2,
                            rate_limited=3, paced_seconds=4.0)


async def test_status_shows_feeds_queues_posting_and_what_this_server_is_missing(
    kw: Admin,
) -> None:
    now = discord.utils.utcnow()
    feed = SourceStatus(
        name="r2z2", kind="r2z2", last_position="900123",
        last_kill_time=now - timedelta(seconds=95), last_uploaded_at=None, kills=321,
        kills_per_minute=11.5, errors={"http_429": 2, "gap": 1}, backoff_seconds=12.0,
        last_error="http_429: rate limited",
    )
    engine = EngineStatus(
        started_at=now - timedelta(minutes=30), updated_at=now, running=True, sources=(feed,),
        received=330, stored=321, duplicates=9, queues={"parse": 0, "enrich": 2, "store": 5},
    )
    running = kw.bot.services.running
    running.engine, running.sender = StubEngine(engine), StubSender()  # type: ignore[assignment]
    active = await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 1b")
    paused = await kw.subscriptions.create(f"channel:{GENERAL}", GUILD_ID, ADMIN,
                                           text="value >= 2b")
    await kw.subscriptions.pause_destination(f"channel:{GENERAL}", GONE)
    async with kw.database.session() as session, session.begin():
        # Stored but never loaded into the matcher: what a filter that no longer loads leaves.
        broken = await SubscriptionRepository(session).add(
            destination=f"channel:{KILLS}", guild_id=GUILD_ID, owner_id=ADMIN,
            filter={"v": 1, "field": "value", "op": "gte", "value": 1},
        )

    reply = await run(kw, "status")
    feed_text = field(reply, "Feed r2z2 (r2z2)")
    assert "lag **95 s**" in feed_text
    assert "11.5 kills/min" in feed_text
    assert "backing off 12 s" in feed_text
    assert "errors: gap 1, http_429 2" in feed_text
    assert "queues: enrich 2, parse 0, store 5" in field(reply, "Pipeline")
    posting = field(reply, "Posting")
    assert "2.0 posts/min" in posting  # 60 messages in 30 minutes
    assert "429s: 3" in posting
    server = field(reply, "This server")
    assert "3 subscriptions: 1 active, 1 paused, 1 disabled" in server
    assert f"#{paused.id} in <#{GENERAL}> paused: missing access (50001)" in server
    assert f"#{broken.id} in <#{KILLS}> disabled" in server
    assert f"#{active.id} " not in server


async def test_status_without_a_running_engine_says_so(kw: Admin) -> None:
    await kw.guilds.pause(GUILD_ID, "moving channels")
    reply = await run(kw, "status")
    description = reply.embeds[0]["description"]
    assert "The engine is not running in this process" in description
    assert "**This server is paused** (moving channels)" in description
    assert "0 subscriptions" in field(reply, "This server")


# --- export and import ---


async def export_of(kw: Admin) -> tuple[Message, dict[str, Any]]:
    reply = await run(kw, "export")
    [attachment] = reply.attachments
    assert attachment.filename.endswith(".json")
    return reply, json.loads(attachment.data)


def comparable(view: SubscriptionView) -> tuple[Any, ...]:
    return (view.filter, view.text, view.preset, view.options, view.paused, view.pause_reason)


async def test_export_then_import_in_another_server_recreates_the_same_subscriptions(
    kw: Admin,
) -> None:
    await kw.guilds.set(OTHER_GUILD_ID, default_max_age=5)  # must not leak into the import
    made = [
        await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN,
                                      text="region = Delve and value >= 1b", style="compact",
                                      mention="here", cooldown=300, min_value=5e8),
        await kw.subscriptions.watch(f"channel:{GENERAL}", GUILD_ID, ADMIN, "supers",
                                     max_age=60),
    ]
    await kw.subscriptions.pause(made[1].id, guild_id=GUILD_ID, reason="paused with /sub pause")
    made[1] = await kw.subscriptions.show(made[1].id, guild_id=GUILD_ID)
    reply, document = await export_of(kw)
    assert "2 subscriptions exported" in (reply.content or "")
    assert (document["format"], document["version"]) == ("killwatch.subscriptions", 1)
    assert [s["channel"]["name"] for s in document["subscriptions"]] == ["kills", "general"]

    [attachment] = reply.attachments
    upload = Upload("backup.json", attachment.data, "application/json")
    imported = await run(kw, "import", user_id=CAROL, channel_id=OTHER_CHANNEL, file=upload)
    copies = await kw.subscriptions.list_guild(OTHER_GUILD_ID)
    assert [comparable(c) for c in copies] == [comparable(m) for m in made]
    # "kills" exists there by name; "general" does not, so it lands where the command ran.
    assert [c.destination for c in copies] == [f"channel:{OTHER_CHANNEL}"] * 2
    assert {c.owner_id for c in copies} == {CAROL}
    assert copies[0].id in kw.matcher
    assert copies[1].id not in kw.matcher
    content = imported.content or ""
    assert content.startswith("Imported 2 subscriptions:")
    assert f"#{copies[1].id} → <#{OTHER_CHANNEL}> (no channel “general” here) · paused" in content


async def test_importing_into_the_same_server_keeps_the_channels(kw: Admin) -> None:
    await kw.subscriptions.create(f"channel:{GENERAL}", GUILD_ID, ADMIN, text="value >= 1b",
                                  mention=f"role:{PINGERS}")
    reply, _ = await export_of(kw)
    upload = Upload("backup.json", reply.attachments[0].data)
    await run(kw, "import", channel_id=KILLS, file=upload)
    views = await kw.subscriptions.list_guild(GUILD_ID)
    assert [v.destination for v in views] == [f"channel:{GENERAL}"] * 2
    assert views[1].options.mention == f"role:{PINGERS}"


async def test_an_invalid_import_creates_nothing_and_says_what_is_wrong(kw: Admin) -> None:
    await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 1b")
    await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 2b",
                                  mention=f"role:{PINGERS}")
    _, document = await export_of(kw)
    document["subscriptions"].append(
        {**document["subscriptions"][0],
         "filter": {"v": 1, "field": "region", "op": "eq", "value": 12345}}
    )
    data = json.dumps(document).encode()
    reply = await run(kw, "import", user_id=CAROL, channel_id=OTHER_CHANNEL,
                      file=Upload("bad.json", data))
    content = reply.content or ""
    assert content.startswith("Nothing was imported:")
    assert "#1" not in content
    assert "#2: it mentions the role “Home defence”, which this server does not have." in content
    assert "#3: its filter is not valid" in content
    assert "12345" in content
    assert await kw.subscriptions.list_guild(OTHER_GUILD_ID) == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG not json", "not a Killwatch export (not JSON"),
        (b'{"hello": "world"}', "not a Killwatch export: /killwatch export makes one"),
        (b'{"format": "killwatch.subscriptions", "version": 9}', "version 9"),
        (b'{"format": "killwatch.subscriptions", "version": 1, "guild": {"id": "1"}, '
         b'"exported_at": "2026-01-01T00:00:00Z", "subscriptions": [{"channel": 5}]}',
         "The file is damaged"),
    ],
)
async def test_a_file_that_is_no_export_is_refused(kw: Admin, data: bytes, message: str) -> None:
    reply = await run(kw, "import", file=Upload("x.json", data))
    assert message in (reply.content or "")
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


async def test_exporting_a_server_without_subscriptions_says_so(kw: Admin) -> None:
    reply = await run(kw, "export")
    assert reply.attachments == []
    assert "no subscriptions to export" in (reply.content or "")


# --- pause and resume ---


async def test_pause_and_resume_the_whole_server(kw: Admin) -> None:
    kept = await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 1b")
    mine = await kw.subscriptions.create(f"channel:{KILLS}", GUILD_ID, ADMIN, text="value >= 2b")
    await kw.subscriptions.pause(mine.id, guild_id=GUILD_ID, reason="paused with /sub pause")
    other = await kw.subscriptions.create(f"channel:{OTHER_CHANNEL}", OTHER_GUILD_ID, CAROL,
                                          text="value >= 1b")

    paused = await run(kw, "pause", reason="moving channels")
    assert "1 subscription stopped" in (paused.content or "")
    assert kept.id not in kw.matcher
    assert other.id in kw.matcher
    settings = await kw.guilds.get(GUILD_ID)
    assert (settings.paused, settings.paused_reason) == (True, "moving channels")
    reasons = {v.id: v.pause_reason for v in await kw.subscriptions.list_guild(GUILD_ID)}
    assert reasons[kept.id] == SERVER_PAUSED_REASON

    resumed = await run(kw, "resume")
    assert "1 subscription resumed" in (resumed.content or "")
    assert kept.id in kw.matcher
    assert mine.id not in kw.matcher
    assert not (await kw.guilds.get(GUILD_ID)).paused


# --- telling someone, once ---


async def gone(kw: Admin, channel_id: int, reason: str = GONE) -> int:
    view = await kw.subscriptions.create(f"channel:{channel_id}", GUILD_ID if channel_id in (
        KILLS, GENERAL) else OTHER_GUILD_ID, ADMIN, text="value >= 1b")
    await kw.subscriptions.pause_destination(f"channel:{channel_id}", reason)
    return view.id


async def test_a_lost_channel_is_told_once_in_the_log_channel(kw: Admin) -> None:
    await kw.guilds.set(GUILD_ID, log_channel_id=GENERAL)
    subscription_id = await gone(kw, KILLS)
    notice = await notify_gone(kw.bot, f"channel:{KILLS}", GONE)
    assert notice is not None
    assert (notice.to, notice.channel_id) == ("log_channel", GENERAL)
    again = await notify_gone(kw.bot, f"channel:{KILLS}", GONE)
    assert again is None
    [message] = kw.fake.messages(GENERAL)
    assert f"Killwatch can no longer post kills in <#{KILLS}>" in message.content
    assert "missing access (50001)" in message.content
    assert f"Its subscriptions #{subscription_id} are paused." in message.content
    assert message.pings == frozenset()
    assert kw.fake.dm_messages(OWNER) == []


async def test_without_a_log_channel_the_owner_is_told_in_dms_once(kw: Admin) -> None:
    await gone(kw, OTHER_CHANNEL)
    notice = await notify_gone(kw.bot, f"channel:{OTHER_CHANNEL}", GONE)
    assert notice is not None
    assert notice.to == "owner"
    assert await notify_gone(kw.bot, f"channel:{OTHER_CHANNEL}", GONE) is None
    [message] = kw.fake.dm_messages(CAROL)
    assert "in your server **Elsewhere**" in message.content
    assert "no log channel is set" in message.content
    # Another reason for the same channel is news.
    assert await notify_gone(kw.bot, f"channel:{OTHER_CHANNEL}", "unknown channel") is not None
    assert len(kw.fake.dm_messages(CAROL)) == 2


async def test_a_broken_log_channel_falls_back_to_the_owner(kw: Admin) -> None:
    await kw.guilds.set(GUILD_ID, log_channel_id=GENERAL)
    kw.fake.fail_channel(GENERAL, 50001)
    await gone(kw, KILLS)
    notice = await notify_gone(kw.bot, f"channel:{KILLS}", GONE)
    assert notice is not None
    assert notice.to == "owner"
    [message] = kw.fake.dm_messages(OWNER)
    assert f"cannot post in its log channel <#{GENERAL}> either" in message.content


async def test_a_deleted_channel_is_still_traced_to_its_server(kw: Admin) -> None:
    await kw.guilds.set(GUILD_ID, log_channel_id=GENERAL)
    await gone(kw, KILLS, "unknown channel (10003)")
    await kw.fake.delete_channel(KILLS)
    await kw.fake.wait_for(lambda: kw.bot.get_channel(KILLS) is None)
    notice = await notify_gone(kw.bot, f"channel:{KILLS}", "unknown channel (10003)")
    assert notice is not None
    assert notice.to == "log_channel"


async def test_closed_dms_of_a_member_are_not_announced_to_anyone(kw: Admin) -> None:
    assert await notify_gone(kw.bot, f"user:{ALICE}", "cannot send messages (50007)") is None
    assert kw.fake.all_messages() == []
