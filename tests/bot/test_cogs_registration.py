"""The subscription commands as Discord holds them, that none clash, that cogs stay thin, and
autocomplete answered by the real handlers through the fake Discord."""

from __future__ import annotations

import ast
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from tests.bot.cogs_harness import (
    ALICE,
    BOB,
    CAROL,
    GENERAL,
    KILLS,
    OTHER_CHANNEL,
    PINGERS,
    Killwatch,
    killwatch,
    universe,
)
from tests.fakes.discord import FakeDiscord

COGS_DIR = Path(__file__).resolve().parents[2] / "cogs"
PRESETS = {"entity", "proximity", "radar", "bigkills", "ganks", "supers"}


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Killwatch]:
    async with killwatch(tmp_path) as running:
        yield running


def _options(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in command.get("options") or ()}


def _tree(commands: list[dict[str, Any]]) -> dict[str, Any]:
    """{name: subtree or None}, following subcommands and groups."""

    def walk(node: dict[str, Any]) -> dict[str, Any] | None:
        subs = {o["name"]: o for o in node.get("options") or () if o["type"] in (1, 2)}
        return {name: walk(sub) for name, sub in subs.items()} if subs else None

    return {c["name"]: walk(c) for c in commands}


async def test_every_subscription_command_is_registered_with_discord(kw: Killwatch) -> None:
    presets = dict.fromkeys(PRESETS)
    assert _tree(kw.fake.commands()) == {
        "watch": presets,
        "sub": dict.fromkeys(["add", "list", "show", "edit", "remove", "pause", "resume", "test"]),
        "dm": {"watch": presets} | dict.fromkeys(["add", "list", "remove", "pause", "resume"]),
        "kills": dict.fromkeys(["recent", "top"]),
        "intel": dict.fromkeys(["character", "corporation", "alliance", "system"]),
        "battle": {"report": None},
        "killwatch": dict.fromkeys(["config", "status", "export", "import", "pause", "resume"])
        | {"digest": dict.fromkeys(["on", "off"])},
    }


async def test_sub_add_takes_the_filter_and_the_subscription_options(kw: Killwatch) -> None:
    sub = next(c for c in kw.fake.commands() if c["name"] == "sub")
    add = _options(sub)["add"]
    options = _options(add)
    assert list(options) == ["filter", "style", "mention", "cooldown", "max_age", "min_value"]
    assert options["filter"]["required"] is True
    assert options["filter"]["autocomplete"] is True
    assert options["mention"]["autocomplete"] is True
    assert [c["value"] for c in options["style"]["choices"]] == ["full", "compact", "link"]
    assert (options["cooldown"]["min_value"], options["cooldown"]["max_value"]) == (0, 1440)
    assert options["min_value"]["type"] == 3  # text: "1.5b" is read by the ISK transformer
    show = _options(_options(sub)["show"])
    assert show["id"]["type"] == 4
    assert show["id"]["autocomplete"] is True


async def test_watch_is_offered_only_in_servers_and_dm_everywhere(kw: Killwatch) -> None:
    held = {c["name"]: c for c in kw.fake.commands()}
    assert held["watch"]["dm_permission"] is False
    assert held["sub"]["dm_permission"] is True  # /sub test works in a DM
    assert held["dm"]["dm_permission"] is True
    radar = _options(_options(held["watch"])["radar"])
    assert radar["system"]["required"] is True
    assert radar["ship_groups"]["autocomplete"] is True
    assert (radar["lightyears"]["min_value"], radar["lightyears"]["max_value"]) == (0.1, 100.0)


async def test_no_two_commands_clash_across_every_loaded_cog(kw: Killwatch) -> None:
    tree = kw.bot.tree
    top = [c.name for c in tree.get_commands()]
    assert len(top) == len(set(top))
    everything = [c.qualified_name for c in tree.walk_commands()]
    assert len(everything) == len(set(everything))
    for command in tree.walk_commands():
        if isinstance(command, app_commands.Group):
            assert 0 < len(command.commands) <= 25
            continue
        shown = [p.display_name for p in command.parameters]
        assert len(shown) == len(set(shown)), command.qualified_name
        assert len(shown) <= 25
        assert 1 <= len(command.description) <= 100, command.qualified_name
        for parameter in command.parameters:
            assert 1 <= len(parameter.description) <= 100, (command.qualified_name, parameter)
    assert {"watch", "sub", "dm"} <= set(top)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_cogs_never_touch_the_store_or_sql() -> None:
    files = sorted(COGS_DIR.rglob("*.py"))
    assert len(files) >= 5
    offenders = {
        str(f.relative_to(COGS_DIR)): sorted(
            m for m in _imports(f)
            if m.split(".")[0] in {"sqlalchemy", "aiosqlite", "asyncpg"}
            or m.startswith("engine.store")
        )
        for f in files
    }
    assert {f: bad for f, bad in offenders.items() if bad} == {}


