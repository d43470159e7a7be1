"""The subscriptions facade against a real SQLite store, the real universe and real kills.

After every change the matcher is compared with the store: for each recorded kill, the ids
the matcher returns must be exactly those of the active stored subscriptions whose filter
(with its options) holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import (
    FilterInvalid,
    FilterSyntaxError,
    Leaf,
    Matcher,
    Node,
    load,
    presets,
    to_json,
)
from engine.filters.compile import compile_tree
from engine.model import EnrichedKill, KillmailRejected, parse_killmail
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.subscriptions import SubscriptionRepository
from engine.subscriptions import (
    UNSET,
    InvalidOption,
    LimitReached,
    NotYours,
    SubscriptionNotFound,
    Subscriptions,
    UnknownName,
    WatchArgs,
)
from engine.subscriptions.options import SubscriptionOptions, with_options
from tests.conftest import KILLMAILS
from tests.store.support import FakeClock

GOONS, INIT = 1354830081, 1727758877
DELVE, ONE_DQ = 10000060, 30004759
GUILD, OTHER_GUILD = 9001, 9002
CHANNEL, OTHER_CHANNEL, THIRD_CHANNEL = "channel:101", "channel:202", "channel:303"
ALICE, BOB = 501, 502
ALICE_DM, BOB_DM = f"user:{ALICE}", f"user:{BOB}"
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()  # after the newest recorded kill
NAMES = {GOONS: "Goonswarm Federation", INIT: "The Initiative."}
GOONS_IN_DELVE = 'region = Delve and involved.alliance = "Goonswarm Federation"'


class Entities:
    """A stand-in for the ESI names-to-ids lookup: a couple of names, answered from a table."""

    TABLE: Mapping[str, Sequence[tuple[str, int]]] = {
        "goonswarm federation": [("alliances", GOONS)],
        "the initiative.": [("alliance", INIT)],
        "twin name": [("corporation", 98000001), ("alliance", 99000001)],
    }

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def lookup(self, names: Sequence[str]) -> Mapping[str, Sequence[tuple[str, int]]]:
        self.calls.append(list(names))
        return {n.lower(): self.TABLE[n.lower()] for n in names if n.lower() in self.TABLE}


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="module")
def distances(universe: Universe) -> Distances:
    return Distances(universe)


@pytest.fixture(scope="module")
def kills(universe: Universe) -> dict[int, EnrichedKill]:
    enricher = Enricher(universe)
    found: dict[int, EnrichedKill] = {}
    for line in KILLMAILS.read_bytes().splitlines():
        try:
            kill = enricher.enrich(parse_killmail(line))
        except KillmailRejected:
            continue
        found[kill.id] = kill
    return found


def db_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'killwatch.db'}"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    await upgrade(db_url(tmp_path))
    async with Database(db_url(tmp_path)) as database:
        yield database


@pytest.fixture
def matcher(distances: Distances) -> Matcher:
    return Matcher(distances, clock=lambda: NOW)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))


def facade(db: Database, matcher: Matcher, universe: Universe, distances: Distances,
           clock: FakeClock, **limits: int) -> Subscriptions:
    return Subscriptions(db, matcher, universe, ranges=distances, entities=Entities(),
                         names=NAMES.get, clock=clock, **limits)


@pytest.fixture
def subs(db, matcher, universe, distances, clock) -> Subscriptions:
    return facade(db, matcher, universe, distances, clock, dm_limit=3, destination_limit=4)


def matching(matcher: Matcher, kills: dict[int, EnrichedKill], sid: int, now: float = NOW
             ) -> set[int]:
    return {kid for kid, kill in kills.items() if sid in matcher.matching(kill, now)}


def expected(tree: Node, kills: dict[int, EnrichedKill], distances: Distances,
             now: float = NOW) -> set[int]:
    predicate = compile_tree(tree, distances)
    return {kid for kid, kill in kills.items() if predicate(kill, now)}


async def assert_matcher_is_the_store(db, matcher, universe, distances, kills) -> None:
    """Every kill: the matcher's ids == the active stored subscriptions that hold."""
    async with db.session() as session:
        rows = await SubscriptionRepository(session).all_active()
    predicates = {
        row.id: compile_tree(
            with_options(load(row.filter, universe),
                         SubscriptionOptions(max_age=row.max_age_minutes,
                                             min_value=row.min_value)),
            distances,
        )
        for row in rows
    }
    assert len(matcher) == len(rows)
    for kill in kills.values():
        want = [sid for sid, p in sorted(predicates.items()) if p(kill, NOW)]
        assert matcher.matching(kill, NOW) == want, kill.id


