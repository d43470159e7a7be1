"""Per-server settings against a real store: defaults for new subscriptions, the whole-server
pause (through the subscriptions facade, the matcher kept exact), notices told once, and
imports that are all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import URL

from engine.enrich.distances import Distances
from engine.enrich.universe import Universe
from engine.filters import FilterInvalid, Leaf, Matcher, parse
from engine.guilds import SERVER_PAUSED_REASON, GuildSettings
from engine.store.database import Database
from engine.store.guilds import GuildSettingsRepository
from engine.store.migrate import upgrade
from engine.subscriptions import (
    InvalidBatch,
    InvalidOption,
    LimitReached,
    NewSubscription,
    Subscriptions,
)
from tests.store.support import FakeClock, fresh_postgres_database, sqlite_url

GUILD, OTHER_GUILD = 9001, 9002
CHANNEL, SECOND_CHANNEL, OTHER_CHANNEL = "channel:101", "channel:102", "channel:202"
ALICE = 501
ALICE_DM = f"user:{ALICE}"


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@pytest.fixture(scope="module")
def distances(universe: Universe) -> Distances:
    return Distances(universe)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = sqlite_url(tmp_path)
    await upgrade(url)
    async with Database(url) as database:
        yield database


@pytest.fixture
def matcher(distances: Distances) -> Matcher:
    return Matcher(distances)


@pytest.fixture
def subs(db: Database, matcher: Matcher, universe: Universe, distances: Distances,
         clock: FakeClock) -> Subscriptions:
    return Subscriptions(db, matcher, universe, ranges=distances, clock=clock,
                         destination_limit=4)


@pytest.fixture
def guilds(db: Database, subs: Subscriptions, clock: FakeClock) -> GuildSettings:
    return GuildSettings(db, subs, clock=clock)


# --- the repository, on both backends ---


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[URL]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    async with fresh_postgres_database() as url:
        yield url


async def test_settings_are_stored_per_server_and_changed_column_by_column(
    any_url: URL, clock: FakeClock
) -> None:
    await upgrade(any_url)
    async with Database(any_url) as db:
        async with db.session() as session, session.begin():
            repo = GuildSettingsRepository(session, clock=clock)
            assert (await repo.get(GUILD)).updated_at is None  # never configured
            await repo.put(GUILD, log_channel_id=123, default_min_value=1.2e9)
            clock.advance(timedelta(minutes=1))
            changed = await repo.put(GUILD, default_style="compact", paused=True)
        async with db.session() as session:
            stored = await GuildSettingsRepository(session).get(GUILD)
            other = await GuildSettingsRepository(session).get(OTHER_GUILD)
    assert (stored.log_channel_id, stored.default_min_value, stored.default_style) == (
        123, 1.2e9, "compact"
    )
    assert stored.paused is True
    assert stored == changed
    assert stored.updated_at == clock.now
    assert other.log_channel_id is None
    assert other.paused is False


async def test_the_repository_refuses_a_column_it_does_not_have(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(TypeError, match="colour"):
            await GuildSettingsRepository(session).put(GUILD, colour="red")


# --- settings ---


async def test_a_server_never_configured_has_nothing_set(guilds: GuildSettings) -> None:
    settings = await guilds.get(GUILD)
    assert settings.manager_role_id is None
    assert settings.log_channel_id is None
    assert settings.default_style is None
    assert not settings.paused


async def test_set_changes_only_what_is_given_and_none_clears(guilds: GuildSettings) -> None:
    await guilds.set(GUILD, manager_role_id=77, log_channel_id=88, default_max_age=60)
    settings = await guilds.set(GUILD, log_channel_id=None, default_min_value=5e8)
    assert (settings.manager_role_id, settings.log_channel_id) == (77, None)
    assert (settings.default_max_age, settings.default_min_value) == (60, 5e8)
    assert await guilds.get(GUILD) == settings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default_style": "huge"}, "Unknown style"),
        ({"default_max_age": 0}, "Max age"),
        ({"default_max_age": 10 * 24 * 60}, "Max age"),
        ({"default_min_value": -1.0}, "minimum value"),
    ],
)
async def test_defaults_out_of_range_are_refused_and_nothing_changes(
    guilds: GuildSettings, change: dict[str, object], message: str
) -> None:
    await guilds.set(GUILD, default_style="link")
    with pytest.raises(InvalidOption, match=message):
        await guilds.set(GUILD, **change)  # type: ignore[arg-type]
    assert (await guilds.get(GUILD)).default_style == "link"


# --- defaults of new subscriptions ---


async def test_new_channel_subscriptions_take_the_server_defaults(
    guilds: GuildSettings, subs: Subscriptions
) -> None:
    await guilds.set(GUILD, default_style="compact", default_max_age=30, default_min_value=1.2e9)
    view = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve")
    assert (view.options.style, view.options.max_age, view.options.min_value) == (
        "compact", 30, 1.2e9
    )
    chosen = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve", style="link",
                               max_age=5, min_value=1.0)
    assert (chosen.options.style, chosen.options.max_age, chosen.options.min_value) == (
        "link", 5, 1.0
    )
    elsewhere = await subs.create(OTHER_CHANNEL, OTHER_GUILD, ALICE, text="region = Delve")
    dm = await subs.create(ALICE_DM, None, ALICE, text="region = Delve")
    for plain in (elsewhere, dm):
        assert (plain.options.style, plain.options.max_age, plain.options.min_value) == (
            "full", None, None
        )


# --- pausing a server ---


async def test_pausing_a_server_stops_every_subscription_of_its_channels_only(
    guilds: GuildSettings, subs: Subscriptions, matcher: Matcher
) -> None:
    first = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve")
    second = await subs.create(SECOND_CHANNEL, GUILD, ALICE, text="value >= 1b")
    other = await subs.create(OTHER_CHANNEL, OTHER_GUILD, ALICE, text="value >= 1b")
    result = await guilds.pause(GUILD, "maintenance")
    assert result.changed == (first.id, second.id)
    assert result.settings.paused
    assert result.settings.paused_reason == "maintenance"
    assert first.id not in matcher
    assert second.id not in matcher
    assert other.id in matcher
    reasons = {v.id: v.pause_reason for v in await subs.list_guild(GUILD)}
    assert reasons == {first.id: SERVER_PAUSED_REASON, second.id: SERVER_PAUSED_REASON}
    again = await guilds.pause(GUILD)
    assert again.changed == ()


async def test_resume_restores_exactly_what_the_server_pause_stopped(
    guilds: GuildSettings, subs: Subscriptions, matcher: Matcher
) -> None:
    mine = await subs.create(CHANNEL, GUILD, ALICE, text="region = Delve")
    by_member = await subs.create(CHANNEL, GUILD, ALICE, text="value >= 1b")
    lost = await subs.create(SECOND_CHANNEL, GUILD, ALICE, text="value >= 2b")
    await subs.pause(by_member.id, guild_id=GUILD, reason="paused with /sub pause")
    await subs.pause_destination(SECOND_CHANNEL, "missing access (50001)")
    await guilds.pause(GUILD)
    made_while_paused = await subs.create(CHANNEL, GUILD, ALICE, text="value >= 3b")
    assert made_while_paused.paused
    assert made_while_paused.id not in matcher

    result = await guilds.resume(GUILD)
    assert result.changed == (mine.id, made_while_paused.id)
    assert not result.settings.paused
    assert result.settings.paused_reason is None
    assert mine.id in matcher
    assert made_while_paused.id in matcher
    assert by_member.id not in matcher
    assert lost.id not in matcher
    still = {v.id: v.pause_reason for v in await subs.list_guild(GUILD) if v.paused}
    assert still == {by_member.id: "paused with /sub pause", lost.id: "missing access (50001)"}
    fresh = await subs.create(CHANNEL, GUILD, ALICE, text="value >= 4b")
    assert not fresh.paused
    assert fresh.id in matcher


# --- notices ---


async def test_a_notice_is_given_once_per_destination_and_reason_even_after_a_restart(
    db: Database, guilds: GuildSettings, subs: Subscriptions
) -> None:
    assert await guilds.first_notice(CHANNEL, "missing access (50001)") is True
    assert await guilds.first_notice(CHANNEL, "missing access (50001)") is False
    assert await guilds.first_notice(CHANNEL, "unknown channel (10003)") is True
    assert await guilds.first_notice(SECOND_CHANNEL, "missing access (50001)") is True
    restarted = GuildSettings(db, subs)
    assert await restarted.first_notice(CHANNEL, "missing access (50001)") is False
    assert await restarted.forget_notices(CHANNEL) == 2
    assert await restarted.first_notice(CHANNEL, "missing access (50001)") is True
    assert await restarted.first_notice(SECOND_CHANNEL, "missing access (50001)") is False


# --- several at once (imports) ---


async def test_a_batch_with_one_bad_subscription_creates_none_and_names_each_fault(
    subs: Subscriptions, matcher: Matcher, universe: Universe
) -> None:
    good = NewSubscription(CHANNEL, GUILD, ALICE, text="region = Delve")
    bad_filter = NewSubscription(CHANNEL, GUILD, ALICE, text="region = Nowhere Land")
    bad_style = NewSubscription(SECOND_CHANNEL, GUILD, ALICE, text="value >= 1b", style="huge")
    with pytest.raises(InvalidBatch) as raised:
        await subs.create_many([good, bad_filter, bad_style])
    assert [index for index, _ in raised.value.problems] == [1, 2]
    assert isinstance(raised.value.problems[1][1], InvalidOption)
    assert await subs.list_guild(GUILD) == ()
    assert len(matcher) == 0


async def test_a_batch_over_a_channel_limit_creates_none(
    subs: Subscriptions, matcher: Matcher
) -> None:
    await subs.create(CHANNEL, GUILD, ALICE, text="value >= 1b")
    batch = [NewSubscription(CHANNEL, GUILD, ALICE, text=f"value >= {n}b") for n in (2, 3, 4, 5)]
    with pytest.raises(InvalidBatch) as raised:
        await subs.create_many(batch)
    [(index, error)] = raised.value.problems
    assert index == 3
    assert isinstance(error, LimitReached)
    assert len(await subs.list_guild(GUILD)) == 1
    assert len(matcher) == 1


async def test_a_batch_keeps_its_options_paused_state_and_typed_text(
    guilds: GuildSettings, subs: Subscriptions, matcher: Matcher, universe: Universe
) -> None:
    await guilds.set(GUILD, default_max_age=30)
    tree = await parse("region = Delve", universe)
    views = await subs.create_many([
        NewSubscription(CHANNEL, GUILD, ALICE, text="region = delve", tree=tree, style="link",
                        server_defaults=False),
        NewSubscription(SECOND_CHANNEL, GUILD, ALICE, tree=tree, paused=True,
                        pause_reason="paused when exported"),
    ])
    assert [v.options.max_age for v in views] == [None, 30]
    assert views[0].text == "region = delve"
    assert views[0].options.style == "link"
    assert views[1].paused
    assert views[1].pause_reason == "paused when exported"
    assert views[0].id in matcher
    assert views[1].id not in matcher


async def test_a_batch_filter_tree_is_checked_against_the_universe(subs: Subscriptions) -> None:
    with pytest.raises(InvalidBatch) as raised:
        await subs.create_many([NewSubscription(CHANNEL, GUILD, ALICE,
                                                tree=Leaf("region", "eq", 1))])
    assert isinstance(raised.value.problems[0][1], FilterInvalid)
