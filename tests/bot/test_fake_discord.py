"""The fake Discord is faithful enough: the real discord.py logs in, syncs, answers and posts
against it, and meets Discord's limits and errors the way it would meet Discord's."""

from __future__ import annotations

import asyncio
import io
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    Channel,
    FakeDiscord,
    Guild,
    Limit,
    Member,
    Overwrite,
    Permission,
    Role,
    Upload,
)
from tests.fakes.discord_client import FakeDiscordThread, running_bot

GUILD_ID = 1_111 << 22
OWNER, ALICE, BOB, CAROL = 501, 502, 503, 504  # Carol shares no server with the bot
MANAGERS = 601
GENERAL, KILLS, READ_ONLY, HIDDEN = 1001, 1002, 1003, 1004

GUILD = Guild(
    GUILD_ID,
    "Wormhole Society",
    channels=[
        Channel(GENERAL, "general"),
        Channel(KILLS, "kills", position=1),
        Channel(
            READ_ONLY,
            "announcements",
            position=2,
            overwrites=(Overwrite(GUILD_ID, deny=Permission.SEND_MESSAGES),),
        ),
        Channel(
            HIDDEN,
            "staff",
            position=3,
            overwrites=(Overwrite(GUILD_ID, deny=Permission.VIEW_CHANNEL),),
        ),
    ],
    roles=[Role(MANAGERS, "Killwatch managers", int(Permission.MANAGE_GUILD))],
    members=[Member(OWNER, "owner"), Member(ALICE, "alice", roles=(MANAGERS,)), Member(BOB, "bob")],
    owner_id=OWNER,
)

SYSTEMS = ["Jita", "Jinizu", "Amarr", "Dodixie", "Rens", "Hek"] + [f"J1{n:05d}" for n in range(40)]


def tiny_png() -> bytes:
    """A valid 1×1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = tiny_png()


def make_bot(seen: list[Any] | None = None) -> commands.Bot:
    """A bot shaped like Killwatch's: a command group, autocomplete, a deferred chart."""
    bot = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.1,
        help_command=None,
    )
    log = seen if seen is not None else []
    sub = app_commands.Group(name="sub", description="Channel subscriptions")

    @sub.command(name="add", description="Add a subscription")
    async def add(
        interaction: discord.Interaction,
        filter: str,
        channel: discord.TextChannel | None = None,
        max_age: app_commands.Range[int, 1, 1440] = 60,
    ) -> None:
        log.append(
            {
                "filter": filter,
                "channel": channel,
                "max_age": max_age,
                "manage_guild": interaction.permissions.manage_guild,
                "bot_can_send": interaction.app_permissions.send_messages,
                "user": interaction.user,
            }
        )
        await interaction.response.send_message(f"Added `{filter}`", ephemeral=True)

    async def systems(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        log.append(current)
        found = [s for s in SYSTEMS if s.lower().startswith(current.lower())]
        return [app_commands.Choice(name=s, value=s) for s in found[:25]]

    @bot.tree.command(description="Recent kills in a system")
    @app_commands.autocomplete(system=systems)
    async def kills(interaction: discord.Interaction, system: str) -> None:
        await interaction.response.send_message(f"Kills in {system}")

    @bot.tree.command(description="Activity chart")
    async def chart(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        sent = await interaction.followup.send(
            "Activity by hour", file=discord.File(io.BytesIO(PNG), filename="activity.png")
        )
        log.append(await sent.attachments[0].read())
        await interaction.followup.send("Posted for everyone")

    bot.tree.add_command(sub)
    return bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD]) as server:
        yield server


@pytest.fixture
def seen() -> list[Any]:
    return []


@pytest.fixture
async def bot(fake: FakeDiscord, seen: list[Any]) -> AsyncIterator[commands.Bot]:
    async with running_bot(make_bot(seen), fake) as running:
        await running.tree.sync()
        yield running


# --- login, gateway, commands ---


