"""Which guilds, DMs and owed posts a bot process of the scale-out layout serves."""

from __future__ import annotations

import pytest

from engine.enrich.distances import Distances
from engine.enrich.universe import Universe
from engine.filters import Matcher
from engine.scale.shards import ShardRange, ShardRangeError, outbox_owner
from engine.store.database import Database
from engine.subscriptions import Subscriptions
from tests.scale.support import migrated_postgres

# Discord's rule: shard = (guild_id >> 22) % count.
ON_SHARD = {shard: (1000 + shard) << 22 for shard in range(4)}


def test_a_range_is_read_from_the_command_line():
    assert ShardRange.parse("0-3", 16) == ShardRange(0, 3, 16)
    assert ShardRange.parse("5", 16) == ShardRange(5, 5, 16)
    assert ShardRange.parse(" 2 - 3 ", 4).ids == [2, 3]
    assert ShardRange.parse("0-3", 16).label == "0-3of16"


@pytest.mark.parametrize(("text", "count"), [("3-1", 4), ("0-4", 4), ("x", 4), ("-1", 4),
                                              ("0", 0), ("1,2", 4)])
def test_a_range_that_cannot_be_served_is_refused(text, count):
    with pytest.raises(ShardRangeError):
        ShardRange.parse(text, count)


def test_each_guild_is_held_by_exactly_one_process_and_dms_by_shard_zeros():
    processes = [ShardRange(0, 1, 4), ShardRange(2, 2, 4), ShardRange(3, 3, 4)]
    for shard, guild in ON_SHARD.items():
        assert [p.holds(guild) for p in processes].count(True) == 1
        assert next(p for p in processes if p.holds(guild)).first <= shard
    assert [p.holds(None) for p in processes] == [True, False, False]


def test_owed_posts_belong_to_the_process_of_their_channels_guild():
    guilds = {"channel:1": ON_SHARD[0], "channel:2": ON_SHARD[3], "user:9": None}
    low, high = ShardRange(0, 1, 4), ShardRange(2, 3, 4)
    assert low.owns("channel:1", guilds)
    assert not high.owns("channel:1", guilds)
    assert high.owns("channel:2", guilds)
    assert low.owns("user:9", guilds)
    assert not high.owns("user:9", guilds)
    assert not low.owns("channel:404", guilds)  # no subscription names it
    assert not high.owns("stream:killwatch:kills", guilds)


async def test_the_owner_of_owed_posts_follows_the_stored_subscriptions():
    universe = Universe.load()
    distances = Distances(universe)
    async with migrated_postgres() as url, Database(url) as database:
        facade = Subscriptions(database, Matcher(distances), universe, ranges=distances)
        await facade.create("channel:10", ON_SHARD[0], 1, text="value >= 1b")
        paused = await facade.create("channel:11", ON_SHARD[1], 1, text="value >= 1b")
        await facade.pause(paused.id, guild_id=ON_SHARD[1])
        await facade.create("user:5", None, 5, text="value >= 1b")
        low = await outbox_owner(database, ShardRange(0, 0, 2))
        high = await outbox_owner(database, ShardRange(1, 1, 2))
    assert [low(d) for d in ("channel:10", "channel:11", "user:5")] == [True, False, True]
    # A paused subscription's channel is still its server's: posts owed before the pause.
    assert [high(d) for d in ("channel:10", "channel:11", "user:5")] == [False, True, False]