# --- autocomplete ---


async def _choices(fake: FakeDiscord, name: str, focused: str, value: str, **kw: Any
                   ) -> list[dict[str, Any]]:
    kw.setdefault("user_id", BOB)
    kw.setdefault("channel_id", GENERAL)
    started = time.perf_counter()
    choices = await fake.autocomplete(name, focused=focused, value=value, within=1.0, **kw)
    assert time.perf_counter() - started < 1.0
    assert len(choices) <= 25
    return choices


async def test_a_system_completes_by_prefix_from_the_universe(kw: Killwatch) -> None:
    choices = await _choices(kw.fake, "watch proximity", "system", "jit")
    names = [c["name"] for c in choices]
    assert "Jita" in names
    assert all(n.lower().startswith("jit") for n in names)
    assert all(c["name"] == c["value"] for c in choices)
    many = await _choices(kw.fake, "watch radar", "system", "")
    assert len(many) == 25


async def test_ship_groups_complete_the_last_of_a_comma_list(kw: Killwatch) -> None:
    first = await _choices(kw.fake, "watch radar", "ship_groups", "dread",
                           options={"system": "Jita"})
    assert [c["value"] for c in first] == ["Dreadnought"]
    more = await _choices(kw.fake, "dm watch radar", "ship_groups", "Titan, Super",
                          options={"system": "Jita"})
    assert [c["value"] for c in more] == ["Titan, Supercarrier"]
    # Only ship groups: no "Super Weapon" modules, and a group already chosen is not offered.
    again = await _choices(kw.fake, "watch radar", "ship_groups", "Titan, T",
                           options={"system": "Jita"})
    values = [c["value"] for c in again]
    assert "Titan, Tactical Destroyer" in values
    assert "Titan, Titan" not in values
    ships = {g.name for g in _ship_groups()}
    assert all(v.split(", ")[-1] in ships for v in values)


def _ship_groups() -> tuple[Any, ...]:
    from cogs.subscriptions.completion import ship_groups

    return ship_groups(universe())


async def test_regions_and_entities_complete_from_the_universe(kw: Killwatch) -> None:
    regions = await _choices(kw.fake, "watch bigkills", "region", "del")
    assert [c["value"] for c in regions] == ["Delve"]
    entities = await _choices(kw.fake, "watch entity", "name", "Serpentis")
    assert {"Serpentis Corporation", "Serpentis"} & {c["value"] for c in entities}
    # Player names are not in the universe: the typed text is resolved when submitted.
    assert await _choices(kw.fake, "watch entity", "name", "Goonswarm") == []


async def test_the_filter_text_completes_the_name_being_typed(kw: Killwatch) -> None:
    choices = await _choices(kw.fake, "sub test", "filter", "value >= 1b and region = The F")
    assert [c["value"] for c in choices] == ['value >= 1b and region = "The Forge"']
    ships = await _choices(kw.fake, "sub add", "filter", "victim.ship_type = Rift",
                           user_id=ALICE, channel_id=KILLS)
    assert "victim.ship_type = Rifter" in [c["value"] for c in ships]
    assert await _choices(kw.fake, "sub add", "filter", "value >= 1", user_id=ALICE) == []


async def test_mention_offers_here_everyone_and_the_servers_roles(kw: Killwatch) -> None:
    choices = await _choices(kw.fake, "sub add", "mention", "home", user_id=ALICE,
                             options={"filter": "value >= 1b"})
    assert choices == [{"name": "@Home defence", "value": f"role:{PINGERS}"}]
    fixed = await _choices(kw.fake, "sub add", "mention", "", user_id=ALICE,
                           options={"filter": "value >= 1b"})
    assert [c["value"] for c in fixed][:3] == ["none", "@here", "@everyone"]


async def test_ids_complete_from_the_servers_or_the_members_own_subscriptions(
    kw: Killwatch,
) -> None:
    subs = kw.subscriptions
    here = await subs.create(f"channel:{KILLS}", kw.fake.guilds[0].id, ALICE, text="value >= 1b")
    await subs.create(
        f"channel:{OTHER_CHANNEL}", kw.fake.guilds[1].id, CAROL, text="region = Delve"
    )
    bobs = await subs.create(f"user:{BOB}", None, BOB, text="region = Delve")
    await subs.create(f"user:{CAROL}", None, CAROL, text="region = Delve")

    server = await _choices(kw.fake, "sub remove", "id", "", user_id=ALICE)
    assert [c["value"] for c in server] == [here.id]
    assert server[0]["name"] == f"#{here.id} value >= 1b"
    mine = await _choices(kw.fake, "dm remove", "id", "", user_id=BOB)
    assert [c["value"] for c in mine] == [bobs.id]
    assert await _choices(kw.fake, "sub show", "id", "99", user_id=BOB) == []