async def test_a_real_bot_logs_in_and_receives_ready_and_its_guild(fake: FakeDiscord) -> None:
    async with running_bot(make_bot(), fake) as bot:
        assert bot.user is not None
        assert bot.user.id == fake.bot_id
        assert bot.application_id == fake.application_id
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        assert guild.name == "Wormhole Society"
        assert guild.owner_id == OWNER
        assert {c.id for c in guild.text_channels} == {GENERAL, KILLS, READ_ONLY, HIDDEN}
        assert guild.get_role(MANAGERS) is not None
        assert guild.me is not None
        assert not guild.me.guild_permissions.mention_everyone
        await fake.wait_for(lambda: fake.heartbeats >= 1)
        assert [r.route for r in fake.requests[:2]] == [
            "GET /users/@me",
            "GET /oauth2/applications/@me",
        ]
        assert all(r.headers["Authorization"] == f"Bot {fake.token}" for r in fake.requests)
        assert fake.identifies[0]["intents"] == discord.Intents.default().value


async def test_privileged_intents_are_refused_as_discord_refuses_them(fake: FakeDiscord) -> None:
    greedy = commands.Bot(
        command_prefix="!", intents=discord.Intents.all(), guild_ready_timeout=0.1
    )
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_bot(greedy, fake):
            pass


async def test_a_wrong_token_fails_login_and_counts_as_an_invalid_request(
    fake: FakeDiscord,
) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running_bot(make_bot(), fake, token="not-the-token"):
            pass
    assert fake.requests[0].status == 401
    assert fake.invalid_requests == 1


async def test_an_auto_sharded_bot_asks_gateway_bot_and_connects(fake: FakeDiscord) -> None:
    sharded = commands.AutoShardedBot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
    )
    async with running_bot(sharded, fake):
        assert fake.requests_to("GET", "/gateway/bot")
        assert fake.identifies[0]["shard"] == [0, 1]


async def test_syncing_records_global_and_guild_commands_with_stable_ids(fake: FakeDiscord) -> None:
    async with running_bot(make_bot(), fake) as bot:
        synced = await bot.tree.sync()
        assert {c.name for c in synced} == {"sub", "kills", "chart"}
        held = {c["name"]: c for c in fake.commands()}
        assert {c.id for c in synced} == {int(c["id"]) for c in held.values()}
        add = held["sub"]["options"][0]
        assert add["name"] == "add"
        assert add["type"] == 1
        assert [(o["name"], o["type"], o.get("required", False)) for o in add["options"]] == [
            ("filter", 3, True),
            ("channel", 7, False),
            ("max_age", 4, False),
        ]
        assert held["kills"]["options"][0]["autocomplete"] is True

        guild = discord.Object(GUILD_ID)
        bot.tree.copy_global_to(guild=guild)
        in_guild = await bot.tree.sync(guild=guild)
        assert [c["guild_id"] for c in fake.commands(GUILD_ID)] == [str(GUILD_ID)] * 3
        assert {c.guild_id for c in in_guild} == {GUILD_ID}

        again = await bot.tree.sync()
        assert {c.id for c in again} == {c.id for c in synced}
        assert fake.command_syncs == [None, GUILD_ID, None]


async def test_commands_discord_would_refuse_are_refused(fake: FakeDiscord) -> None:
    bad = [
        {
            "name": "sub",
            "description": "x",
            "options": [
                {"name": "maybe", "description": "x", "type": 3},
                {"name": "must", "description": "x", "type": 3, "required": True},
            ],
        }
    ]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {fake.token}"}) as http:
        url = f"{fake.api_base_url}/applications/{fake.application_id}/commands"
        async with http.put(url, json=bad) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 50035
    assert fake.commands() == []


# --- interactions ---


