"""/sub against the fake Discord: what each member may do, what they are told, what is stored."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.bot.cogs_harness import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    GENERAL,
    GUILD_ID,
    KILLS,
    OTHER_CHANNEL,
    OTHER_GUILD_ID,
    PINGERS,
    READ_ONLY,
    Killwatch,
    fixture_kills,
    killwatch,
    said,
    store_kills,
    text_of,
)
from tests.fakes.discord import Message, Permission

CHANNEL = f"channel:{KILLS}"


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Killwatch]:
    async with killwatch(tmp_path) as running:
        yield running


def private(message: Message) -> Message:
    """Every answer is ephemeral and can ping nobody."""
    assert message.ephemeral
    assert message.allowed_mentions == {"parse": []}
    assert message.pings == frozenset()
    assert "Traceback" not in text_of(message)
    return message


async def add(kw: Killwatch, filter_text: str, *, user_id: int = ALICE,
              channel_id: int | None = KILLS, permissions: int | None = None,
              **options: object) -> Message:
    return private(await said(kw.fake, "sub add", user_id=user_id, channel_id=channel_id,
                              options={"filter": filter_text, **options},
                              permissions=permissions))


# --- add, and who may ---


async def test_a_manager_role_member_adds_a_subscription_for_this_channel(kw: Killwatch) -> None:
    reply = await add(kw, "region = Delve and value >= 1b", style="compact", cooldown=5)
    [view] = await kw.subscriptions.list(CHANNEL)
    assert reply.content is not None
    assert reply.content.startswith(f"Subscription **#{view.id}** created for <#{KILLS}>.")
    assert "```\nregion = Delve and value >= 1b\n```" in reply.content
    assert "style **compact**" in reply.content
    assert (view.guild_id, view.owner_id, view.options.style) == (GUILD_ID, ALICE, "compact")
    assert view.id in kw.matcher


async def test_manage_server_is_enough_without_the_role(kw: Killwatch) -> None:
    await add(kw, "value >= 1b", user_id=ADMIN)
    reply = await add(kw, "value >= 2b", user_id=BOB, permissions=int(Permission.MANAGE_GUILD))
    assert "created" in (reply.content or "")
    assert len(await kw.subscriptions.list(CHANNEL)) == 2


async def test_a_member_without_permission_is_told_what_is_missing(kw: Killwatch) -> None:
    reply = await add(kw, "value >= 1b", user_id=BOB)
    assert reply.content is not None
    assert "**Manage Server** permission" in reply.content
    assert "**Killwatch managers** role" in reply.content
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


async def test_without_a_manager_role_only_manage_server_is_asked_for(tmp_path: Path) -> None:
    async with killwatch(tmp_path, manager_role=None) as kw:
        reply = await add(kw, "value >= 1b", user_id=ALICE)
        assert "Manage Server" in (reply.content or "")
        assert "role" not in (reply.content or "")


async def test_a_channel_subscription_cannot_be_made_from_a_dm(kw: Killwatch) -> None:
    reply = await add(kw, "value >= 1b", user_id=ALICE, channel_id=None)
    assert "works in a server channel" in (reply.content or "")
    assert "/dm add" in (reply.content or "")


async def test_a_channel_the_bot_cannot_post_in_is_refused(kw: Killwatch) -> None:
    reply = await add(kw, "value >= 1b", channel_id=READ_ONLY)
    assert "I need **Send Messages** here" in (reply.content or "")
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


async def test_a_bad_filter_is_answered_with_the_column_and_a_caret(kw: Killwatch) -> None:
    reply = await add(kw, "value >= 1b and region = Delv")
    assert reply.content == (
        "That filter cannot be read at column 26: no region named \\`Delv\\`; did you mean "
        "\\`Delve\\`?\n```\nvalue >= 1b and region = Delv\n" + " " * 25 + "^\n```"
    )
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


async def test_mentions_take_here_a_role_by_name_and_refuse_unknown_roles(kw: Killwatch) -> None:
    here = await add(kw, "value >= 1b", mention="@here", cooldown=30)
    assert "mention @\u200bhere · cooldown 30 min" in (here.content or "")
    await add(kw, "value >= 2b", mention="Home defence")
    await add(kw, "value >= 3b", mention=f"role:{PINGERS}")
    unknown = await add(kw, "value >= 4b", mention="@Directors of **Nothing**")
    assert "There is no role “@\u200bDirectors of \\*\\*Nothing\\*\\*”" in (unknown.content or "")
    views = await kw.subscriptions.list(CHANNEL)
    assert [(v.options.mention, v.options.cooldown) for v in views] == [
        ("here", 1800), (f"role:{PINGERS}", 900), (f"role:{PINGERS}", 900),
    ]


async def test_mentions_are_refused_when_pings_are_off(tmp_path: Path) -> None:
    async with killwatch(tmp_path, pings=False) as kw:
        reply = await add(kw, "value >= 1b", mention="@everyone")
        assert "Pings are turned off" in (reply.content or "")
        assert await kw.subscriptions.list(CHANNEL) == ()
        await add(kw, "value >= 1b", mention="none")
        assert len(await kw.subscriptions.list(CHANNEL)) == 1


async def test_isk_amounts_are_read_as_players_write_them(kw: Killwatch) -> None:
    await add(kw, "region = Delve", min_value="1.5b", max_age=60)
    [view] = await kw.subscriptions.list(CHANNEL)
    assert (view.options.min_value, view.options.max_age) == (1.5e9, 60)
    bad = await add(kw, "region = Delve", min_value="lots")
    assert "“lots” is not an ISK amount" in (bad.content or "")


# --- list, show ---


async def test_anyone_lists_the_servers_subscriptions_and_pages_them(kw: Killwatch) -> None:
    for n in range(17):
        await kw.subscriptions.create(CHANNEL, GUILD_ID, ALICE, text=f"value >= {n + 1}b")
    await kw.subscriptions.create(f"channel:{GENERAL}", GUILD_ID, ALICE, text="region = Delve")
    await kw.subscriptions.create(
        f"channel:{OTHER_CHANNEL}", OTHER_GUILD_ID, CAROL, text="region = Catch"
    )
    first = private(await said(kw.fake, "sub list", user_id=BOB, channel_id=GENERAL))
    [embed] = first.embeds
    assert embed["title"] == "Subscriptions in Wormhole \\*\\*Society\\*\\*"
    lines = embed["description"].split("\n")
    assert len(lines) == 15
    assert lines[0] == f"**#1** · <#{KILLS}> · `value >= 1b`"
    assert embed["footer"]["text"].startswith("Page 1 of 2 · 18 subscriptions")
    second = await said(kw.fake, "sub list", user_id=BOB, channel_id=GENERAL,
                        options={"page": 2})
    rest = second.embeds[0]["description"].split("\n")
    assert len(rest) == 3
    assert rest[-1] == f"**#18** · <#{GENERAL}> · `region = Delve`"
    assert "Catch" not in text_of(first) + text_of(second)


async def test_show_gives_one_subscription_in_full_to_anyone(kw: Killwatch) -> None:
    view = await kw.subscriptions.create(
        CHANNEL, GUILD_ID, ALICE, text="victim.alliance = goonswarm federation", max_age=90,
        min_value=2e9,
    )
    reply = private(await said(kw.fake, "sub show", user_id=BOB, channel_id=GENERAL,
                               options={"id": view.id}))
    [embed] = reply.embeds
    assert embed["title"] == f"Subscription #{view.id}"
    assert embed["description"] == '```\nvictim.alliance = "Goonswarm Federation"\n```'
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Posts to"] == f"<#{KILLS}>"
    assert fields["Status"] == "active"
    assert fields["Options"] == (
        "style **full** · mention none · max age 1h 30m · min value 2.00b ISK"
    )
    assert fields["Owner"] == f"<@{ALICE}>"


async def test_unknown_ids_and_other_servers_subscriptions_are_refused(kw: Killwatch) -> None:
    theirs = await kw.subscriptions.create(
        f"channel:{OTHER_CHANNEL}", OTHER_GUILD_ID, CAROL, text="value >= 1b"
    )
    unknown = await said(kw.fake, "sub show", user_id=BOB, channel_id=GENERAL,
                         options={"id": 999})
    assert private(unknown).content == "There is no subscription #999; /sub list shows the ids."
    other = private(await said(kw.fake, "sub remove", user_id=ALICE, channel_id=KILLS,
                               options={"id": theirs.id}))
    assert f"Subscription #{theirs.id} is not one of this server's" in (other.content or "")
    assert theirs.id in kw.matcher


# --- edit, remove, pause, resume ---


async def test_edit_changes_the_filter_and_options_and_clears_with_zero(kw: Killwatch) -> None:
    view = await kw.subscriptions.create(
        CHANNEL, GUILD_ID, ALICE, text="value >= 1b", max_age=60, min_value=1e9
    )
    reply = private(await said(
        kw.fake, "sub edit", user_id=ALICE, channel_id=GENERAL,
        options={"id": view.id, "filter": "region = Delve", "style": "link", "max_age": 0,
                 "min_value": "0"},
    ))
    assert reply.content is not None
    assert reply.content.startswith(f"Subscription **#{view.id}** changed for <#{KILLS}>.")
    changed = await kw.subscriptions.show(view.id, guild_id=GUILD_ID)
    assert changed.filter_text == "region = Delve"
    assert (changed.options.style, changed.options.max_age, changed.options.min_value) == (
        "link", None, None,
    )


async def test_edit_with_nothing_to_change_says_so(kw: Killwatch) -> None:
    view = await kw.subscriptions.create(CHANNEL, GUILD_ID, ALICE, text="value >= 1b")
    reply = private(await said(kw.fake, "sub edit", user_id=ALICE, channel_id=KILLS,
                               options={"id": view.id}))
    assert reply.content == "Nothing to change: give a new filter or at least one option."


async def test_edit_remove_pause_and_resume_are_refused_without_permission(
    kw: Killwatch,
) -> None:
    view = await kw.subscriptions.create(CHANNEL, GUILD_ID, ALICE, text="value >= 1b")
    for command, extra in [("sub edit", {"style": "link"}), ("sub remove", {}),
                           ("sub pause", {}), ("sub resume", {})]:
        reply = private(await said(kw.fake, command, user_id=BOB, channel_id=KILLS,
                                   options={"id": view.id, **extra}))
        assert "You need the **Manage Server** permission" in (reply.content or ""), command
    assert await kw.subscriptions.show(view.id, guild_id=GUILD_ID) == view
    assert view.id in kw.matcher


async def test_pause_resume_and_remove_keep_the_matcher_in_step(kw: Killwatch) -> None:
    view = await kw.subscriptions.create(CHANNEL, GUILD_ID, ALICE, text="value >= 1b")
    paused = await said(kw.fake, "sub pause", user_id=ALICE, channel_id=GENERAL,
                        options={"id": view.id})
    assert "paused for" in (private(paused).content or "")
    assert view.id not in kw.matcher
    listed = await said(kw.fake, "sub list", user_id=BOB, channel_id=GENERAL)
    assert "⏸ paused" in listed.embeds[0]["description"]
    await said(kw.fake, "sub resume", user_id=ALICE, channel_id=GENERAL, options={"id": view.id})
    assert view.id in kw.matcher
    removed = await said(kw.fake, "sub remove", user_id=ALICE, channel_id=GENERAL,
                         options={"id": view.id})
    removal = f"Subscription **#{view.id}** removed from <#{KILLS}>."
    assert (removed.content or "").startswith(removal)
    assert view.id not in kw.matcher
    assert await kw.subscriptions.list(CHANNEL) == ()


# --- test: a preview over the stored last day ---


async def _store_a_day(kw: Killwatch, now: datetime) -> tuple[list[object], list[object]]:
    kills = fixture_kills()
    recent = [(k, now - timedelta(minutes=7 * i + 1)) for i, k in enumerate(kills[:150])]
    old = [(k, now - timedelta(hours=30, minutes=i)) for i, k in enumerate(kills[150:200])]
    return (
        list(await store_kills(kw.database, kw.enricher, recent)),
        list(await store_kills(kw.database, kw.enricher, old)),
    )


async def test_a_filter_is_previewed_on_the_kills_stored_in_the_last_day(kw: Killwatch) -> None:
    recent, old = await _store_a_day(kw, datetime.now(UTC))
    wanted = [k for k in recent if (k.value or 0) >= 1e9]  # type: ignore[attr-defined]
    assert 3 < len(wanted) < len(recent)
    assert any((k.value or 0) >= 1e9 for k in old)  # type: ignore[attr-defined]

    reply = private(await said(kw.fake, "sub test", user_id=BOB, channel_id=GENERAL,
                               options={"filter": "value >= 1b"}))
    assert reply.content is not None
    assert reply.content.startswith(
        f"**{len(wanted)}** kills of the last 24 h match (out of 150 stored):"
    )
    assert "```\nvalue >= 1b\n```" in reply.content
    # The latest three, compactly: their zKillboard links, newest first.
    latest = [k.killmail.url for k in wanted[:3]]  # type: ignore[attr-defined]
    assert [latest[i] in e["description"] for i, e in enumerate(reply.embeds)] == [True] * 3
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()  # nothing saved


async def test_a_preview_honours_min_value_and_works_in_a_dm(kw: Killwatch) -> None:
    recent, _ = await _store_a_day(kw, datetime.now(UTC))
    wanted = [k for k in recent if (k.value or 0) >= 5e9]  # type: ignore[attr-defined]
    reply = private(await said(kw.fake, "sub test", user_id=BOB,
                               options={"filter": "value >= 1b", "min_value": "5b"}))
    assert (reply.content or "").startswith(f"**{len(wanted)}** kills of the last 24 h match")


async def test_a_preview_with_a_bad_filter_shows_the_column(kw: Killwatch) -> None:
    reply = private(await said(kw.fake, "sub test", user_id=BOB, channel_id=GENERAL,
                               options={"filter": "valeu >= 1b"}))
    assert (reply.content or "").startswith("That filter cannot be read at column 1:")
    assert "```\nvaleu >= 1b\n^\n```" in (reply.content or "")


async def test_echoed_text_can_neither_ping_nor_format(kw: Killwatch) -> None:
    reply = private(await said(kw.fake, "sub test", user_id=BOB, channel_id=GENERAL,
                               options={"filter": "@everyone **free isk** ```<@&803>"}))
    content = reply.content or ""
    # The text is only ever inside the code block, whose fence it cannot close.
    assert "```\n@everyone **free isk** `\u200b``<@&803>\n^\n```" in content
    assert content.count("```") == 2


async def test_an_unexpected_failure_is_logged_with_an_id_and_apologised_for(
    kw: Killwatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with kw.database.session() as session, session.begin():
        await session.execute(text("DROP TABLE killmails"))
    with caplog.at_level(logging.ERROR, logger="cogs.subscriptions.replies"):
        reply = private(await said(kw.fake, "sub test", user_id=BOB, channel_id=GENERAL,
                                   options={"filter": "value >= 1b"}))
    [record] = [r for r in caplog.records if r.name == "cogs.subscriptions.replies"]
    error_id = record.args[1]  # type: ignore[index]
    assert record.exc_info is not None
    assert reply.content == (
        f"Sorry, something went wrong on my side (error id `{error_id}`). It has been logged; "
        "please try again later or tell the bot's operator the error id."
    )
