"""The indexed matcher returns exactly what running every predicate on every kill returns."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.filters import Match, Matcher, Subscription, parse, validate
from engine.filters.compile import compile_tree
from tests.filters.conftest import NOW
from tests.filters.strategies import Pools, trees
from tests.filters.support import FakeEntities, evaluate

GOONS = 1354830081
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                          HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def pools(kills, universe) -> Pools:
    return Pools.from_kills(kills.values(), universe)


def tree_of(text: str, universe):
    return asyncio.run(parse(text, universe, FakeEntities({})))


def brute_force(subscriptions, kill, distances, now=NOW) -> list[int]:
    return sorted(s.id for s in subscriptions if compile_tree(s.tree, distances)(kill, now))


def test_compiled_predicates_agree_with_a_plain_interpreter(universe, distances, kills, pools):
    @SETTINGS
    @given(trees(pools))
    def agree(tree):
        canonical = validate(tree, universe)
        predicate = compile_tree(canonical, distances)
        for kill in kills.values():
            assert predicate(kill, NOW) == evaluate(canonical, kill, NOW, distances)

    agree()


def test_indexed_matching_equals_evaluating_every_subscription(
    universe, distances, kills, pools
):
    @settings(SETTINGS, max_examples=60)
    @given(st.lists(trees(pools), min_size=1, max_size=15))
    def same(tree_list):
        subscriptions = [
            Subscription(i, f"channel:{i % 4}", validate(t, universe))
            for i, t in enumerate(tree_list, start=1)
        ]
        matcher = Matcher(distances)
        for s in subscriptions:
            matcher.add(s)
        predicates = {s.id: compile_tree(s.tree, distances) for s in subscriptions}
        for kill in kills.values():
            expected = [sid for sid in sorted(predicates) if predicates[sid](kill, NOW)]
            assert matcher.matching(kill, NOW) == expected
            assert set(expected) <= matcher.candidates(kill)

    same()


def test_incremental_add_replace_and_remove_stay_exact(universe, distances, kills, pools):
    @settings(SETTINGS, max_examples=30)
    @given(st.lists(trees(pools), min_size=6, max_size=12), st.data())
    def steps(tree_list, data):
        matcher = Matcher(distances)
        live: dict[int, Subscription] = {}
        for i, t in enumerate(tree_list, start=1):
            live[i] = Subscription(i, f"user:{i}", validate(t, universe))
            matcher.add(live[i])
        # Replace a few filters in place, remove a few subscriptions.
        for sid in data.draw(st.lists(st.sampled_from(sorted(live)), max_size=3, unique=True)):
            live[sid] = Subscription(sid, "channel:9",
                                     validate(data.draw(trees(pools)), universe))
            matcher.update(live[sid])
        for sid in data.draw(st.lists(st.sampled_from(sorted(live)), max_size=3, unique=True)):
            assert matcher.remove(sid)
            del live[sid]
        assert len(matcher) == len(live)
        for kill in kills.values():
            assert matcher.matching(kill, NOW) == brute_force(live.values(), kill, distances)
        for sid in list(live):
            matcher.remove(sid)
        assert all(matcher.candidates(kill) == set() for kill in kills.values())
        assert matcher.always_evaluated == 0

    steps()


def test_a_kill_posts_once_per_destination_naming_every_matching_subscription(
    universe, distances, kills
):
    matcher = Matcher(distances)
    matcher.add(Subscription(7, "channel:1", tree_of(f"involved.alliance = {GOONS}", universe)))
    matcher.add(Subscription(3, "channel:1", tree_of("region = Delve", universe)))
    matcher.add(Subscription(5, "user:2", tree_of("value >= 100m", universe)))
    matcher.add(Subscription(9, "channel:1", tree_of("space = highsec", universe)))
    both = next(k for k in kills.values()
                if k.place.region_name == "Delve" and GOONS in k.attacker_ids.alliances
                and (k.value or 0) >= 1e8)
    assert matcher.match(both, NOW) == [Match("channel:1", (3, 7)), Match("user:2", (5,))]


def test_nothing_matches_when_no_subscription_wants_the_kill(universe, distances, kills):
    matcher = Matcher(distances)
    matcher.add(Subscription(1, "channel:1", tree_of("system = Jita", universe)))
    outside = next(k for k in kills.values() if k.place.system_id != 30000142)
    assert matcher.match(outside, NOW) == []


def test_indexed_subscriptions_are_only_candidates_for_kills_with_their_keys(
    universe, distances, kills
):
    matcher = Matcher(distances)
    matcher.add(Subscription(1, "c", tree_of(f"attacker.alliance = {GOONS} and value >= 1b",
                                              universe)))
    matcher.add(Subscription(2, "c", tree_of("jumps from 1DQ1-A <= 2", universe)))
    matcher.add(Subscription(3, "c", tree_of("value >= 10b", universe)))
    assert matcher.always_evaluated == 0
    for kill in kills.values():
        candidates = matcher.candidates(kill)
        # Filed under the alliance, guarded by the value: both must hold.
        assert (1 in candidates) == (GOONS in kill.attacker_ids.alliances
                                     and (kill.value or 0) >= 1e9)
        assert (2 in candidates) == (distances.jumps(30004759, kill.place.system_id)
                                     in (0, 1, 2))
        assert (3 in candidates) == ((kill.value or 0) >= 1e10)


def test_filters_without_an_indexable_requirement_are_evaluated_for_every_kill(
    universe, distances, kills
):
    matcher = Matcher(distances)
    for sid, text in enumerate(["security < 0", f"victim.alliance != {GOONS}",
                                "region = Delve or attackers > 5", "value < 1m"], start=1):
        matcher.add(Subscription(sid, "c", tree_of(text, universe)))
    # Indexable after all: a negated exclusion (not (x not in V) is x in V), the flags,
    # and the hour, whose 24 values are keys.
    for sid, text in enumerate([f"not victim.alliance not in ({GOONS})", "not npc",
                                "solo", "not hour between 2 and 22"], start=11):
        matcher.add(Subscription(sid, "c", tree_of(text, universe)))
    assert matcher.always_evaluated == 4
    kill = next(iter(kills.values()))
    assert {1, 2, 3, 4} <= matcher.candidates(kill)
    for kill in kills.values():
        candidates = matcher.candidates(kill)
        assert (12 in candidates) == (not kill.npc)
        assert (13 in candidates) == kill.solo
        assert (14 in candidates) == (kill.killmail.time.hour in (0, 1, 23))


def test_age_uses_the_given_now_or_the_clock(universe, distances, kills):
    newest = max(kills.values(), key=lambda k: k.killmail.time)
    born = newest.killmail.time.timestamp()
    matcher = Matcher(distances, clock=lambda: born + 30 * 60)
    matcher.add(Subscription(1, "c", tree_of("age_minutes <= 60", universe)))
    assert matcher.matching(newest) == [1]
    assert matcher.matching(newest, now=born + 61 * 60) == []


def test_removing_an_unknown_subscription_says_so(distances):
    assert Matcher(distances).remove(42) is False
