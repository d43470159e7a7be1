"""Who may change what: a member without Manage Server or a manager role changes nothing in
any server; a manager of one server is nobody in another; nobody sees or touches another
member's DM subscriptions; and no route makes a subscription post into another server.

Every command is tried, as registered with Discord (so a command added later is covered too),
and after each refusal the whole state is compared: both servers' subscriptions, both members'
DMs, both servers' settings and the matcher.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.subscriptions import NotYours, SubscriptionView
from tests.fakes.discord import Message, Upload
from tests.reliability.bot_harness import (
    ADAM,
    BOB,
    CAROL,
    GUILD_A,
    GUILD_B,
    HOME,
    KILLS_A,
    KILLS_B,
    MONA,
    PINGERS,
    PINGERS_B,
    SAM,
    SERVER_MANAGERS,
    Running,
    private,
    running,
    said,
    text_of,
)

READ_ONLY = frozenset({"sub list", "sub show", "sub test"})
# Commands that change a server's subscriptions or settings: at least these must exist.
EXPECTED_MANAGED = frozenset({
    "sub add", "sub edit", "sub remove", "sub pause", "sub resume",
    "watch entity", "watch proximity", "watch radar", "watch bigkills", "watch ganks",
    "watch supers",
    "killwatch config", "killwatch status", "killwatch export", "killwatch import",
    "killwatch pause", "killwatch resume",
})
OPTION_CHANNEL, OPTION_ATTACHMENT, OPTION_ROLE = 7, 11, 8


@dataclass
class World:
    kw: Running
    a: SubscriptionView  # in server A, channel KILLS_A
    b: SubscriptionView  # in server B
    bob_dm: SubscriptionView
    mona_dm: SubscriptionView

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.a.id, self.b.id, self.bob_dm.id, self.mona_dm.id)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running(tmp_path) as kw:
        facade = kw.subscriptions
        yield World(
            kw,
            await facade.create(f"channel:{KILLS_A}", GUILD_A, MONA, text="region = Delve"),
            await facade.create(f"channel:{KILLS_B}", GUILD_B, CAROL, text="region = Catch"),
            await facade.create(f"user:{BOB}", None, BOB, text="value >= 20b"),
            await facade.create(f"user:{MONA}", None, MONA, text="value >= 30b"),
        )


async def snapshot(world: World) -> tuple[Any, ...]:
    kw = world.kw
    facade = kw.subscriptions
    return (
        await facade.list_guild(GUILD_A), await facade.list_guild(GUILD_B),
        await facade.list_dms(BOB), await facade.list_dms(MONA), await facade.list_dms(CAROL),
        await kw.guilds.get(GUILD_A), await kw.guilds.get(GUILD_B),
        len(kw.matcher), tuple(i in kw.matcher for i in world.ids),
    )


def leaf_commands(kw: Running) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every command a member can run, by its full name, with its schema."""

    def walk(node: Mapping[str, Any], path: list[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
        children = [o for o in node.get("options") or () if o["type"] in (1, 2)]
        if not children:
            yield " ".join(path), node
        for child in children:
            yield from walk(child, [*path, child["name"]])

    for command in kw.fake.commands():
        yield from walk(command, [command["name"]])


def managed_commands(kw: Running) -> dict[str, Mapping[str, Any]]:
    found = {
        name: schema for name, schema in leaf_commands(kw)
        if name.split()[0] in ("sub", "watch", "killwatch") and name not in READ_ONLY
    }
    assert set(found) >= EXPECTED_MANAGED
    return found


def _export(*entries: dict[str, Any]) -> bytes:
    return json.dumps({
        "format": "killwatch.subscriptions", "version": 1, "guild": {"id": "1", "name": "x"},
        "exported_at": "2026-01-01T00:00:00Z", "subscriptions": list(entries),
    }).encode()


def _entry(channel: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"channel": channel, "filter": {"field": "value", "op": "gte", "value": 1}, **options}


VALUES = {"filter": "value >= 1b", "name": "Goonswarm Federation", "system": "Jita",
          "style": "link", "default_style": "link", "reason": "mine now"}


def arguments(name: str, schema: Mapping[str, Any], target: int) -> dict[str, Any]:
    """Options that would change something, were the member allowed to."""
    options: dict[str, Any] = {}
    for option in schema.get("options") or ():
        key, kind = option["name"], option["type"]
        if key == "id":
            options[key] = target
        elif kind == OPTION_ATTACHMENT:
            options[key] = Upload("x.json", _export(_entry({"id": str(KILLS_A)})))
        elif key in VALUES and (option.get("required") or name in ("sub edit",
                                                                  "killwatch config")):
            options[key] = VALUES[key]
        elif option.get("required"):
            raise AssertionError(f"/{name} needs a value for {key}")
    return options


async def run(world: World, command: str, /, *, user_id: int, channel_id: int | None,
              **options: Any) -> Message:
    return private(await said(world.kw.fake, command, user_id=user_id, channel_id=channel_id,
                              options=options))


def refused_for_permission(reply: Message) -> bool:
    content = reply.content or ""
    return "You need the **Manage Server** permission" in content


# --- members without the right --------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "channel", "target"),
    [(BOB, KILLS_A, "a"), (MONA, KILLS_B, "b"), (BOB, HOME, "a")],
    ids=["a plain member", "a manager of another server", "a plain member elsewhere"],
)
async def test_without_manage_server_or_the_manager_role_nothing_changes(
    world: World, who: int, channel: int, target: str
) -> None:
    before = await snapshot(world)
    target_id = getattr(world, target).id
    for name, schema in managed_commands(world.kw).items():
        reply = await run(world, name, user_id=who, channel_id=channel,
                          **arguments(name, schema, target_id))
        assert refused_for_permission(reply), (name, reply.content)
        assert reply.attachments == [], name  # no export slipped out
        assert await snapshot(world) == before, name
    # Reading stays open to everyone, and shows only this server's.
    listing = text_of(await run(world, "sub list", user_id=who, channel_id=channel))
    other = world.b if target == "a" else world.a
    assert f"#{other.id}**" not in listing
    assert "value >= 20b" not in listing
    assert "value >= 30b" not in listing


async def test_the_manager_role_of_another_server_counts_for_nothing_here(world: World) -> None:
    """Bob holds a role named like the manager role in server B: it makes him a manager there,
    and not in server A."""
    made = await run(world, "sub add", user_id=BOB, channel_id=KILLS_B, filter="value >= 2b")
    assert " created for " in (made.content or "")
    refused = await run(world, "sub add", user_id=BOB, channel_id=KILLS_A, filter="value >= 2b")
    assert refused_for_permission(refused)
    assert [v.id for v in await world.kw.subscriptions.list_guild(GUILD_A)] == [world.a.id]


async def test_those_with_the_right_may_and_only_manage_server_picks_the_manager_role(
    world: World,
) -> None:
    """The control: the same commands work for managers, so the refusals above are real."""
    kw = world.kw
    assert " created for " in (await run(world, "sub add", user_id=MONA, channel_id=KILLS_A,
                                          filter="value >= 5b")).content
    assert " created for " in (await run(world, "sub add", user_id=ADAM, channel_id=KILLS_A,
                                          filter="value >= 6b")).content
    # The configured manager role may not hand management on; Manage Server may.
    refused = await run(world, "killwatch config", user_id=MONA, channel_id=KILLS_A,
                        manager_role=SERVER_MANAGERS)
    assert "Only members with the **Manage Server** permission" in (refused.content or "")
    assert (await kw.guilds.get(GUILD_A)).manager_role_id is None
    assert refused_for_permission(await run(world, "sub add", user_id=SAM, channel_id=KILLS_A,
                                            filter="value >= 7b"))
    await run(world, "killwatch config", user_id=ADAM, channel_id=KILLS_A,
              manager_role=SERVER_MANAGERS)
    assert (await kw.guilds.get(GUILD_A)).manager_role_id == SERVER_MANAGERS
    assert " created for " in (await run(world, "sub add", user_id=SAM, channel_id=KILLS_A,
                                          filter="value >= 7b")).content
    # Server B's own settings are untouched by all this.
    assert (await kw.guilds.get(GUILD_B)).manager_role_id is None


# --- other servers' and other members' subscriptions --------------------------------------------


BY_ID = ("sub show", "sub edit", "sub remove", "sub pause", "sub resume")


async def test_ids_of_another_server_or_of_dms_are_refused_by_every_sub_command(
    world: World,
) -> None:
    before = await snapshot(world)
    # Each manager, in their own server, names the other server's and the DMs' subscriptions.
    for who, channel, foreign in (
        (MONA, KILLS_A, (world.b, world.bob_dm, world.mona_dm)),
        (BOB, KILLS_B, (world.a, world.bob_dm, world.mona_dm)),
        (ADAM, HOME, (world.b, world.bob_dm)),
    ):
        for name in BY_ID:
            for view in foreign:
                options: dict[str, Any] = {"id": view.id}
                if name == "sub edit":
                    options["filter"] = "npc"
                reply = await run(world, name, user_id=who, channel_id=channel, **options)
                content = text_of(reply)
                assert f"Subscription #{view.id} is not one of this server's" in content, (
                    name, who, content)
                assert view.filter_text not in content  # nothing of it is shown
    assert await snapshot(world) == before


async def test_nobody_sees_or_touches_another_members_dm_subscriptions(world: World) -> None:
    before = await snapshot(world)
    for who, channel, theirs in (
        (MONA, None, (world.bob_dm, world.a, world.b)),
        (MONA, KILLS_A, (world.bob_dm,)),
        (BOB, None, (world.mona_dm, world.a)),
        (CAROL, KILLS_B, (world.bob_dm, world.mona_dm, world.b)),
    ):
        listed = text_of(await run(world, "dm list", user_id=who, channel_id=channel))
        for view in theirs:
            assert view.filter_text not in listed, (who, view.filter_text)
            for name in ("dm remove", "dm pause", "dm resume"):
                reply = await run(world, name, user_id=who, channel_id=channel, id=view.id)
                assert f"Subscription #{view.id} is not one of your DM subscriptions" in (
                    reply.content or ""), (name, who, reply.content)
    # Autocomplete offers each member only their own, and each server only its own.
    fake = world.kw.fake
    for who, channel, command, mine in (
        (MONA, None, "dm remove", {world.mona_dm.id}),
        (BOB, KILLS_B, "dm pause", {world.bob_dm.id}),
        (MONA, KILLS_A, "sub remove", {world.a.id}),
        (BOB, KILLS_B, "sub show", {world.b.id}),
    ):
        choices = await fake.autocomplete(command, focused="id", value="", user_id=who,
                                          channel_id=channel)
        assert {int(c["value"]) for c in choices} == mine, (command, who, choices)
    # The facade itself refuses a DM destination that is not the caller's own.
    with pytest.raises(NotYours):
        await world.kw.subscriptions.create(f"user:{BOB}", None, MONA, text="npc")
    assert await snapshot(world) == before


# --- where a subscription can post ----------------------------------------------------------------


def _server_of(destination: str) -> int | None:
    channel = int(destination.removeprefix("channel:"))
    if channel in (KILLS_A, HOME):
        return GUILD_A
    if channel == KILLS_B:
        return GUILD_B
    return None


async def test_no_command_names_a_channel_a_subscription_posts_to(world: World) -> None:
    """The only channel a subscription command takes is the one it runs in."""
    for name, schema in leaf_commands(world.kw):
        kinds = {o["type"] for o in schema.get("options") or ()}
        if name.split()[0] in ("sub", "watch", "dm"):
            assert OPTION_CHANNEL not in kinds, name
    await run(world, "sub add", user_id=MONA, channel_id=HOME, filter="value >= 3b")
    await run(world, "watch bigkills", user_id=MONA, channel_id=KILLS_A)
    await run(world, "sub add", user_id=BOB, channel_id=KILLS_B, filter="value >= 4b")
    for guild in (GUILD_A, GUILD_B):
        for view in await world.kw.subscriptions.list_guild(guild):
            assert view.guild_id == guild
            assert _server_of(view.destination) == guild, view


FOREIGN_FILES = [
    ("another server's channel by id", _export(_entry({"id": str(KILLS_B)}))),
    ("another server's channel by id and a name only it has",
     _export(_entry({"id": str(KILLS_B), "name": "elsewhere-only"}))),
    ("a DM channel", _export(_entry({"id": str(BOB)}))),
    ("the server, not a channel", _export(_entry({"id": str(GUILD_B), "name": None}))),
    ("a whole export of server B", None),
]


@pytest.mark.parametrize("data", [d for _, d in FOREIGN_FILES], ids=[n for n, _ in FOREIGN_FILES])
async def test_an_import_only_ever_places_subscriptions_in_this_servers_channels(
    world: World, data: bytes | None
) -> None:
    kw = world.kw
    if data is None:
        exported = await run(world, "killwatch export", user_id=CAROL, channel_id=KILLS_B)
        [attachment] = exported.attachments
        data = attachment.data
    reply = await run(world, "killwatch import", user_id=ADAM, channel_id=HOME,
                      file=Upload("x.json", data))
    assert (reply.content or "").startswith("Imported"), reply.content
    views = await kw.subscriptions.list_guild(GUILD_A)
    assert len(views) == 2
    for view in views:
        assert _server_of(view.destination) == GUILD_A, view.destination
    assert [v.id for v in await kw.subscriptions.list_guild(GUILD_B)] == [world.b.id]


async def test_a_role_of_another_server_cannot_be_mentioned(world: World) -> None:
    before = await snapshot(world)
    for mention in (f"role:{PINGERS_B}", f"<@&{PINGERS_B}>", str(PINGERS_B)):
        reply = await run(world, "sub add", user_id=MONA, channel_id=KILLS_A,
                          filter="value >= 1b", mention=mention)
        assert "There is no role" in (reply.content or ""), reply.content
        edit = await run(world, "sub edit", user_id=MONA, channel_id=KILLS_A, id=world.a.id,
                         mention=mention)
        assert "There is no role" in (edit.content or ""), edit.content
    imported = await run(world, "killwatch import", user_id=ADAM, channel_id=KILLS_A,
                         file=Upload("x.json", _export(_entry({"id": str(KILLS_A)},
                                                               mention=f"role:{PINGERS_B}"))))
    assert "which this server does not have" in (imported.content or "")
    assert await snapshot(world) == before
    # This server's own role is fine.
    await run(world, "sub add", user_id=MONA, channel_id=KILLS_A, filter="value >= 1b",
              mention=f"role:{PINGERS}")
    assert (await world.kw.subscriptions.list_guild(GUILD_A))[-1].options.mention == (
        f"role:{PINGERS}")