def goons_in_delve(kills: dict[int, EnrichedKill]) -> set[int]:
    return {kid for kid, k in kills.items() if k.place.region_id == DELVE
            and (k.victim.alliance_id == GOONS or GOONS in k.attacker_ids.alliances)}


# -- create ---------------------------------------------------------------------------------------


async def test_create_from_text_resolves_names_and_matches_those_kills(
    subs, matcher, kills, db, universe, distances
):
    view = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE)
    assert view.filter == to_json(load({"all": [
        {"field": "region", "op": "eq", "value": DELVE},
        {"field": "involved.alliance", "op": "eq", "value": GOONS}]}))
    assert view.filter_text == 'region = Delve and involved.alliance = "Goonswarm Federation"'
    assert view.text == GOONS_IN_DELVE
    assert (view.destination, view.guild_id, view.owner_id) == (CHANNEL, GUILD, ALICE)
    assert view.options == SubscriptionOptions()
    assert not view.paused
    assert view.created_at == view.updated_at == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    want = goons_in_delve(kills)
    assert len(want) >= 3
    assert matching(matcher, kills, view.id) == want
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_bad_text_is_a_syntax_error_with_its_column_and_stores_nothing(subs, matcher):
    with pytest.raises(FilterSyntaxError) as caught:
        await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve and value >>= 1b")
    assert caught.value.column == 27  # the `>=` after `>`
    assert "^" in str(caught.value)
    with pytest.raises(FilterSyntaxError, match="Delvee"):
        await subs.create(CHANNEL, GUILD, ALICE, text="region = Delvee")
    assert await subs.list(CHANNEL) == ()
    assert len(matcher) == 0


async def test_an_entity_name_the_lookup_does_not_know_is_refused(subs):
    with pytest.raises(FilterSyntaxError, match="Nobody Alliance"):
        await subs.create(CHANNEL, GUILD, ALICE, text='victim.alliance = "Nobody Alliance"')


async def test_a_tree_is_validated_against_the_universe(subs):
    with pytest.raises(FilterInvalid, match="unknown solar system id 31"):
        await subs.create(CHANNEL, GUILD, ALICE,
                          tree=Leaf("system", "eq", 31))


PRESET_CASES = [
    ("entity", WatchArgs(entity="Goonswarm Federation"),
     presets.kills_and_losses("alliance", GOONS)),
    ("entity", WatchArgs(entity="The Initiative.", kind="alliance", side="kills"),
     presets.kills("alliance", INIT)),
    ("entity", WatchArgs(entity=str(GOONS), kind="alliance", side="losses"),
     presets.losses("alliance", GOONS)),
    ("proximity", WatchArgs(system="1DQ1-A", jumps=3), presets.proximity([ONE_DQ], 3)),
    ("radar", WatchArgs(system="1dq1-a", lightyears=7.5, ship_groups=("Titan", "Supercarrier")),
     presets.capital_radar(ONE_DQ, 7.5, (30, 659))),
    ("radar", WatchArgs(system=ONE_DQ), presets.capital_radar(ONE_DQ, 7)),
    ("bigkills", WatchArgs(min_isk="1.5b", region="Delve"), presets.big_kills(1.5e9, DELVE)),
    ("bigkills", WatchArgs(min_isk=50e9), presets.big_kills(50e9)),
    ("ganks", WatchArgs(), presets.freighter_ganks()),
    ("supers", WatchArgs(), presets.supercapital_losses()),
]


@pytest.mark.parametrize(("preset", "args", "tree"), PRESET_CASES)
async def test_each_watch_preset_creates_the_subscription_its_tree_describes(
    subs, matcher, kills, distances, preset, args, tree
):
    view = await subs.watch(CHANNEL, GUILD, ALICE, preset, args)
    assert view.preset == preset
    assert view.text is None
    assert view.filter == to_json(tree)
    assert matching(matcher, kills, view.id) == expected(tree, kills, distances)


async def test_presets_that_match_recorded_kills_do(subs, matcher, kills):
    for preset, args in [("entity", WatchArgs(entity="Goonswarm Federation")),
                         ("bigkills", WatchArgs(min_isk="10b")), ("supers", WatchArgs())]:
        view = await subs.watch(CHANNEL, GUILD, ALICE, preset, args)
        assert matching(matcher, kills, view.id), preset


