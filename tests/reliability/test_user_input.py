"""Hostile user input: filters at and past every limit, as text and as JSON, injection-looking
strings, absurd options and import files — through the facade and through the slash commands
against the fake Discord. Never a crash, always a clear private answer, never a ping, and
nothing stored when the answer is no."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.enrich.distances import Distances
from engine.filters import FilterError, FilterInvalid, Matcher, load
from engine.filters.tree import MAX_DEPTH, MAX_LEAVES, MAX_LIST, depth, leaves
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.subscriptions import Subscriptions
from tests.bot.cogs_harness import Entities, universe
from tests.fakes.discord import Message, Upload
from tests.reliability.bot_harness import (
    ADAM,
    BOB,
    GUILD_A,
    HOME,
    KILLS_A,
    MONA,
    PINGERS,
    Running,
    private,
    running,
    said,
    text_of,
)

CHANNEL = f"channel:{KILLS_A}"
MAX_TEXT = 4000


def _and(count: int) -> str:
    return " and ".join(f"value >= {n}" for n in range(1, count + 1))


def _nested(levels: int) -> str:
    """``levels`` deep: and/or alternate, so nothing can be merged away."""
    text_form = "value >= 1"
    for n in range(2, levels + 1):
        text_form = f"value >= {n}{' or ' if n % 2 else ' and '}({text_form})"
    return text_form


def _listed(count: int) -> str:
    return "victim.character in (" + ", ".join(str(n) for n in range(1, count + 1)) + ")"


def _long(length: int) -> str:
    return "value >= 1" + " " * (length - len("value >= 1"))


# (limit, the text at it, the text one past it, what the refusal says)
TEXT_LIMITS = [
    ("leaves", _and(MAX_LEAVES), _and(MAX_LEAVES + 1), f"more than the {MAX_LEAVES} allowed"),
    ("depth", _nested(MAX_DEPTH), _nested(MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
    ("values", _listed(MAX_LIST), _listed(MAX_LIST + 1), f"more than the {MAX_LIST} allowed"),
    ("string", f'labels contains "{"x" * 100}"', f'labels contains "{"x" * 101}"',
     "1 to 100 characters"),
    ("length", _long(MAX_TEXT), _long(MAX_TEXT + 1), f"longer than {MAX_TEXT} characters"),
    ("ten thousand", _long(MAX_TEXT), "value >= 1 and " * 666 + "npc", "longer than 4000"),
    ("parentheses", "(" * 8 + "npc" + ")" * 8, "(" * 40 + "npc" + ")" * 40, "nested more than"),
    ("negations", "not " * (MAX_DEPTH - 1) + "npc", "not " * 40 + "npc", "nested more than"),
]

INJECTIONS = [
    "'; DROP TABLE subscriptions; --",
    "\" OR 1=1 --",
    "@everyone free isk",
    "@here",
    f"<@&{PINGERS}>",
    f"<@{BOB}>",
    f"<#{HOME}>",
    "**bold** __under__ ~~gone~~ ||spoiler|| [click](https://evil.example)",
    "```\nclosed fence```",
    "zero\u200bwidth\u200d\ufeff",
    "\u202eenoyreve@ RTL override",
    "> quote\n# heading\n- list",
    "\\",
]


@pytest.fixture
async def facade(tmp_path: Path) -> AsyncIterator[tuple[Subscriptions, Database]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kw.db'}"
    await upgrade(url)
    world = universe()
    async with Database(url) as database:
        distances = Distances(world)
        yield Subscriptions(database, Matcher(distances), world, ranges=distances,
                            entities=Entities()), database


async def _table_rows(database: Database) -> int:
    async with database.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM subscriptions"))).scalar_one())


# --- the facade -----------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "at", "past", "says"), TEXT_LIMITS,
                         ids=[row[0] for row in TEXT_LIMITS])
async def test_a_filter_at_a_limit_is_accepted_and_one_past_it_refused_storing_nothing(
    facade: tuple[Subscriptions, Database], limit: str, at: str, past: str, says: str
) -> None:
    subscriptions, database = facade
    with pytest.raises(FilterError) as refused:
        await subscriptions.create(CHANNEL, GUILD_A, MONA, text=past)
    assert says in str(refused.value)
    assert await _table_rows(database) == 0
    view = await subscriptions.create(CHANNEL, GUILD_A, MONA, text=at)
    assert view.text == at
    assert [v.id for v in await subscriptions.list(CHANNEL)] == [view.id]


def _leaf(n: int) -> dict[str, Any]:
    return {"field": "value", "op": "gte", "value": n}


def _json_nested(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = _leaf(1)
    for n in range(2, levels + 1):
        node = {"any" if n % 2 else "all": [_leaf(n), node]}
    return node


def _deep_not(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = _leaf(1)
    for _ in range(levels):
        node = {"not": node}
    return node


JSON_LIMITS = [
    ("leaves", {"all": [_leaf(n) for n in range(MAX_LEAVES)]},
     {"all": [_leaf(n) for n in range(MAX_LEAVES + 1)]}, f"more than the {MAX_LEAVES}"),
    ("depth", _json_nested(MAX_DEPTH), _json_nested(MAX_DEPTH + 1), "nested deeper than"),
    ("values", {"field": "victim.character", "op": "in", "value": list(range(1, MAX_LIST + 1))},
     {"field": "victim.character", "op": "in", "value": list(range(1, MAX_LIST + 2))},
     f"more than the {MAX_LIST} allowed"),
    ("string", {"field": "labels", "op": "contains", "value": "x" * 100},
     {"field": "labels", "op": "contains", "value": "x" * 101}, "1 to 100 characters"),
    ("a hundred thousand levels", _json_nested(MAX_DEPTH), _deep_not(100_000),
     "nested deeper than"),
    ("a hundred thousand children", _json_nested(MAX_DEPTH),
     {"all": [_leaf(n) for n in range(100_000)]}, f"more than the {MAX_LEAVES}"),
    ("a 100,000-character field name", _leaf(1),
     {"field": "x" * 100_000, "op": "eq", "value": 1}, "unknown field"),
    ("not a number", _leaf(1), {"field": "value", "op": "gte", "value": float("nan")},
     "is not a number"),
    ("a boolean id", _leaf(1), {"field": "system", "op": "eq", "value": True}, " id, got true"),
    ("another version", {"v": 1, **_leaf(1)}, {"v": 99, **_leaf(1)}, "unsupported filter version"),
]


@pytest.mark.parametrize(("limit", "at", "past", "says"), JSON_LIMITS,
                         ids=[row[0] for row in JSON_LIMITS])
async def test_a_json_filter_at_a_limit_loads_and_one_past_it_is_refused_by_path(
    facade: tuple[Subscriptions, Database], limit: str, at: Any, past: Any, says: str
) -> None:
    subscriptions, database = facade
    with pytest.raises(FilterInvalid) as refused:
        load(past, universe())
    assert says in str(refused.value)
    assert all(p.path.startswith("$") for p in refused.value.problems)
    node = load(at, universe())
    assert depth(node) <= MAX_DEPTH
    assert len(list(leaves(node))) <= MAX_LEAVES
    await subscriptions.create(CHANNEL, GUILD_A, MONA, tree=node)
    assert await _table_rows(database) == 1


async def test_injection_looking_values_are_stored_verbatim_and_harm_nothing(
    facade: tuple[Subscriptions, Database],
) -> None:
    subscriptions, database = facade
    for n, hostile in enumerate(INJECTIONS):
        quoted = hostile.replace("\\", "\\\\").replace('"', '\\"')
        typed = f'labels contains "{quoted}" and value >= {n + 1}'
        view = await subscriptions.create(CHANNEL, GUILD_A, MONA, text=typed)
        assert view.text == typed
        [label] = [leaf.value for leaf in leaves(load(view.filter)) if leaf.field == "labels"]
        assert label == hostile
    assert await _table_rows(database) == len(INJECTIONS)
    assert len(await subscriptions.list(CHANNEL)) == len(INJECTIONS)


# --- through the slash commands ----------------------------------------------------------------


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Running]:
    async with running(tmp_path) as bot:
        yield bot


async def command(kw: Running, name: str, *, user_id: int = MONA, channel_id: int | None = KILLS_A,
                  **options: Any) -> Message:
    return private(await said(kw.fake, name, user_id=user_id, channel_id=channel_id,
                              options=options))


async def test_sub_add_and_sub_test_answer_every_limit_privately_and_store_only_what_fits(
    kw: Running,
) -> None:
    for limit, _, past, says in TEXT_LIMITS:
        for name in ("sub add", "sub test"):
            reply = await command(kw, name, filter=past)
            content = reply.content or ""
            assert content.startswith("That filter cannot be"), (limit, name, content[:200])
            assert says in content, (limit, name, content[:300])
        assert await kw.subscriptions.list_guild(GUILD_A) == (), limit
    created = 0
    for limit, at, _, _ in TEXT_LIMITS[:5]:
        reply = await command(kw, "sub add", filter=at)
        assert " created for " in (reply.content or ""), (limit, (reply.content or "")[:300])
        created += 1
    assert len(await kw.subscriptions.list_guild(GUILD_A)) == created
    for name in ("sub list", "dm list"):
        await command(kw, name)


async def test_injection_strings_are_answered_inert_and_never_ping(kw: Running) -> None:
    for n, hostile in enumerate(INJECTIONS):
        # As a whole filter: refused, quoted inside a code block that it cannot close.
        for name, channel in (("sub add", KILLS_A), ("sub test", KILLS_A), ("dm add", None)):
            reply = await command(kw, name, channel_id=channel, filter=hostile)
            content = reply.content or ""
            assert content.startswith("That filter cannot be"), (name, hostile, content)
            assert content.count("```") == 2, (name, hostile, content)
        # As a value: accepted, and echoed back just as inert.
        quoted = hostile.replace("\\", "\\\\").replace('"', '\\"')
        typed = f'labels contains "{quoted}" and value >= {n + 1}'
        reply = await command(kw, "sub add", filter=typed)
        assert " created for " in (reply.content or ""), (hostile, reply.content)
    views = await kw.subscriptions.list_guild(GUILD_A)
    assert len(views) == len(INJECTIONS)
    assert await kw.subscriptions.list_dms(MONA) == ()
    await command(kw, "sub list")
    for view in views:
        shown = await command(kw, "sub show", user_id=BOB, id=view.id)
        assert f"Subscription #{view.id}" in text_of(shown)
    # Nothing anyone saw pinged anyone, anywhere.
    assert all(m.pings == frozenset() for m in kw.fake.all_messages(include_deleted=True))


ISK = ["9" * 400, "9" * 5000, "1e999", "NaN", "-5", "inf", f"<@&{PINGERS}>", "'; DROP TABLE x"]
MENTIONS = ["<@&999999999999999999>", f"@everyone <@{BOB}>", "\u202eenoyreve@", "role:" + "9" * 40,
            "@" + "x" * 99, "**Home defence**"]


async def test_absurd_option_values_are_refused_plainly_and_nothing_is_saved(
    kw: Running,
) -> None:
    for value in ISK:
        reply = await command(kw, "sub add", filter="value >= 1b", min_value=value)
        content = reply.content or ""
        assert "not an ISK amount" in content or "does not fit" in content \
            or "minimum value" in content, (value[:20], content)
    for value in MENTIONS:
        reply = await command(kw, "sub add", filter="value >= 1b", mention=value)
        assert "There is no role" in (reply.content or ""), (value[:20], reply.content)
    assert await kw.subscriptions.list_guild(GUILD_A) == ()
    # What is allowed still works (this bot may ping).
    await command(kw, "sub add", filter="value >= 1b", mention="@everyone", min_value="1.5b")
    [view] = await kw.subscriptions.list_guild(GUILD_A)
    assert (view.options.mention, view.options.min_value) == ("everyone", 1.5e9)


def _export(*subscriptions: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "killwatch.subscriptions", "version": 1,
        "guild": {"id": str(GUILD_A), "name": "x"},
        "exported_at": "2026-01-01T00:00:00Z",
        "subscriptions": list(subscriptions),
    }


def _entry(**changes: Any) -> dict[str, Any]:
    return {"channel": {"id": str(KILLS_A), "name": "kills"}, "filter": _leaf(1), **changes}


def _raw(document: dict[str, Any], tail: bytes = b"") -> bytes:
    return json.dumps(document).encode() + tail


DEEP = b'{"all": [' * 50_000 + b"{}" + b"]}" * 50_000
HOSTILE_FILES: list[tuple[str, bytes, str]] = [
    ("nested fifty thousand deep",
     _raw(_export(_entry())).replace(b'{"field": "value", "op": "gte", "value": 1}', DEEP, 1),
     "nested too deeply"),
    ("not UTF-8", _raw(_export(_entry(text="x"))).replace(b'"x"', b'"\xed\xa0\x80\xff"'),
     "not UTF-8"),
    ("a channel id in superscript digits",
     _raw(_export(_entry(channel={"id": "\u00b2\u00b3", "name": "kills"}))), "Imported 1"),
    ("a role id of five thousand digits", _raw(_export(_entry(mention="role:" + "9" * 5000))),
     "does not have"),
    ("a channel id of five thousand digits",
     _raw(_export(_entry(channel={"id": "9" * 5000, "name": "kills"}))), "Imported 1"),
    ("a filter one leaf too many",
     _raw(_export(_entry(filter={"all": [_leaf(n) for n in range(MAX_LEAVES + 1)]}))),
     f"more than the {MAX_LEAVES} allowed"),
    ("an absurd cooldown", _raw(_export(_entry(cooldown_seconds=10**22))), "cooldown"),
    ("a NUL style", _raw(_export(_entry(style="\x00"))), "Unknown style"),
    ("an injection as the filter text", _raw(_export(_entry(text="@everyone <@504> ```"))),
     "Imported 1"),
    ("no JSON at all", b"\x00\xff" * 1000, "not a Killwatch export"),
]


@pytest.mark.parametrize(("data", "says"), [(d, s) for _, d, s in HOSTILE_FILES],
                         ids=[name for name, _, _ in HOSTILE_FILES])
async def test_hostile_import_files_get_a_clear_answer_and_create_all_or_nothing(
    kw: Running, data: bytes, says: str
) -> None:
    reply = await command(kw, "killwatch import", user_id=ADAM, file=Upload("x.json", data))
    content = reply.content or ""
    assert says in content, content[:500]
    created = await kw.subscriptions.list_guild(GUILD_A)
    assert len(created) == (1 if content.startswith("Imported") else 0)


# Names and ids where commands take a name: superscript digits (int() refuses them), numbers no
# id column holds, control characters. Each is a name that names nothing, said so plainly.
HOSTILE_NAMES = [
    "\u00b2", "9" * 25, "99999999999999999999", "9" * 100, "\u202e", "\x00", "@everyone",
]
NAMED = [
    ("kills recent", "entity"), ("kills recent", "system"), ("kills recent", "region"),
    ("kills top", "region"), ("intel character", "name"), ("intel alliance", "name"),
    ("intel system", "name"), ("watch entity", "name"), ("watch proximity", "system"),
]


async def test_hostile_names_in_queries_and_presets_are_names_that_name_nothing(
    kw: Running,
) -> None:
    for command_name, option in NAMED:
        for name in HOSTILE_NAMES:
            reply = await said(kw.fake, command_name, user_id=MONA, channel_id=KILLS_A,
                               options={option: name})
            shown = text_of(reply)
            assert reply.pings == frozenset(), (command_name, name)
            assert "something went wrong" not in shown, (command_name, name)
            assert "invalid literal" not in shown, (command_name, name)
            assert "named" in shown or "with id" in shown or "no " in shown.lower(), (
                command_name, name, shown[:200])
    assert await kw.subscriptions.list_guild(GUILD_A) == ()
