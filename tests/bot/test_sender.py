"""The Discord sender against a fake Discord, through a real discord.py client: packing, nonces,
styles, pings and their cooldowns, Discord's refusals, pacing under a burst, battle mode."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import discord
import msgspec
import pytest

from bot.battle_ledger import SavedBattle, StoredBattleLedger
from bot.pacing import RequestBudget
from bot.posts import LINKS_PER_MESSAGE, NONCE_LENGTH, PostOptions, nonce_for
from bot.render import LOSS_COLOUR, Perspective, embed_size, kill_embed, kill_link, pack
from bot.render.battle import shown_count
from bot.sender import DiscordSender
from engine.dispatch.sender import Failed, Gone, Retry, Sent
from engine.model import EnrichedKill
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.repositories import StateRepository
from tests.bot.render_kills import named_kills
from tests.bot.sender_support import (
    ALICE,
    BOB,
    BURST,
    DOOMED,
    EDIT,
    FIGHTS,
    GUILD,
    HIDDEN,
    INTEL,
    KILLS,
    LOCKED,
    MESSAGES,
    NOW,
    PILOTS,
    deliveries,
    embed_dict,
    make_client,
    nonces,
    shown,
)
from tests.fakes.clock import FakeClock
from tests.fakes.discord import FakeDiscord, Limit
from tests.fakes.discord_client import running_bot

FULL, COMPACT, LINK, HERE, ROLE = 1, 2, 3, 4, 5
OPTIONS = {
    FULL: PostOptions("full"),
    COMPACT: PostOptions("compact"),
    LINK: PostOptions("link"),
    HERE: PostOptions("compact", mention="here", cooldown_seconds=60),
    ROLE: PostOptions("full", mention=f"role:{PILOTS}", cooldown_seconds=60),
}


@pytest.fixture(scope="module")
def kills() -> list[EnrichedKill]:
    return sorted(named_kills().values(), key=lambda k: k.id)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    # Discord's 50/s global limit; per-channel windows shortened from 5 s to keep tests fast.
    async with FakeDiscord(
        guilds=[GUILD], message_limit=Limit(5, 0.5), edit_limit=Limit(5, 0.5)
    ) as server:
        yield server


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    async with running_bot(make_client(), fake) as running:
        yield running


def make_sender(client: discord.Client, **options: object) -> DiscordSender:
    settings: dict[str, object] = {
        "retry_delay": 0.05,
        "battle_threshold": 1000,
        "now": lambda: NOW,
        **options,
    }
    return DiscordSender(client, OPTIONS.get, **settings)  # type: ignore[arg-type]


# --- packing and styles ---


async def test_a_backlog_is_packed_into_few_messages_within_discord_limits(fake, client, kills):
    owed = deliveries(kills[:10], subscriptions=(FULL,))
    async with make_sender(client) as sender:
        outcomes = await sender.send(f"channel:{KILLS}", owed)
    expected = [kill_embed(k, style="full", perspective=None, now=NOW) for k in kills[:10]]
    messages = fake.messages(KILLS)
    assert len(messages) == len(pack(expected)) < 10
    assert [e for m in messages for e in m.embeds] == [embed_dict(e) for e in expected]
    for message in messages:
        assert len(message.embeds) <= 10
        assert sum(embed_size(discord.Embed.from_dict(e)) for e in message.embeds) <= 6000
    assert all(isinstance(o, Sent) for o in outcomes)
    assert [o.message_id for o in outcomes] == [m.id for m in messages]
    assert [i for o in outcomes for i in o.entry_ids] == [d.entry_id for d in owed]
    assert [len(o.entry_ids) for o in outcomes] == [len(m.embeds) for m in messages]


async def test_compact_kills_share_one_message_and_links_go_in_the_content(fake, client, kills):
    async with make_sender(client) as sender:
        compact = await sender.send(
            f"channel:{KILLS}", deliveries(kills[:10], subscriptions=(COMPACT,))
        )
        links = await sender.send(
            f"channel:{INTEL}", deliveries(kills[10:22], first=20, subscriptions=(LINK,))
        )
    assert len(compact) == 1
    [packed] = fake.messages(KILLS)
    assert packed.embeds == [
        embed_dict(kill_embed(k, style="compact", perspective=None, now=NOW)) for k in kills[:10]
    ]
    posted = fake.messages(INTEL)
    assert len(posted) == len(links) == 3  # 12 links, 5 to a message
    assert all(not m.embeds and len(m.content) <= 2000 for m in posted)
    assert [line for m in posted for line in m.content.split("\n")] == [
        kill_link(k) for k in kills[10:22]
    ]
    assert max(len(m.content.split("\n")) for m in posted) == LINKS_PER_MESSAGE


async def test_the_richest_style_wins_and_the_colour_follows_the_subscription(
    fake, client, kills
):
    victim = kills[0].killmail.victim.character_id
    assert victim is not None
    watching = {**OPTIONS, 9: PostOptions("link", perspective=Perspective.of("character", victim))}
    async with DiscordSender(client, watching.get, now=lambda: NOW) as sender:
        await sender.send(f"channel:{KILLS}", deliveries(kills[:1], subscriptions=(9, COMPACT)))
        await sender.send(f"channel:{INTEL}", deliveries(kills[1:2], subscriptions=(LINK, FULL)))
    [loss] = fake.messages(KILLS)
    assert loss.embeds[0]["color"] == LOSS_COLOUR  # the watched pilot lost it: red
    assert "fields" not in loss.embeds[0]  # compact beat link
    [full] = fake.messages(INTEL)
    assert full.embeds == [embed_dict(kill_embed(kills[1], style="full", perspective=None,
                                                 now=NOW))]


async def test_unknown_subscriptions_fall_back_to_full_embeds(fake, client, kills):
    async with make_sender(client) as sender:
        [outcome] = await sender.send(
            f"channel:{KILLS}", deliveries(kills[:1], subscriptions=(77,))
        )
    assert isinstance(outcome, Sent)
    assert fake.messages(KILLS)[0].embeds[0]["fields"]


# --- nonces ---


async def test_every_post_carries_a_nonce_of_its_destination_and_first_kill(fake, client, kills):
    async with make_sender(client) as sender:
        await sender.send(f"channel:{KILLS}", deliveries(kills[:3], subscriptions=(COMPACT,)))
        await sender.send(f"user:{ALICE}", deliveries(kills[:3], subscriptions=(COMPACT,)))
    sent = fake.requests_to("POST", MESSAGES)
    assert len(sent) == 2
    assert all(r.json["enforce_nonce"] is True for r in sent)
    assert nonces(fake) == [
        nonce_for(f"channel:{KILLS}", kills[0].id),
        nonce_for(f"user:{ALICE}", kills[0].id),
    ]
    assert len(set(nonces(fake))) == 2  # the same kill, another destination: another nonce
    assert all(len(n) <= NONCE_LENGTH for n in nonces(fake))
    assert fake.dm_messages(ALICE)[0].nonce == nonces(fake)[1]


def test_nonces_are_stable_short_and_distinct():
    assert nonce_for("channel:1", 123) == nonce_for("channel:1", 123)
    assert nonce_for("channel:1", 123) != nonce_for("channel:2", 123)
    assert nonce_for("channel:1", 123) != nonce_for("channel:1", 124)
    assert nonce_for("channel:1", 123, "b") != nonce_for("channel:1", 123)
    assert nonce_for("channel:1", 123).startswith("k123-")
    longest = nonce_for("channel:99999999999999999999", 10**18)
    assert len(longest) == NONCE_LENGTH


async def test_a_send_whose_answer_was_lost_is_retried_and_posts_once(fake, client, kills):
    owed = deliveries(kills[:3], subscriptions=(COMPACT,))
    fake.drop_next_response(KILLS)
    async with make_sender(client) as sender:
        [lost] = await sender.send(f"channel:{KILLS}", owed)
        assert isinstance(lost, Retry)
        assert lost.entry_ids == (1, 2, 3)
        assert lost.after == pytest.approx(0.05)
        assert len(fake.messages(KILLS)) == 1  # Discord made it; the bot never heard
        [again] = await sender.send(f"channel:{KILLS}", owed)
    [message] = fake.messages(KILLS)
    assert again == Sent((1, 2, 3), message.id)
    assert fake.nonce_dedupes == 1
    assert len(set(nonces(fake))) == 1


async def test_a_retry_carrying_more_kills_than_the_lost_message_posts_each_kill_once(
    fake, client, kills
):
    # After a lost answer (or a crash), the retry may take more of the backlog at once.
    fake.drop_next_response(KILLS)
    async with make_sender(client) as sender:
        first = await sender.send(
            f"channel:{KILLS}", deliveries(kills[:2], subscriptions=(COMPACT,))
        )
        assert isinstance(first[0], Retry)
        outcomes = await sender.send(
            f"channel:{KILLS}", deliveries(kills[:5], subscriptions=(COMPACT,))
        )
    old, new = fake.messages(KILLS)
    assert shown(old) == [k.id for k in kills[:2]]
    assert shown(new) == [k.id for k in kills[2:5]]
    assert outcomes == [Sent((1, 2), old.id), Sent((3, 4, 5), new.id)]
    assert fake.nonce_dedupes == 1


# --- pings ---


async def test_a_ping_repeats_only_after_its_cooldown(fake, client, kills):
    clock = FakeClock()
    async with make_sender(client, clock=clock.now, sleep=clock.sleep) as sender:
        for n, kill in enumerate(kills[:3]):
            await sender.send(f"channel:{KILLS}", deliveries([kill], first=n + 1,
                                                             subscriptions=(HERE,)))
            clock.time += 30  # a minute's cooldown: the third kill comes after it
    first, second, third = fake.messages(KILLS)
    assert (first.content, first.pings) == ("@here", frozenset({"here"}))
    assert (second.content, second.pings) == ("", frozenset())
    assert (third.content, third.pings) == ("@here", frozenset({"here"}))
    assert second.allowed_mentions == {"parse": []}
    assert first.allowed_mentions == {"parse": ["everyone"]}


async def test_one_ping_per_backlog_and_only_on_the_message_with_its_kill(fake, client, kills):
    async with make_sender(client) as sender:
        await sender.send(
            f"channel:{KILLS}",
            [
                *deliveries(kills[:3], subscriptions=(LINK,)),
                *deliveries(kills[3:14], first=4, subscriptions=(ROLE,)),
            ],
        )
    links, *embeds = fake.messages(KILLS)
    assert links.pings == frozenset()
    assert not links.embeds
    assert embeds[0].pings == {f"role:{PILOTS}"}
    assert embeds[0].content == f"<@&{PILOTS}>"
    assert all(m.pings == frozenset() for m in embeds[1:])


async def test_names_from_the_data_never_ping(fake, client, kills):
    kill = kills[0]
    victim = kill.killmail.victim
    hostile = {
        **kill.names,
        **{i: "@everyone" for i in (victim.character_id, victim.corporation_id) if i},
        **{a.character_id: f"<@&{PILOTS}> <@{ALICE}> @here" for a in kill.killmail.attackers
           if a.character_id},
    }
    named = msgspec.structs.replace(kill, names=hostile)
    async with make_sender(client) as sender:
        await sender.send(f"channel:{KILLS}", deliveries([named], subscriptions=(FULL,)))
        await sender.send(f"channel:{INTEL}", deliveries([named], subscriptions=(COMPACT, LINK)))
        await sender.send(f"channel:{FIGHTS}", deliveries([named], subscriptions=(ROLE,)))
    full, compact, pinged = (fake.messages(c)[0] for c in (KILLS, INTEL, FIGHTS))
    shown_text = json.dumps(full.embeds, ensure_ascii=False)
    assert "@\u200beveryone" in shown_text  # the name is shown, made inert ...
    assert full.pings == compact.pings == frozenset()  # ... and pings no one
    assert full.allowed_mentions == compact.allowed_mentions == {"parse": []}
    assert pinged.pings == {f"role:{PILOTS}"}  # only the configured ping
    assert pinged.allowed_mentions == {"parse": [], "roles": [PILOTS]}


# --- Discord's refusals ---


async def test_channels_that_refuse_posts_are_gone_with_the_reason(fake, client, kills):
    await fake.delete_channel(DOOMED)
    fake.block_dms(BOB)
    owed = deliveries(kills[:2])
    async with make_sender(client) as sender:
        locked = await sender.send(f"channel:{LOCKED}", owed)
        hidden = await sender.send(f"channel:{HIDDEN}", owed)
        deleted = await sender.send(f"channel:{DOOMED}", owed)
        blocked = await sender.send(f"user:{BOB}", owed)
        status = sender.status()
    assert all(o == [Gone((1, 2), o[0].reason)] for o in (locked, hidden, deleted, blocked))
    assert "50013" in locked[0].reason
    assert "Send Messages" in locked[0].reason
    assert "50001" in hidden[0].reason
    assert "View Channel" in hidden[0].reason
    assert "10003" in deleted[0].reason
    assert "50007" in blocked[0].reason
    assert status.gone == {
        f"channel:{LOCKED}": locked[0].reason,
        f"channel:{HIDDEN}": hidden[0].reason,
        f"channel:{DOOMED}": deleted[0].reason,
        f"user:{BOB}": blocked[0].reason,
    }
    assert len(fake.requests_to("POST", MESSAGES)) == 4  # one refused request each


async def test_a_message_discord_refuses_fails_alone(fake, client, kills):
    fake.fail_next(KILLS, 400, code=50035, times=2)  # the packed message, then the first kill
    async with make_sender(client) as sender:
        outcomes = await sender.send(f"channel:{KILLS}", deliveries(kills[:3],
                                                                   subscriptions=(COMPACT,)))
        status = sender.status()
    first, second = fake.messages(KILLS)
    assert outcomes[0] == Failed((1,), outcomes[0].reason)
    assert "50035" in outcomes[0].reason
    assert outcomes[1:] == [Sent((2,), first.id), Sent((3,), second.id)]
    assert status.failed == 1
    assert fake.invalid_requests == 0


async def test_server_errors_and_long_rate_limits_ask_to_retry(fake, client, kills):
    owed = deliveries(kills[:2], subscriptions=(COMPACT,))
    async with make_sender(client) as sender:
        fake.fail_next(KILLS, 503)
        broken = await sender.send(f"channel:{KILLS}", owed)
        fake.fail_next(KILLS, 429, retry_after=45.0)
        limited = await sender.send(f"channel:{KILLS}", owed)
        status = sender.status()
    assert broken == [Retry((1, 2), 0.05, "Discord server error (503)")]
    # A rate limit is not the posts' fault: the retry uses up none of their attempts.
    assert limited == [Retry((1, 2), 45.0, "rate limited for 45.0 s", counts=False)]
    assert fake.messages(KILLS) == []
    assert status.rate_limited == 1
    assert status.retries == 4


async def test_a_sender_outside_its_context_refuses_to_send(client, kills):
    with pytest.raises(RuntimeError, match="async with"):
        await make_sender(client).send(f"channel:{KILLS}", deliveries(kills[:1]))


# --- pacing ---


async def test_a_burst_over_many_channels_stays_within_the_global_and_channel_limits(
    fake, client, kills
):
    rate = 45.0  # 90% of Discord's 50/s
    per_channel = 7  # one more than a channel's 5 per window, so its bucket is waited on

    async with make_sender(client, global_rate=rate) as sender:

        async def feed(channel: int) -> None:
            # One call at a time per destination, as the dispatcher makes them.
            for n in range(per_channel):
                owed = deliveries(kills[n : n + 1], first=n + 1, subscriptions=(COMPACT,))
                assert isinstance((await sender.send(f"channel:{channel}", owed))[0], Sent)

        started = time.monotonic()
        await asyncio.gather(*(feed(c) for c in BURST))
        elapsed = time.monotonic() - started
        status = sender.status()

    requests = fake.requests_to("POST", MESSAGES)
    assert len(requests) == len(BURST) * per_channel
    print(f"\nburst: {len(requests)} posts in {elapsed:.2f} s, "
          f"{len(requests) / elapsed:.1f}/s of {rate:.0f}/s paced, 429s: {dict(fake.rate_limited)}")
    assert sum(fake.rate_limited.values()) == 0
    assert status.rate_limited == 0
    assert len(requests) / elapsed >= 0.85 * rate  # paced, not throttled
    times = sorted(r.at for r in requests)
    assert max(sum(1 for t in times if s <= t < s + 1.0) for s in times) <= 50


# --- battle mode ---


async def test_a_big_fight_gets_one_live_summary_edited_as_kills_arrive(fake, client, kills):
    fight = kills[:24]
    where = f"channel:{FIGHTS}"
    async with make_sender(
        client, battle_threshold=5, battle_edit_interval=0.2, battle_quiet=0.6
    ) as sender:
        await sender.send(where, deliveries(fight[:3], subscriptions=(COMPACT,)))
        switch = await sender.send(where, deliveries(fight[3:6], first=4,
                                                     subscriptions=(COMPACT,)))
        single, summary = fake.messages(FIGHTS)[1:]
        assert switch == [Sent((4, 5), single.id), Sent((6,), summary.id)]
        assert "Big fight" in summary.content
        assert "**6 ships destroyed**" in summary.embeds[0]["description"]
        for n in range(6, 22, 4):  # kills keep coming, faster than the edits
            folded = await sender.send(where, deliveries(fight[n : n + 4], first=n + 1))
            assert folded == [Sent(tuple(range(n + 1, n + 5)), summary.id)]
            await asyncio.sleep(0.05)
        assert sender.status().battles == (where,)
        await fake.wait_for(
            lambda: "**22 ships destroyed**" in fake.message(summary.id).embeds[0]["description"]
        )
        await fake.wait_for(lambda: "Fight over" in fake.message(summary.id).content, within=3)
        assert sender.status().battles == ()
        after = await sender.send(where, deliveries(fight[22:23], first=23))
        status = sender.status()

    assert len(fake.messages(FIGHTS)) == 4  # the first 3, the next 2, the summary, one after
    assert after == [Sent((23,), fake.messages(FIGHTS)[-1].id)]
    said = [m for m in fake.messages(FIGHTS)
            if "Big fight" in (m.revisions[0].get("content") or "")]
    assert said == [fake.message(summary.id)]  # said once, in the summary's first version
    edits = [r.at for r in fake.requests_to("PATCH", EDIT)]
    assert 2 <= len(edits) <= 5  # 16 kills folded in, coalesced; the closing edit
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(edits))
    assert (status.folded, status.edits) == (17, len(edits))
    assert fake.message(summary.id).pings == frozenset()


async def test_a_new_fight_after_a_quiet_spell_gets_its_own_live_summary(fake, client, kills):
    where = f"channel:{FIGHTS}"
    async with make_sender(
        client, battle_threshold=3, battle_edit_interval=0.1, battle_quiet=0.3
    ) as sender:
        await sender.send(where, deliveries(kills[:4], subscriptions=(COMPACT,)))
        first = fake.messages(FIGHTS)[-1]
        await fake.wait_for(lambda: "Fight over" in fake.message(first.id).content)
        await sender.send(where, deliveries(kills[4:8], first=5, subscriptions=(COMPACT,)))
        second = fake.messages(FIGHTS)[-1]
        assert second.id != first.id
        assert "Big fight" in second.content
        await sender.send(where, deliveries(kills[8:10], first=9))
        await fake.wait_for(
            lambda: "**6 ships destroyed**" in fake.message(second.id).embeds[0]["description"]
        )
        await fake.wait_for(lambda: "Fight over" in fake.message(second.id).content)


async def test_a_channel_lost_while_its_summary_is_live_is_gone_at_the_next_send(
    fake, client, kills
):
    where = f"channel:{FIGHTS}"
    async with make_sender(
        client, battle_threshold=2, battle_edit_interval=0.1, battle_quiet=0.5
    ) as sender:
        await sender.send(where, deliveries(kills[:3], subscriptions=(COMPACT,)))
        folded = await sender.send(where, deliveries(kills[3:5], first=4))
        assert isinstance(folded[0], Sent)  # once an edit shows them
        fake.fail_channel(FIGHTS, 50013)  # lost before the summary's closing edit
        await fake.wait_for(lambda: sender.status().battles == ())
        assert [r.code for r in fake.requests_to("PATCH", EDIT)] == [None, 50013]
        asked = len(fake.requests)
        [gone] = await sender.send(where, deliveries(kills[5:6], first=6))
    assert gone == Gone((6,), gone.reason)
    assert "50013" in gone.reason
    assert len(fake.requests) == asked  # told without asking Discord again


@pytest.fixture
async def ledger(tmp_path) -> AsyncIterator[StoredBattleLedger]:
    url = f"sqlite+aiosqlite:///{tmp_path}/ledger.db"
    await upgrade(url)
    async with Database(url) as database:
        yield StoredBattleLedger(database)


class Killed(BaseException):
    """The process dies here (SIGKILL): nothing after it runs, no handler sees it."""


class DiesAfterSaving:
    """The real ledger, with the process killed right after its `n`-th save (or instead of
    it)."""

    def __init__(self, ledger: StoredBattleLedger, n: int, *, instead: bool = False) -> None:
        self._ledger, self._left, self._instead = ledger, n, instead

    async def load(self) -> dict[str, list[SavedBattle]]:
        return await self._ledger.load()

    async def save(self, destination: str, message_id: int | None, steps: Any,
                   nonce: str | None = None) -> None:
        self._left -= 1
        if self._left == 0 and self._instead:
            raise Killed
        await self._ledger.save(destination, message_id, steps, nonce)
        if self._left == 0:
            raise Killed


def _summary_count(fake: FakeDiscord, message_id: int) -> int | None:
    return shown_count(fake.message(message_id).embeds[0])


async def _fight(sender: DiscordSender, kills: list[EnrichedKill]) -> None:
    """3 kills, then 3 more that start a live summary (threshold 5), the channel's last
    message."""
    where = f"channel:{FIGHTS}"
    await sender.send(where, deliveries(kills[:3], subscriptions=(COMPACT,)))
    await sender.send(where, deliveries(kills[3:6], first=4, subscriptions=(COMPACT,)))


async def test_after_a_restart_kills_the_summary_already_showed_are_not_shown_again(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    fold = deliveries(kills[6:10], first=7)
    options = {"battle_threshold": 5, "battle_edit_interval": 0.05, "battle_quiet": 60}
    async with make_sender(client, ledger=ledger, **options) as first:
        await _fight(first, kills)
        summary = fake.messages(FIGHTS)[-1]
        assert await first.send(where, fold) == [Sent((7, 8, 9, 10), summary.id)]
    # Killed before those answers were recorded: the next run is owed them again.
    messages, edits = len(fake.messages(FIGHTS)), len(fake.requests_to("PATCH", EDIT))
    assert _summary_count(fake, summary.id) == 10
    async with make_sender(client, ledger=ledger, **options) as second:
        again = await second.send(where, fold)
        after = await second.send(where, deliveries(kills[10:11], first=11))
    assert again == [Sent((7, 8, 9, 10), summary.id)]
    assert _summary_count(fake, summary.id) == 10  # not 14
    assert len(fake.requests_to("PATCH", EDIT)) == edits
    assert len(fake.messages(FIGHTS)) == messages + 1  # only the new kill, on its own
    assert after == [Sent((11,), fake.messages(FIGHTS)[-1].id)]
    assert len(fake.requests_to("GET", EDIT)) == 1  # Discord asked once, not per send


async def test_kills_of_a_summary_edit_that_never_happened_are_delivered_after_a_restart(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    fold = deliveries(kills[6:10], first=7)
    options = {"battle_threshold": 5, "battle_edit_interval": 0.05, "battle_quiet": 60}
    # Saves: the summary about to be posted, as posted, then the step of the edit that is
    # about to show 7-10.
    async with make_sender(client, ledger=DiesAfterSaving(ledger, 3), **options) as first:
        await _fight(first, kills)
        summary = fake.messages(FIGHTS)[-1]
        with pytest.raises(Killed):
            await first.send(where, fold)
    assert _summary_count(fake, summary.id) == 6  # the edit never went out
    before = len(fake.messages(FIGHTS))
    async with make_sender(client, ledger=ledger, **options) as second:
        outcomes = await second.send(where, fold)
    posted = fake.messages(FIGHTS)[before:]
    assert posted  # shown nowhere yet: delivered now
    assert sorted(i for o in outcomes for i in o.entry_ids) == [7, 8, 9, 10]
    assert all(isinstance(o, Sent) and o.message_id != summary.id for o in outcomes)
    assert [k for m in posted for k in shown(m)] == [k.id for k in kills[6:10]]
    assert _summary_count(fake, summary.id) == 6


async def test_killed_between_discord_posting_a_summary_and_its_record_nothing_shows_twice(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    options = {"battle_threshold": 5, "battle_edit_interval": 0.05, "battle_quiet": 60}
    # The summary is written down as about to be posted; Discord posts it; killed before
    # the second record (its message id) is written.
    dies = DiesAfterSaving(ledger, 2, instead=True)
    async with make_sender(client, ledger=dies, **options) as first:
        await first.send(where, deliveries(kills[:3], subscriptions=(COMPACT,)))
        with pytest.raises(Killed):
            await first.send(where, deliveries(kills[3:6], first=4, subscriptions=(COMPACT,)))
    summary = fake.messages(FIGHTS)[-1]
    assert _summary_count(fake, summary.id) == 6
    count = len(fake.messages(FIGHTS))
    # The next run is owed the folded kill (6) again, and more of the fight came meanwhile
    # in another order: the summary is not made twice.
    async with make_sender(client, ledger=ledger, **options) as second:
        again = await second.send(where, deliveries(kills[5:6], first=6, subscriptions=(COMPACT,)))
    assert again == [Sent((6,), summary.id)]
    assert len(fake.messages(FIGHTS)) == count
    assert _summary_count(fake, summary.id) == 6


async def test_killed_before_discord_posted_a_summary_its_kills_are_posted_once_after_all(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    options = {"battle_threshold": 5, "battle_edit_interval": 0.05, "battle_quiet": 60}
    dies = DiesAfterSaving(ledger, 1)  # written down as about to be posted; never posted
    async with make_sender(client, ledger=dies, **options) as first:
        await first.send(where, deliveries(kills[:3], subscriptions=(COMPACT,)))
        with pytest.raises(Killed):
            await first.send(where, deliveries(kills[3:6], first=4, subscriptions=(COMPACT,)))
    before = fake.messages(FIGHTS)
    async with make_sender(client, ledger=ledger, **options) as second:
        again = await second.send(where, deliveries(kills[5:6], first=6, subscriptions=(COMPACT,)))
    [posted] = fake.messages(FIGHTS)[len(before):]
    assert again == [Sent((6,), posted.id)]
    assert shown(posted) == [kills[5].id]
    assert all(shown_count(e) is None for m in fake.messages(FIGHTS) for e in m.embeds)


async def test_a_deleted_summary_shows_nothing_so_its_kills_are_delivered_again(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    fold = deliveries(kills[6:8], first=7)
    options = {"battle_threshold": 5, "battle_edit_interval": 0.05, "battle_quiet": 60}
    async with make_sender(client, ledger=ledger, **options) as first:
        await _fight(first, kills)
        summary = fake.messages(FIGHTS)[-1]
        await first.send(where, fold)
    await client.get_partial_messageable(FIGHTS).get_partial_message(summary.id).delete()
    async with make_sender(client, ledger=ledger, **options) as second:
        outcomes = await second.send(where, fold)
    assert [o.message_id for o in outcomes] == [fake.messages(FIGHTS)[-1].id]
    assert shown(fake.messages(FIGHTS)[-1]) == [k.id for k in kills[6:8]]


async def test_the_ledger_keeps_each_summary_for_a_day(ledger):
    wall = [NOW]
    aged = StoredBattleLedger(ledger.database, clock=lambda: wall[0])
    await aged.save("channel:1", None, ((6, (1, 2)),), "b-1")  # about to be posted
    await aged.save("channel:1", 11, ((6, (1, 2)),), "b-1")  # posted: the above is moot
    await aged.save("channel:1", 11, ((6, (1, 2)), (8, (7,))), "b-1")  # the same, edited
    await aged.save("channel:2", None, ((4, (8,)),), "b-2")  # never known to be posted
    wall[0] = NOW + timedelta(hours=12)
    await aged.save("channel:1", 12, ((7, (3,)), (9, (4, 5))))  # the next fight there
    await aged.save("channel:2", 21, ((5, (6,)),))
    async with ledger.database.session() as session, session.begin():
        await StateRepository(session).set("battle:channel:3:31", "not json")
    loaded = await aged.load()
    assert set(loaded) == {"channel:1", "channel:2"}
    assert [b.message_id for b in loaded["channel:1"]] == [11, 12]  # oldest first
    assert [(b.message_id, b.nonce) for b in loaded["channel:2"]] == [(None, "b-2"), (21, None)]
    first, second = loaded["channel:1"]
    assert first.kill_ids == {1, 2, 7}
    assert second.shown_at(8) == {3}
    assert second.shown_at(9) == {3, 4, 5}
    assert second.shown_at(6) == frozenset()
    wall[0] = NOW + timedelta(hours=30)  # a day after the first fight, not the others
    assert [b.message_id for b in (await aged.load())["channel:1"]] == [12]
    async with ledger.database.session() as session:
        left = await StateRepository(session).with_prefix("battle:")
    assert set(left) == {"battle:channel:1:12", "battle:channel:2:21"}  # b-2's day is over


async def test_owed_kills_shown_by_two_summaries_of_an_earlier_run_are_all_recognised(
    fake, client, kills, ledger
):
    where = f"channel:{FIGHTS}"
    options = {"battle_threshold": 3, "battle_edit_interval": 0.05, "battle_quiet": 0.2}
    async with make_sender(client, ledger=ledger, **options) as first:
        await first.send(where, deliveries(kills[:5], subscriptions=(COMPACT,)))
        one = fake.messages(FIGHTS)[-1]
        await fake.wait_for(lambda: "Fight over" in fake.message(one.id).content)
        await first.send(where, deliveries(kills[5:10], first=6, subscriptions=(COMPACT,)))
        two = fake.messages(FIGHTS)[-1]
        assert two.id != one.id
    count = len(fake.messages(FIGHTS))
    async with make_sender(client, ledger=ledger, **options) as second:
        again = await second.send(where, deliveries(kills[3:5], first=4)
                                  + deliveries(kills[8:10], first=9))
    assert again == [Sent((4, 5), one.id), Sent((9, 10), two.id)]
    assert len(fake.messages(FIGHTS)) == count


async def test_the_request_budget_spaces_requests_in_the_order_they_asked():
    clock = FakeClock()
    budget = RequestBudget(10.0, burst=2, clock=clock.now, sleep=clock.sleep)
    started = clock.time
    passed = []
    for _ in range(6):
        await budget.take()
        passed.append(clock.time - started)
    assert passed == pytest.approx([0, 0, 0.1, 0.2, 0.3, 0.4])  # two at once, then 10/s
    assert budget.taken == 6
    clock.time += 60  # idle for a while: the burst is there again, and no more
    resumed = clock.time
    for _ in range(3):
        await budget.take()
    assert clock.time - resumed == pytest.approx(0.1)


async def test_the_request_budget_serves_waiters_in_the_order_they_asked():
    budget = RequestBudget(1000.0)
    order: list[int] = []

    async def request(n: int) -> None:
        await budget.take()
        order.append(n)

    await asyncio.gather(*(request(n) for n in range(20)))
    assert order == list(range(20))
    assert budget.waited > 0