@pytest.mark.parametrize(("preset", "args", "error", "message"), [
    ("proximity", WatchArgs(system="1DQ1-B"), UnknownName, "Did you mean “1DQ1-A”"),
    ("proximity", WatchArgs(), InvalidOption, "needs a solar system"),
    ("radar", WatchArgs(system="Jita", ship_groups=("Titanic",)), UnknownName, "item group"),
    ("bigkills", WatchArgs(min_isk="lots"), InvalidOption, "not an ISK value"),
    ("bigkills", WatchArgs(region="Delvee"), UnknownName, "Did you mean “Delve”"),
    ("entity", WatchArgs(entity="Twin Name"), UnknownName, "choose the kind"),
    ("entity", WatchArgs(entity="Nobody Alliance"), UnknownName, "Nobody Alliance"),
    ("entity", WatchArgs(entity="12345"), InvalidOption, "Say whether 12345"),
    ("entity", WatchArgs(entity="Goonswarm Federation", kind="character"), UnknownName,
     "No character"),
    ("armageddon", WatchArgs(), InvalidOption, "Unknown preset"),
])
async def test_preset_arguments_that_resolve_to_nothing_are_refused_with_a_hint(
    subs, matcher, preset, args, error, message
):
    with pytest.raises(error, match=message):
        await subs.watch(CHANNEL, GUILD, ALICE, preset, args)
    assert len(matcher) == 0


async def test_an_ambiguous_entity_name_resolves_once_the_kind_is_given(subs):
    tree = await subs.preset_tree("entity", WatchArgs(entity="twin name", kind="corporation"))
    assert tree == presets.kills_and_losses("corporation", 98000001)


# -- limits and options ------------------------------------------------------------------------


async def test_the_dm_limit_is_per_member_and_frees_up_on_remove(subs):
    made = [await subs.create(ALICE_DM, None, ALICE, text="solo")
            for _ in range(3)]
    with pytest.raises(LimitReached, match=r"most allowed is 3\..*/dm remove"):
        await subs.create(ALICE_DM, None, ALICE, text="solo")
    await subs.create(BOB_DM, None, BOB, text="solo")  # Bob has his own allowance
    await subs.remove(made[0].id, owner_id=ALICE)
    again = await subs.create(ALICE_DM, None, ALICE, text="solo")
    assert again.guild_id is None
    assert [v.id for v in await subs.list_dms(ALICE)] == [made[1].id, made[2].id, again.id]


async def test_a_channel_has_a_limit_of_its_own(subs):
    for _ in range(4):
        await subs.create(CHANNEL, GUILD, ALICE, text="solo")
    with pytest.raises(LimitReached, match="This channel already has 4"):
        await subs.create(CHANNEL, GUILD, ALICE, text="solo")
    await subs.create(OTHER_CHANNEL, GUILD, ALICE, text="solo")


async def test_a_member_can_only_subscribe_their_own_dms(subs, matcher):
    with pytest.raises(NotYours, match="your own DMs"):
        await subs.create(BOB_DM, None, ALICE, text="solo")
    assert len(matcher) == 0


@pytest.mark.parametrize(("options", "message"), [
    ({"style": "fancy"}, "Unknown style"),
    ({"mention": "@someone"}, "Unknown mention"),
    ({"cooldown": -1}, "cooldown"),
    ({"max_age": 0}, "Max age"),
    ({"min_value": -5.0}, "minimum value"),
])
async def test_options_out_of_range_are_refused(subs, options, message):
    with pytest.raises(InvalidOption, match=message):
        await subs.create(CHANNEL, GUILD, ALICE, text="solo", **options)


async def test_mentions_are_normalised_and_refused_in_dms(subs):
    here = await subs.create(CHANNEL, GUILD, ALICE, text="solo", mention="@here")
    role = await subs.create(CHANNEL, GUILD, ALICE, text="solo", mention="<@&4242>")
    assert (here.options.mention, role.options.mention) == ("here", "role:4242")
    with pytest.raises(InvalidOption, match="only work in channels"):
        await subs.create(ALICE_DM, None, ALICE, text="solo", mention="here")