async def test_a_slash_command_runs_the_real_callback_and_its_ephemeral_reply_is_recorded(
    fake: FakeDiscord, bot: commands.Bot, seen: list[Any]
) -> None:
    interaction = await fake.slash(
        "sub add",
        user_id=ALICE,
        channel_id=GENERAL,
        options={"filter": "region:Delve", "channel": KILLS, "max_age": 30},
    )
    call = seen[0]
    assert call["filter"] == "region:Delve"
    assert isinstance(call["channel"], discord.TextChannel)
    assert call["channel"].id == KILLS
    assert call["max_age"] == 30
    assert call["manage_guild"] is True
    assert call["bot_can_send"] is True
    assert isinstance(call["user"], discord.Member)
    assert call["user"].id == ALICE

    [reply] = fake.interaction_responses(interaction.id)
    assert (reply.kind, reply.type) == ("callback", 4)
    assert reply.content == "Added `region:Delve`"
    assert reply.ephemeral
    assert reply.flags & 64
    assert interaction.original is not None
    assert interaction.original.content == "Added `region:Delve`"
    # Ephemeral: nobody else sees it in the channel.
    assert fake.messages(GENERAL) == []


async def test_a_member_without_manage_server_is_seen_without_it(
    fake: FakeDiscord, bot: commands.Bot, seen: list[Any]
) -> None:
    await fake.slash("sub add", user_id=BOB, channel_id=GENERAL, options={"filter": "x"})
    await fake.slash(
        "sub add",
        user_id=BOB,
        channel_id=GENERAL,
        options={"filter": "x"},
        permissions=int(Permission.MANAGE_GUILD | Permission.VIEW_CHANNEL),
    )
    assert [call["manage_guild"] for call in seen] == [False, True]
    assert seen[0]["channel"] is None
    assert seen[0]["max_age"] == 60


