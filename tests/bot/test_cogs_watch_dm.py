"""/watch presets for a channel and /dm for a member's own DMs, against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.model import EnrichedKill
from tests.bot.cogs_harness import (
    ALICE,
    BOB,
    CAROL,
    ERIN,
    GENERAL,
    GOONS,
    GUILD_ID,
    KILLS,
    OTHER_CHANNEL,
    Killwatch,
    fixture_kills,
    killwatch,
    said,
    text_of,
)
from tests.fakes.discord import Message

CHANNEL = f"channel:{KILLS}"


@pytest.fixture
async def kw(tmp_path: Path) -> AsyncIterator[Killwatch]:
    async with killwatch(tmp_path, dm_limit=2) as running:
        yield running


@pytest.fixture(scope="module")
def kills() -> list[EnrichedKill]:
    from engine.enrich.enricher import Enricher
    from tests.bot.cogs_harness import universe

    enricher = Enricher(universe())
    return [enricher.enrich(k) for k in fixture_kills()]


def private(message: Message) -> str:
    assert message.ephemeral
    assert message.allowed_mentions == {"parse": []}
    assert message.pings == frozenset()
    return text_of(message)


async def watch(kw: Killwatch, preset: str, *, user_id: int = ALICE, channel_id: int | None = KILLS,
                **options: object) -> str:
    return private(await said(kw.fake, f"watch {preset}", user_id=user_id,
                              channel_id=channel_id, options=options))


# --- /watch ---


async def test_watch_bigkills_makes_a_subscription_the_matcher_then_matches(
    kw: Killwatch, kills: list[EnrichedKill]
) -> None:
    reply = await watch(kw, "bigkills", value="10b")
    [view] = await kw.subscriptions.list(CHANNEL)
    assert reply.startswith(f"Subscription **#{view.id}** created for <#{KILLS}>.\n"
                            "Preset **bigkills**: kills worth at least an ISK value")
    assert "```\nvalue >= 10b\n```" in reply
    big = [k for k in kills if (k.value or 0) >= 10e9]
    small = [k for k in kills if k.value is not None and k.value < 10e9]
    assert big
    assert small
    assert all(view.id in kw.matcher.matching(k) for k in big)
    assert not any(view.id in kw.matcher.matching(k) for k in small)


async def test_watch_bigkills_defaults_to_10b_and_takes_a_region(kw: Killwatch) -> None:
    reply = await watch(kw, "bigkills", region="delve", style="compact")
    assert "```\nregion = Delve and value >= 10b\n```" in reply
    assert "style **compact**" in reply


async def test_watch_proximity_radar_ganks_supers_and_entity_each_make_their_filter(
    kw: Killwatch,
) -> None:
    assert "jumps from Jita <= 3" in await watch(kw, "proximity", system="Jita", jumps=3)
    radar = await watch(kw, "radar", system="1DQ1-A", lightyears=6.5,
                        ship_groups="Titan, Supercarrier")
    assert "lightyears from 1DQ1-A <= 6.5 and attacker.ship_group in (Titan, Supercarrier)" in radar
    assert "victim.ship_group in (Freighter, \"Jump Freighter\")" in await watch(kw, "ganks")
    assert "victim.ship_group in (Titan, Supercarrier)" in await watch(kw, "supers")
    entity = await watch(kw, "entity", name="Goonswarm Federation", side="losses")
    assert '```\nvictim.alliance = "Goonswarm Federation"\n```' in entity
    views = await kw.subscriptions.list(CHANNEL)
    assert [v.preset for v in views] == ["proximity", "radar", "ganks", "supers", "entity"]
    assert views[-1].filter["value"] == GOONS


async def test_watch_names_that_resolve_to_nothing_are_refused_with_a_suggestion(
    kw: Killwatch,
) -> None:
    assert await watch(kw, "proximity", system="Jitta") == (
        "There is no solar system named “Jitta”. Did you mean “Jita”?"
    )
    # What the member typed comes back escaped: no markdown, no mention.
    assert await watch(kw, "entity", name="**@everyone**") == (
        "No character, corporation, alliance or faction is named “\\*\\*@\u200beveryone\\*\\*”."
    )
    assert "is not an ISK amount" in await watch(kw, "bigkills", value="plenty")
    assert await kw.subscriptions.list(CHANNEL) == ()


async def test_watch_is_for_managers_and_only_in_servers(kw: Killwatch) -> None:
    refused = await watch(kw, "supers", user_id=BOB)
    assert refused.startswith("You need the **Manage Server** permission or the "
                              "**Killwatch managers** role")
    in_dm = await watch(kw, "supers", user_id=ALICE, channel_id=None)
    assert in_dm.startswith("This command works in a server channel.")
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


async def test_watch_in_another_server_subscribes_only_that_servers_channel(
    kw: Killwatch,
) -> None:
    await watch(kw, "supers", user_id=CAROL, channel_id=OTHER_CHANNEL)
    [view] = await kw.subscriptions.list(f"channel:{OTHER_CHANNEL}")
    assert view.guild_id == kw.fake.guilds[1].id
    assert await kw.subscriptions.list_guild(GUILD_ID) == ()


# --- /dm ---


async def dm(kw: Killwatch, command: str, *, user_id: int = BOB, channel_id: int | None = GENERAL,
             **options: object) -> str:
    return private(await said(kw.fake, f"dm {command}", user_id=user_id, channel_id=channel_id,
                              options=options))


async def test_anyone_subscribes_their_own_dms_from_a_server_or_a_dm(kw: Killwatch) -> None:
    from_server = await dm(kw, "watch supers")
    assert from_server.startswith("Subscription **#1** created for your DMs.")
    from_dm = await dm(kw, "add", channel_id=None, filter="region = Delve", min_value="2b")
    assert from_dm.startswith("Subscription **#2** created for your DMs.")
    views = await kw.subscriptions.list_dms(BOB)
    owners = [(v.destination, v.guild_id, v.owner_id) for v in views]
    assert owners == [(f"user:{BOB}", None, BOB)] * 2
    assert views[1].options.min_value == 2e9
    assert all(v.id in kw.matcher for v in views)


async def test_the_dm_limit_is_enforced_with_its_message(kw: Killwatch) -> None:
    await dm(kw, "watch supers")
    await dm(kw, "watch ganks")
    third = await dm(kw, "add", filter="value >= 1b")
    assert third == ("You already have 2 DM subscriptions, the most allowed is 2. Remove one "
                     "with /dm remove first.")
    assert len(await kw.subscriptions.list_dms(BOB)) == 2


async def test_dm_list_shows_only_the_members_own(kw: Killwatch) -> None:
    await dm(kw, "add", filter="region = Delve")
    await dm(kw, "add", user_id=ERIN, channel_id=OTHER_CHANNEL, filter="region = Catch")
    listing = await dm(kw, "list")
    assert "region = Delve" in listing
    assert "Catch" not in listing
    assert "1 subscription" in listing
    empty = await dm(kw, "list", user_id=ALICE)
    assert "You have no DM subscriptions" in empty


async def test_a_member_cannot_remove_or_pause_anothers_dm_subscription(kw: Killwatch) -> None:
    theirs = await kw.subscriptions.create(f"user:{ERIN}", None, ERIN, text="value >= 1b")
    for command in ("remove", "pause", "resume"):
        reply = await dm(kw, command, id=theirs.id)
        assert reply == (f"Subscription #{theirs.id} is not one of your DM subscriptions; "
                         "/dm list shows yours."), command
    assert theirs.id in kw.matcher
    # Nor through /sub: a DM subscription belongs to no server.
    server = private(await said(kw.fake, "sub remove", user_id=ALICE, channel_id=KILLS,
                                options={"id": theirs.id}))
    assert "is not one of this server's" in server


async def test_own_dm_subscriptions_pause_resume_and_go(kw: Killwatch) -> None:
    await dm(kw, "add", filter="value >= 1b")
    [view] = await kw.subscriptions.list_dms(BOB)
    assert "paused for your DMs" in await dm(kw, "pause", id=view.id)
    assert view.id not in kw.matcher
    assert "resumed for your DMs" in await dm(kw, "resume", channel_id=None, id=view.id)
    assert view.id in kw.matcher
    assert "removed from your DMs" in await dm(kw, "remove", id=view.id)
    assert await kw.subscriptions.list_dms(BOB) == ()
    unknown = await dm(kw, "remove", id=view.id)
    assert unknown == f"There is no subscription #{view.id}; /dm list shows the ids."


async def test_a_bad_dm_filter_shows_the_column(kw: Killwatch) -> None:
    reply = await dm(kw, "add", filter="value >= 1b and spcae = highsec")
    assert reply.startswith("That filter cannot be read at column 17: unknown field")
    assert "```\nvalue >= 1b and spcae = highsec\n" + " " * 16 + "^\n```" in reply