async def test_min_value_and_max_age_options_take_effect(
    subs, matcher, kills, db, universe, distances
):
    want = goons_in_delve(kills)
    values = sorted(kills[k].value or 0 for k in want)
    floor = values[len(values) // 2]
    rich = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE, min_value=floor)
    assert rich.options.min_value == floor
    assert rich.filter_text == GOONS_IN_DELVE  # the options are not part of the filter
    assert matching(matcher, kills, rich.id) == {k for k in want if (kills[k].value or 0) >= floor}
    assert 0 < len(matching(matcher, kills, rich.id)) < len(want)

    newest = max(want, key=lambda k: kills[k].killmail.time)
    at = kills[newest].killmail.time.timestamp()
    fresh = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE, max_age=30)
    assert matching(matcher, kills, fresh.id, now=at + 10 * 60) == {
        k for k in want if at + 600 - kills[k].killmail.time.timestamp() <= 30 * 60}
    assert newest in matching(matcher, kills, fresh.id, now=at + 10 * 60)
    assert matching(matcher, kills, fresh.id, now=at + 31 * 60) == set()
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_options_that_push_a_filter_over_the_limits_are_refused(subs, matcher):
    sixty_four = " or ".join(f"system = {30000142 + i}" for i in range(64))
    await subs.create(CHANNEL, GUILD, ALICE, text=sixty_four)  # fine on its own
    with pytest.raises(FilterInvalid, match="65 conditions"):
        await subs.create(CHANNEL, GUILD, ALICE, text=sixty_four, min_value=1e9)
    assert len(matcher) == 1


# -- scope --------------------------------------------------------------------------------------


async def test_one_server_can_never_touch_another_servers_subscriptions(
    subs, matcher, kills, db, universe, distances
):
    ours = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE)
    theirs = {"guild_id": OTHER_GUILD}
    attempts = (
        lambda: subs.show(ours.id, **theirs), lambda: subs.remove(ours.id, **theirs),
        lambda: subs.pause(ours.id, **theirs), lambda: subs.resume(ours.id, **theirs),
        lambda: subs.edit(ours.id, text="solo", **theirs),
        lambda: subs.edit(ours.id, style="link", **theirs),
    )
    for attempt in attempts:
        with pytest.raises(NotYours, match="not one of this server's"):
            await attempt()
    # Nor through the DM commands, by the very member who made it.
    with pytest.raises(NotYours, match="DM subscriptions"):
        await subs.remove(ours.id, owner_id=ALICE)
    assert await subs.show(ours.id, guild_id=GUILD) == ours
    assert matching(matcher, kills, ours.id) == goons_in_delve(kills)
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_a_member_never_touches_another_members_dms_nor_a_server_them(subs, matcher):
    alices = await subs.create(ALICE_DM, None, ALICE, text="solo")
    attempts = (
        lambda: subs.show(alices.id, owner_id=BOB), lambda: subs.pause(alices.id, owner_id=BOB),
        lambda: subs.edit(alices.id, owner_id=BOB, text="npc"),
        lambda: subs.remove(alices.id, owner_id=BOB),
    )
    for attempt in attempts:
        with pytest.raises(NotYours, match="not one of your DM subscriptions"):
            await attempt()
    with pytest.raises(NotYours, match="this server's"):
        await subs.remove(alices.id, guild_id=GUILD)
    assert alices.id in matcher
    assert await subs.show(alices.id, owner_id=ALICE) == alices


async def test_unknown_ids_and_missing_scope(subs):
    with pytest.raises(SubscriptionNotFound, match=r"no subscription #77; /sub list"):
        await subs.remove(77, guild_id=GUILD)
    with pytest.raises(SubscriptionNotFound, match="/dm list"):
        await subs.show(77, owner_id=ALICE)
    with pytest.raises(ValueError, match="guild_id or owner_id"):
        await subs.show(77)


# -- changes keep the matcher exact ---------------------------------------------------------------