async def test_the_fake_builds_only_what_discord_clients_can_send(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    with pytest.raises(LookupError, match="requires"):
        fake.slash_command_payload("sub add", user_id=BOB, channel_id=GENERAL)
    with pytest.raises(LookupError, match="never registered"):
        fake.slash_command_payload("unsub", user_id=BOB, channel_id=GENERAL)
    with pytest.raises(LookupError, match="no option"):
        fake.slash_command_payload(
            "sub add", user_id=BOB, channel_id=GENERAL, options={"filter": "x", "colour": 1}
        )
    with pytest.raises(LookupError, match="not a member"):
        fake.slash_command_payload(
            "kills", user_id=CAROL, channel_id=GENERAL, options={"system": "x"}
        )


async def test_a_public_reply_is_a_message_of_its_channel(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    interaction = await fake.slash(
        "kills", user_id=BOB, channel_id=KILLS, options={"system": "Jita"}
    )
    assert not interaction.responses[0].ephemeral
    assert [m.content for m in fake.messages(KILLS)] == ["Kills in Jita"]
    assert fake.messages(KILLS)[0].interaction_id == interaction.id


async def test_a_slash_command_in_a_dm_is_answered_in_the_dm(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    interaction = await fake.slash("kills", user_id=BOB, options={"system": "Amarr"})
    assert "guild_id" not in interaction.payload
    assert [m.content for m in fake.dm_messages(BOB)] == ["Kills in Amarr"]


async def test_a_file_given_to_a_command_option_is_read_back_by_the_bot(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    @app_commands.command(name="import", description="Import subscriptions")
    async def import_(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        await interaction.response.send_message(
            f"{file.filename}: {len(data)} bytes", ephemeral=True
        )

    bot.tree.add_command(import_)
    await bot.tree.sync()
    export = Upload("subscriptions.json", b'[{"filter": "region:Delve"}]', "application/json")
    interaction = await fake.slash(
        "import", user_id=ALICE, channel_id=GENERAL, options={"file": export}
    )
    assert interaction.responses[0].content == "subscriptions.json: 28 bytes"


async def test_autocomplete_round_trips_through_the_real_handler(
    fake: FakeDiscord, bot: commands.Bot, seen: list[Any]
) -> None:
    choices = await fake.autocomplete(
        "kills", focused="system", value="ji", user_id=BOB, channel_id=GENERAL
    )
    assert choices == [{"name": "Jita", "value": "Jita"}, {"name": "Jinizu", "value": "Jinizu"}]
    assert seen == ["ji"]
    many = await fake.autocomplete(
        "kills", focused="system", value="J", user_id=BOB, channel_id=GENERAL
    )
    assert len(many) == 25


async def test_more_than_25_choices_are_refused_as_discord_refuses_them(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    async def everything(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in SYSTEMS]

    @app_commands.command(description="Too many choices")
    @app_commands.autocomplete(system=everything)
    async def greedy(interaction: discord.Interaction, system: str) -> None:
        await interaction.response.send_message(system)

    bot.tree.add_command(greedy)
    await bot.tree.sync()
    payload = fake.autocomplete_payload(
        "greedy", focused="system", value="", user_id=BOB, channel_id=GENERAL
    )
    await fake.dispatch("INTERACTION_CREATE", payload)
    callbacks = "POST /interactions/{interaction_id}/{token}/callback"
    await fake.wait_for(lambda: any(r.route == callbacks for r in fake.requests))
    [refused] = [r for r in fake.requests if r.route == callbacks]
    assert (refused.status, refused.code) == (400, 50035)
    assert not fake.interaction(int(payload["id"])).acknowledged


async def test_a_deferred_reply_is_filled_by_the_first_follow_up_with_its_png(
    fake: FakeDiscord, bot: commands.Bot, seen: list[Any]
) -> None:
    interaction = await fake.slash("chart", user_id=BOB, channel_id=GENERAL)
    responses = await fake.wait_for_responses(interaction.id, 3)
    assert [(r.kind, r.type) for r in responses] == [
        ("callback", 5),
        ("followup", None),
        ("followup", None),
    ]
    original = interaction.original
    assert original is not None
    assert not original.loading
    assert original.ephemeral  # as deferred
    assert original.content == "Activity by hour"
    [png] = original.attachments
    assert (png.filename, png.content_type, png.data) == ("activity.png", "image/png", PNG)
    assert responses[1].attachments == (png,)
    await fake.wait_for(lambda: len(seen) == 1)
    assert seen == [PNG]  # discord.py read the attachment back from the fake
    [public] = interaction.followups
    assert fake.messages(GENERAL) == [public]


async def test_a_callback_after_three_seconds_is_an_unknown_interaction(
    seen: list[Any],
) -> None:
    errors: list[discord.HTTPException] = []

    async with FakeDiscord(guilds=[GUILD], interaction_deadline=0.2) as fake:
        bot = make_bot(seen)

        @bot.tree.command(description="Slow")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("too late")
            except discord.NotFound as error:
                errors.append(error)

        async with running_bot(bot, fake):
            await bot.tree.sync()
            payload = fake.slash_command_payload("slow", user_id=BOB, channel_id=GENERAL)
            await fake.dispatch("INTERACTION_CREATE", payload)
            await fake.wait_for(lambda: bool(errors))
    assert errors[0].code == 10062
    assert not fake.interaction(int(payload["id"])).acknowledged


# --- messages: nonce, edits, pings, limits ---


async def test_a_repeated_nonce_posts_once(fake: FakeDiscord, bot: commands.Bot) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    embed = discord.Embed(title="Ragnarok destroyed", description="in 1DQ1-A", colour=0xE74C3C)
    first = await channel.send(embed=embed, nonce="kw-1-97123456")
    second = await channel.send(embed=embed, nonce="kw-1-97123456")
    assert first.id == second.id
    assert fake.nonce_dedupes == 1
    [stored] = fake.messages(KILLS)
    assert stored.embeds[0]["title"] == "Ragnarok destroyed"
    assert (stored.nonce, stored.enforce_nonce) == ("kw-1-97123456", True)
    other = await channel.send(embed=embed, nonce="kw-1-97123457")
    assert other.id != first.id
    assert len(fake.messages(KILLS)) == 2


async def test_a_retry_after_a_lost_answer_is_deduplicated_by_its_nonce(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    fake.drop_next_response(KILLS)
    with pytest.raises(aiohttp.ClientError):
        await channel.send("Nyx destroyed", nonce="kw-2-1")
    assert len(fake.messages(KILLS)) == 1  # Discord got it; the bot does not know
    retried = await channel.send("Nyx destroyed", nonce="kw-2-1")
    assert [m.id for m in fake.messages(KILLS)] == [retried.id]
    assert fake.nonce_dedupes == 1


async def test_edits_and_deletes_are_recorded(fake: FakeDiscord, bot: commands.Bot) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    summary = await channel.send("Battle in M-OEE8: 3 kills")
    await summary.edit(content="Battle in M-OEE8: 9 kills")
    stored = fake.message(summary.id)
    assert (stored.content, stored.edits, len(stored.revisions)) == (
        "Battle in M-OEE8: 9 kills",
        1,
        2,
    )
    [edit] = fake.requests_to("PATCH", "/channels/{channel_id}/messages/{message_id}")
    assert edit.response_headers["X-RateLimit-Bucket"] == "fake-message-edit"
    await summary.delete()
    assert fake.messages(KILLS) == []
    assert fake.messages(KILLS, include_deleted=True) == [stored]


async def test_only_allowed_mentions_ping(fake: FakeDiscord, bot: commands.Bot) -> None:
    channel = bot.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    text = f"<@{ALICE}> @everyone <@&{MANAGERS}>"
    quiet = await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    loud = await channel.send(text)
    assert fake.message(quiet.id).pings == frozenset()
    # No Mention Everyone and an unmentionable role: only Alice is pinged.
    assert fake.message(loud.id).pings == {f"user:{ALICE}"}


async def test_messages_past_discord_limits_are_refused(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as long_content:
        await channel.send("x" * 2001)
    big = [discord.Embed(description="y" * 3001), discord.Embed(description="z" * 3000)]
    with pytest.raises(discord.HTTPException) as big_embeds:
        await channel.send(embeds=big)
    with pytest.raises(discord.HTTPException) as long_nonce:
        await channel.send("ok", nonce="n" * 26)
    assert {e.value.status for e in (long_content, big_embeds, long_nonce)} == {400}
    assert {e.value.code for e in (long_content, big_embeds, long_nonce)} == {50035}
    assert fake.messages(KILLS) == []
    assert fake.invalid_requests == 0  # 400s are not on Discord's ban counter


# --- rate limits ---


async def test_a_burst_to_one_channel_is_paced_by_the_headers_discord_py_reads() -> None:
    async with (
        FakeDiscord(guilds=[GUILD], message_limit=Limit(5, 0.5)) as fake,
        running_bot(make_bot(), fake) as bot,
    ):
        channel = bot.get_channel(KILLS)
        assert isinstance(channel, discord.TextChannel)
        started = time.monotonic()
        await asyncio.gather(*(channel.send(f"kill {i}") for i in range(20)))
        elapsed = time.monotonic() - started
    assert sorted(m.content for m in fake.messages(KILLS)) == sorted(f"kill {i}" for i in range(20))
    # discord.py reads the headers and waits: no 429 is expected, one is tolerated.
    assert fake.rate_limited["user"] <= 1
    assert elapsed >= 1.5  # 20 sends at 5 per 0.5 s: three waits at least
    posts = fake.requests_to("POST", "/channels/{channel_id}/messages")
    assert all("X-RateLimit-Reset-After" in r.response_headers for r in posts)
    assert [r.response_headers["X-RateLimit-Remaining"] for r in posts[:5]] == [
        "4",
        "3",
        "2",
        "1",
        "0",
    ]


async def test_a_client_ignoring_the_headers_gets_a_429_shaped_like_discords() -> None:
    async with (
        FakeDiscord(guilds=[GUILD]) as fake,
        aiohttp.ClientSession(headers={"Authorization": f"Bot {fake.token}"}) as http,
    ):
        url = f"{fake.api_base_url}/channels/{KILLS}/messages"
        statuses = []
        for i in range(6):
            async with http.post(url, json={"content": f"kill {i}"}) as response:
                statuses.append(response.status)
                headers, body = response.headers, await response.json()
        assert statuses == [200] * 5 + [429]
        assert headers["Content-Type"] == "application/json"
        assert headers["X-RateLimit-Scope"] == "user"
        assert headers["Via"]
        assert headers["X-RateLimit-Remaining"] == "0"
        assert int(headers["Retry-After"]) == 5
        assert body["global"] is False
        assert 4.0 < body["retry_after"] <= 5.0
        async with http.get(
            f"{fake.api_base_url}/users/@me", headers={"Authorization": "Bot x"}
        ) as r:
            assert r.status == 401
    assert fake.rate_limited == {"user": 1}
    assert fake.invalid_requests == 2
    assert len(fake.messages(KILLS)) == 5


async def test_the_global_limit_answers_global_429s_that_discord_py_waits_out() -> None:
    channels = [Channel(3000 + i, f"feed-{i}") for i in range(30)]
    guild = Guild(GUILD_ID, "Big", channels=channels, members=[Member(OWNER, "owner")])
    async with (
        FakeDiscord(guilds=[guild], global_limit=Limit(10, 0.5)) as fake,
        running_bot(make_bot(), fake) as bot,
    ):
        started = time.monotonic()
        sends = []
        for c in channels:
            target = bot.get_channel(c.id)
            assert isinstance(target, discord.TextChannel)
            sends.append(target.send(f"kill for {c.name}"))
        await asyncio.gather(*sends)
        elapsed = time.monotonic() - started
    assert all(len(fake.messages(c.id)) == 1 for c in channels)
    assert fake.rate_limited["global"] >= 1
    refused = [r for r in fake.requests if r.status == 429]
    assert all(r.response_headers["X-RateLimit-Global"] == "true" for r in refused)
    assert all(r.scope == "global" for r in refused)
    assert elapsed >= 1.0  # 30 sends through 10 per 0.5 s


async def test_a_global_storm_is_waited_out_and_spares_interaction_callbacks(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    fake.storm(0.4)
    interaction = await fake.slash(
        "kills", user_id=BOB, channel_id=GENERAL, options={"system": "Hek"}
    )
    assert interaction.responses[0].content == "Kills in Hek"
    await channel.send("after the storm")
    assert [m.content for m in fake.messages(KILLS)] == ["after the storm"]
    assert fake.rate_limited["global"] >= 1


async def test_a_queued_429_and_a_shared_storm_are_retried_and_counted_apart(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    channel = bot.get_channel(KILLS)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next(KILLS, 429, retry_after=0.05)
    await channel.send("first")
    fake.storm(0.2, channel_id=KILLS)
    await channel.send("second")
    assert [m.content for m in fake.messages(KILLS)] == ["first", "second"]
    assert fake.rate_limited["user"] == 1
    assert fake.rate_limited["shared"] >= 1
    assert fake.invalid_requests == 1  # shared-scope 429s are not held against the bot


# --- errors ---


@pytest.mark.parametrize(
    ("channel_id", "failure", "code"),
    [
        (READ_ONLY, None, 50013),  # an overwrite denies Send Messages
        (HIDDEN, None, 50001),  # an overwrite denies View Channel
        (GENERAL, 50013, 50013),
        (GENERAL, 50001, 50001),
    ],
)
async def test_a_channel_the_bot_may_not_use_raises_forbidden_with_discords_code(
    fake: FakeDiscord, bot: commands.Bot, channel_id: int, failure: int | None, code: int
) -> None:
    if failure is not None:
        fake.fail_channel(channel_id, failure)
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as refused:
        await channel.send("a kill")
    assert (refused.value.status, refused.value.code) == (403, code)
    assert fake.messages(channel_id) == []
    assert fake.invalid_requests == 1


async def test_unknown_and_deleted_channels_raise_not_found_10003(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    with pytest.raises(discord.NotFound) as unknown:
        await bot.get_partial_messageable(999).send("a kill")
    assert unknown.value.code == 10003
    kills = bot.get_channel(KILLS)
    assert isinstance(kills, discord.TextChannel)
    await fake.delete_channel(KILLS)
    await fake.wait_for(lambda: bot.get_channel(KILLS) is None)  # CHANNEL_DELETE arrived
    with pytest.raises(discord.NotFound) as deleted:
        await kills.send("a kill")
    assert deleted.value.code == 10003


async def test_dms_reach_members_but_not_users_who_block_them_or_share_no_server(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    alice = await bot.fetch_user(ALICE)
    await alice.send("Your watch matched a kill")
    assert [m.content for m in fake.dm_messages(ALICE)] == ["Your watch matched a kill"]

    fake.block_dms(BOB)
    bob = await bot.fetch_user(BOB)
    with pytest.raises(discord.Forbidden) as blocked:
        await bob.send("Your watch matched a kill")
    stranger = await bot.create_dm(discord.Object(CAROL))
    with pytest.raises(discord.Forbidden) as no_server:
        await stranger.send("hello")
    assert blocked.value.code == no_server.value.code == 50007
    assert fake.dm_messages(BOB) == []


# --- the gateway across reconnects, and the fake from another thread ---


async def test_a_dropped_gateway_is_resumed_and_what_it_missed_is_replayed(
    fake: FakeDiscord, bot: commands.Bot
) -> None:
    await fake.close_gateway(4000)
    # Sent while the bot is away (or just back): a resumed session still delivers it.
    payload = fake.slash_command_payload(
        "kills", user_id=BOB, channel_id=GENERAL, options={"system": "Rens"}
    )
    interaction = await fake.invoke(payload)
    assert interaction.responses[0].content == "Kills in Rens"
    assert any(frame.get("op") == 6 for frame in fake.gateway_received)  # RESUME
    assert len(fake.identifies) == 1
    assert fake.connected == 1


async def test_an_invalidated_session_makes_the_bot_identify_again() -> None:
    async with FakeDiscord(guilds=[GUILD], allow_resume=False) as fake:
        bot = make_bot()

        async def no_wait(shard_id: int | None, *, initial: bool = False) -> None:
            """discord.py waits 5 s before identifying again; not in a test."""

        bot.before_identify_hook = no_wait  # type: ignore[method-assign]
        async with running_bot(bot, fake):
            await bot.tree.sync()
            await fake.close_gateway(4000)
            await fake.wait_for(lambda: len(fake.identifies) == 2 and fake.connected == 1)
            interaction = await fake.slash(
                "kills", user_id=BOB, channel_id=GENERAL, options={"system": "Hek"}
            )
            assert interaction.responses[0].content == "Kills in Hek"


SUBPROCESS_BOT = """
import asyncio, os
import discord, discord.gateway, discord.http, yarl

discord.http.Route.BASE = os.environ["KILLWATCH_DISCORD__API_BASE_URL"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
    os.environ["KILLWATCH_DISCORD__GATEWAY_URL"]
)

class Bot(discord.Client):
    async def on_ready(self):
        channel = self.get_channel(int(os.environ["CHANNEL"]))
        await channel.send("hello from another process", nonce="sub-1")
        await self.close()

bot = Bot(intents=discord.Intents.default(), guild_ready_timeout=0.1)
asyncio.run(bot.start(os.environ["KILLWATCH_DISCORD__TOKEN"]))
"""


def test_a_bot_in_another_process_reaches_the_fake_served_from_a_thread() -> None:
    with FakeDiscordThread(FakeDiscord(guilds=[GUILD])) as served:
        env = {**os.environ, **served.fake.environment(), "CHANNEL": str(KILLS)}
        done = subprocess.run(
            [sys.executable, "-c", SUBPROCESS_BOT],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        posted = served.call(lambda: [m.content for m in served.fake.messages(KILLS)])
        assert posted == ["hello from another process"]
        sent = served.run(served.fake.dispatch("TYPING_START", {"channel_id": str(KILLS)}))
        assert sent == 0  # the process has gone: nobody listens
