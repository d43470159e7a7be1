"""A kill folded into a live battle summary is answered as sent only once Discord shows it.

Found by the crash harness: the sender used to answer folded kills as sent at once and show
them at the next edit, up to an edit interval later; a crash in between left them sent in the
outbox and shown nowhere. These pin the order down without a crash: when `send` returns Sent,
the summary already counts the kills; when Discord refuses the edit, they are not Sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from bot.posts import PostOptions
from bot.sender import DiscordSender
from engine.dispatch.sender import Failed, Retry, Sent
from engine.model import EnrichedKill
from tests.bot.render_kills import named_kills
from tests.bot.sender_support import EDIT, FIGHTS, GUILD, NOW, deliveries, make_client
from tests.fakes.discord import FakeDiscord, Limit
from tests.fakes.discord_client import running_bot

WHERE = f"channel:{FIGHTS}"


@pytest.fixture(scope="module")
def kills() -> list[EnrichedKill]:
    return sorted(named_kills().values(), key=lambda k: k.id)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(
        guilds=[GUILD], message_limit=Limit(5, 0.5), edit_limit=Limit(5, 0.5)
    ) as server:
        yield server


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    async with running_bot(make_client(), fake) as running:
        yield running


def _sender(client: discord.Client) -> DiscordSender:
    return DiscordSender(
        client, lambda _: PostOptions("compact"), retry_delay=0.05, now=lambda: NOW,
        battle_threshold=2, battle_edit_interval=0.3, battle_quiet=30,
    )


def _count(fake: FakeDiscord, message_id: int) -> str:
    return str(fake.message(message_id).embeds[0]["description"]).split("**")[1]


async def test_a_folded_kill_is_answered_sent_only_once_the_summary_shows_it(
    fake, client, kills
):
    async with _sender(client) as sender:
        opened = await sender.send(WHERE, deliveries(kills[:3]))
        summary = opened[-1]
        assert isinstance(summary, Sent)
        assert _count(fake, summary.message_id or 0) == "3 ships destroyed"
        for first in (4, 6):  # sooner than the edit interval: each waits for its edit
            folded = await sender.send(WHERE, deliveries(kills[first - 1 : first + 1],
                                                         first=first))
            assert folded == [Sent((first, first + 1), summary.message_id)]
            assert _count(fake, summary.message_id or 0) == f"{first + 1} ships destroyed"
    edits = fake.requests_to("PATCH", EDIT)
    assert len(edits) == 2
    assert edits[1].at - edits[0].at >= 0.29  # still at most one edit per interval


async def test_folded_kills_are_not_sent_when_discord_refuses_the_summary_edit(
    fake, client, kills
):
    async with _sender(client) as sender:
        summary = (await sender.send(WHERE, deliveries(kills[:3])))[-1]
        fake.fail_next(FIGHTS, 400, code=50035)
        refused = await sender.send(WHERE, deliveries(kills[3:5], first=4))
        assert refused == [Failed((4, 5), refused[0].reason)]
        assert sender.status().folded == 1  # only the kill the summary was posted with
    assert _count(fake, summary.message_id or 0) == "3 ships destroyed"


async def test_kills_folded_into_a_deleted_summary_stay_owed_and_go_into_a_new_one(
    fake, client, kills
):
    async with _sender(client) as sender:
        summary = (await sender.send(WHERE, deliveries(kills[:3])))[-1]
        fake.message(summary.message_id or 0).deleted = True  # a moderator removed it
        owed = deliveries(kills[3:5], first=4)
        again = await sender.send(WHERE, owed)
        assert again == [Retry((4, 5), 0.0, again[0].error)]
        posted = await sender.send(WHERE, owed)  # the dispatcher's retry
    [new] = [m for m in fake.messages(FIGHTS) if m.id != summary.message_id and m.embeds
             and "ships destroyed" in str(m.embeds[0].get("description"))]
    assert posted == [Sent((4, 5), new.id)]
    assert _count(fake, new.id) == "5 ships destroyed"