async def test_pause_resume_edit_and_remove_keep_the_matcher_exact(
    subs, matcher, kills, db, universe, distances, clock
):
    goons = goons_in_delve(kills)
    kill = kills[min(goons)]
    view = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE, mention="here")
    other = await subs.create(OTHER_CHANNEL, GUILD, ALICE, text="region = Delve")
    assert view.id in matcher.matching(kill, NOW)

    clock.advance(timedelta(minutes=1))
    paused = await subs.pause(view.id, guild_id=GUILD, reason="too noisy")
    assert (paused.paused, paused.pause_reason) == (True, "too noisy")
    assert paused.updated_at == view.updated_at + timedelta(minutes=1)
    assert view.id not in matcher.matching(kill, NOW)
    assert other.id in matcher.matching(kill, NOW)
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)

    # Editing a paused subscription keeps it paused.
    edited = await subs.edit(view.id, guild_id=GUILD, style="compact")
    assert edited.paused
    assert view.id not in matcher

    resumed = await subs.resume(view.id, guild_id=GUILD)
    assert (resumed.paused, resumed.pause_reason, resumed.options.style) == (
        False, None, "compact")
    assert matching(matcher, kills, view.id) == goons

    elsewhere = await subs.edit(view.id, guild_id=GUILD, text="region = Delve and not npc")
    assert elsewhere.text == "region = Delve and not npc"
    assert elsewhere.options.mention == "here"  # options not named are kept
    assert elsewhere.preset is None
    assert matching(matcher, kills, view.id) == {
        k for k, v in kills.items() if v.place.region_id == DELVE and not v.npc}
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)

    cleared = await subs.edit(view.id, guild_id=GUILD, mention=None, min_value=1e9,
                              max_age=UNSET)
    assert (cleared.options.mention, cleared.options.min_value) == (None, 1e9)
    assert matching(matcher, kills, view.id) == {
        k for k, v in kills.items()
        if v.place.region_id == DELVE and not v.npc and (v.value or 0) >= 1e9}
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)

    removed = await subs.remove(view.id, guild_id=GUILD)
    assert removed.id == view.id
    assert view.id not in matcher
    assert [v.id for v in await subs.list(CHANNEL)] == []
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_a_bad_edit_changes_nothing(subs, matcher, kills, db, universe, distances):
    view = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE)
    with pytest.raises(FilterSyntaxError):
        await subs.edit(view.id, guild_id=GUILD, text="region = = Delve")
    with pytest.raises(InvalidOption):
        await subs.edit(view.id, guild_id=GUILD, text="solo", style="huge")
    assert await subs.show(view.id, guild_id=GUILD) == view
    assert matching(matcher, kills, view.id) == goons_in_delve(kills)
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_pause_destination_pauses_only_that_channel(
    subs, matcher, kills, db, universe, distances
):
    one = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve")
    two = await subs.create(CHANNEL, GUILD, ALICE, text="solo")
    kept = await subs.create(OTHER_CHANNEL, GUILD, ALICE, text="region = Delve")
    assert await subs.pause_destination(CHANNEL, "404 Unknown Channel") == [one.id, two.id]
    assert await subs.pause_destination(CHANNEL, "again") == []
    assert [(v.paused, v.pause_reason) for v in await subs.list(CHANNEL)] == [
        (True, "404 Unknown Channel")] * 2
    assert kept.id in matcher
    assert one.id not in matcher
    assert two.id not in matcher
    await assert_matcher_is_the_store(db, matcher, universe, distances, kills)


async def test_a_transaction_that_fails_to_commit_leaves_the_matcher_as_it_was(
    subs, matcher, db
):
    view = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve")
    before = matcher.get(view.id)
    # A deferred foreign key is only checked at COMMIT: these triggers make the commit of
    # an edit to style "link", or of a subscription owned by 666, fail in the database.
    async with db.engine.begin() as connection:
        await connection.execute(text(
            "CREATE TABLE guard (id INTEGER REFERENCES subscriptions(id)"
            " DEFERRABLE INITIALLY DEFERRED)"))
        failing = (("UPDATE", "NEW.style = 'link'"), ("INSERT", "NEW.owner_id = 666"))
        for event, condition in failing:
            await connection.execute(text(
                f"CREATE TRIGGER fail_{event.lower()} AFTER {event} ON subscriptions "
                f"WHEN {condition} BEGIN INSERT INTO guard VALUES (-1); END"))
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await subs.edit(view.id, guild_id=GUILD, text="solo", style="link")
    assert matcher.get(view.id) == before
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await subs.create(CHANNEL, GUILD, 666, text="solo")
    assert len(matcher) == 1
    assert [v.id for v in await subs.list(CHANNEL)] == [view.id]


# -- restart and preview ------------------------------------------------------------------------


async def test_load_after_a_restart_matches_the_same_kills(
    tmp_path, universe, distances, kills, clock
):
    url = db_url(tmp_path)
    await upgrade(url)
    async with Database(url) as first_db:
        first = Matcher(distances, clock=lambda: NOW)
        subs = facade(first_db, first, universe, distances, clock)
        await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE, min_value=1e8)
        await subs.watch(OTHER_CHANNEL, GUILD, ALICE, "supers")
        await subs.watch(ALICE_DM, None, ALICE, "proximity", WatchArgs(system="1DQ1-A", jumps=8))
        gone = await subs.create(THIRD_CHANNEL, OTHER_GUILD, BOB, text="solo")
        paused = await subs.create(THIRD_CHANNEL, OTHER_GUILD, BOB, text="npc")
        edited = await subs.create(THIRD_CHANNEL, OTHER_GUILD, BOB, text="region = Delve")
        await subs.remove(gone.id, guild_id=OTHER_GUILD)
        await subs.pause(paused.id, guild_id=OTHER_GUILD)
        await subs.edit(edited.id, guild_id=OTHER_GUILD, text="region = Delve and solo")
        before = {kid: first.match(kill, NOW) for kid, kill in kills.items()}

    async with Database(url) as second_db:
        second = Matcher(distances, clock=lambda: NOW)
        result = await facade(second_db, second, universe, distances, clock).load()
        assert (result.loaded, result.broken) == (4, ())
        after = {kid: second.match(kill, NOW) for kid, kill in kills.items()}
    assert after == before
    assert sum(1 for found in after.values() if found) > 10
    assert {m.destination for found in after.values() for m in found} == {
        CHANNEL, OTHER_CHANNEL, ALICE_DM, THIRD_CHANNEL}


async def test_load_skips_a_stored_filter_that_no_longer_validates(
    subs, matcher, db, universe, distances, clock
):
    good = await subs.create(CHANNEL, GUILD, ALICE, text="solo")
    async with db.session() as session, session.begin():
        broken = await SubscriptionRepository(session).add(
            destination=CHANNEL, guild_id=GUILD, owner_id=ALICE,
            filter={"v": 1, "field": "system", "op": "eq", "value": 31})
    fresh = Matcher(distances)
    result = await facade(db, fresh, universe, distances, clock).load()
    assert (result.loaded, result.broken) == (1, (broken.id,))
    assert good.id in fresh
    # Listing still shows it, as stored.
    assert [v.filter_text for v in await subs.list(CHANNEL)] == ["solo", "system = 31"]


async def test_preview_counts_what_a_filter_would_have_matched_without_saving(
    subs, matcher, kills, distances
):
    recent = sorted(kills.values(), key=lambda k: k.killmail.time, reverse=True)
    shown = await subs.preview(GOONS_IN_DELVE, recent, NOW)
    want = goons_in_delve(kills)
    assert shown.count == len(want)
    assert [k.id for k in shown.first] == [k.id for k in recent if k.id in want][:5]
    assert len(matcher) == 0

    rich = await subs.preview(GOONS_IN_DELVE, recent, datetime.fromtimestamp(NOW, UTC),
                              min_value=1e9, first=2)
    assert rich.count == len({k for k in want if (kills[k].value or 0) >= 1e9})
    assert len(rich.first) <= 2
    tree = await subs.preset_tree("supers")
    assert (await subs.preview(tree, recent, NOW)).count == len(
        expected(presets.supercapital_losses(), kills, distances))
    with pytest.raises(FilterSyntaxError):
        await subs.preview("value >", recent, NOW)


async def test_the_sender_learns_style_mention_and_watched_entities_without_io(
    subs, db, matcher, universe, distances, clock
):
    view = await subs.create(
        CHANNEL, GUILD, ALICE,
        text=f'{GOONS_IN_DELVE} and not attacker.alliance = "The Initiative."',
        style="compact", mention="@here", cooldown=600,
    )
    posting = subs.posting(view.id)
    assert posting is not None
    assert (posting.style, posting.mention, posting.cooldown) == ("compact", "here", 600)
    # Goons are watched; the Initiative, excluded under a `not`, is not.
    assert posting.watched["alliance"] == frozenset({GOONS})
    assert posting.watched["character"] == frozenset()
    assert subs.posting(view.id + 1000) is None
    # A restart knows it too, from the store.
    again = facade(db, Matcher(distances), universe, distances, clock)
    await again.load()
    assert again.posting(view.id) == posting


async def test_resume_listeners_hear_the_destination(subs):
    heard: list[str] = []

    async def later(destination: str) -> None:
        heard.append(f"async {destination}")

    subs.on_resume(heard.append)
    subs.on_resume(later)
    view = await subs.create(CHANNEL, GUILD, ALICE, text=GOONS_IN_DELVE)
    await subs.pause(view.id, guild_id=GUILD)
    assert heard == []
    await subs.resume(view.id, guild_id=GUILD)
    assert heard == [CHANNEL, f"async {CHANNEL}"]
