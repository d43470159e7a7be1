"""Matching cost with 10,000 subscriptions. Run: `python -m bench.match`.

Prints figures; asserts nothing. The subscriptions are a realistic mix (about 60 % entity
watches, 15 % proximity by jumps, 10 % region + value, 10 % capital radar by light years, 5 %
complex trees, a few of them unindexable). The kills are the recorded ones with their
entities and places redrawn, so that the entity ids and systems the subscriptions watch turn
up at a realistic rate: each kill line is re-serialised, and the timing covers parse + enrich
+ match on one core, as in the engine.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.space import space_band
from engine.enrich.universe import Universe
from engine.filters import (
    AllOf,
    AnyOf,
    Leaf,
    Matcher,
    Node,
    Not,
    Subscription,
    Within,
    presets,
)
from engine.model import EnrichedKill, KillmailRejected, parse_killmail

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
SUBSCRIPTIONS = 10_000
KILLS = 5_000
LINEAR_KILLS = 300  # a linear scan of 10,000 predicates is slow: a sample is enough
SEED = 6

# A synthetic New Eden: players in corporations in alliances, ids in the real ranges.
CHARACTERS, CORPORATIONS, ALLIANCES = 60_000, 6_000, 800


class World:
    """Who flies where. Groups are sized by a power law (a few big alliances are in many
    kills); channels watch groups with a milder skew (big groups have more channels, but
    not all of them)."""

    def __init__(self, universe: Universe, rng: random.Random) -> None:
        self.rng = rng
        self.alliances = [99_000_000 + i for i in range(ALLIANCES)]
        self.corporations = [98_000_000 + i for i in range(CORPORATIONS)]
        self.characters = [2_112_000_000 + i for i in range(CHARACTERS)]
        corp_size = [1 / (rank + 1) ** 0.9 for rank in range(CORPORATIONS)]
        self.corp_alliance = {
            c: (self.alliances[min(ALLIANCES - 1, int(ALLIANCES * rng.random() ** 2))]
                if rng.random() < 0.7 else None)
            for c in self.corporations
        }
        members: dict[int, list[int]] = {c: [] for c in self.corporations}
        for character, corporation in zip(
            self.characters, rng.choices(self.corporations, corp_size, k=CHARACTERS),
            strict=True,
        ):
            members[corporation].append(character)
        self.members = {c: m for c, m in members.items() if m}
        active = list(self.members)
        self._active = active
        self._active_cum = list(itertools.accumulate(len(self.members[c]) for c in active))
        alliance_size: dict[int, int] = {}
        for c, m in self.members.items():
            a = self.corp_alliance[c]
            if a is not None:
                alliance_size[a] = alliance_size.get(a, 0) + len(m)
        self.watchable = {
            "corporation": (active, [len(self.members[c]) ** 0.25 for c in active]),
            "alliance": (list(alliance_size), [n ** 0.25 for n in alliance_size.values()]),
            "character": (self.characters, None),
        }
        systems = [s for s in universe.systems() if s.id < 32_000_000]
        self.kspace = [s.id for s in systems if universe.neighbours(s.id)]
        self.nullsec = [s.id for s in systems
                        if universe.neighbours(s.id) and space_band(s) == "nullsec"]
        self.wspace = [s.id for s in systems if space_band(s) == "wormhole"]
        gated = set(self.kspace)
        self.regions = sorted({s.region_id for s in systems if s.id in gated})
        # Kills cluster: a few hundred busy systems take most of them.
        self.hot = rng.sample(self.kspace, 400)

    def watched(self, kind: str) -> int:
        pool, weights = self.watchable[kind]
        return self.rng.choices(pool, weights)[0]

    def corporation(self) -> int:
        return self.rng.choices(self._active, cum_weights=self._active_cum)[0]

    def fleet(self, size: int) -> list[int]:
        """The corporations on the attacking side: one for a small gang, a coalition's
        worth for a big fight."""
        count = 1 if size <= 3 else 2 if size <= 15 else 4 if size <= 100 else 12
        return [self.corporation() for _ in range(count)]

    def pilot(self) -> dict[str, int]:
        return self.member(self.corporation())

    def member(self, corporation: int) -> dict[str, int]:
        party = {"character_id": self.rng.choice(self.members[corporation]),
                 "corporation_id": corporation}
        alliance = self.corp_alliance[corporation]
        if alliance is not None:
            party["alliance_id"] = alliance
        return party

    def system(self) -> int:
        roll = self.rng.random()
        if roll < 0.6:
            return self.rng.choice(self.hot)
        if roll < 0.93:
            return self.rng.choice(self.kspace)
        return self.rng.choice(self.wspace)


def make_kill_lines(world: World, count: int) -> list[bytes]:
    """Recorded kills with new people and places, serialised as fixture lines."""
    records = [orjson.loads(line) for line in FIXTURES.read_bytes().splitlines()]
    records = [r for r in records if r.get("esi") and r["esi"].get("victim")]
    rng = world.rng
    lines = []
    for i in range(count):
        record = rng.choice(records)
        esi = dict(record["esi"])
        victim = {k: v for k, v in esi["victim"].items()
                  if k not in ("character_id", "corporation_id", "alliance_id")}
        if esi["victim"].get("character_id"):
            victim.update(world.pilot())
        else:
            victim["corporation_id"] = esi["victim"].get("corporation_id") or 1000125
        attackers = []
        recorded = esi.get("attackers") or []
        fleet = world.fleet(len(recorded))
        for attacker in recorded:
            attacker = {k: v for k, v in attacker.items()
                        if k not in ("character_id", "corporation_id", "alliance_id")}
            if attacker.get("character_id") or rng.random() < 0.8:  # NPCs stay NPCs mostly
                attacker.update(world.member(rng.choice(fleet)))
            attackers.append(attacker)
        esi.update(victim=victim, attackers=attackers, solar_system_id=world.system(),
                   killmail_id=100_000_000 + i)
        lines.append(orjson.dumps({"killmail_id": 100_000_000 + i, "hash": record.get("hash"),
                                   "esi": esi, "zkb": record.get("zkb")}))
    return lines


def make_subscriptions(world: World, count: int) -> list[Subscription]:
    rng = world.rng
    kinds = ("corporation", "alliance", "character")
    subs: list[Subscription] = []
    radar_bases = rng.sample(world.nullsec, 150)
    for sid in range(1, count + 1):
        roll = rng.random()
        tree: Node
        if roll < 0.60:
            kind = rng.choice(kinds)
            entity = world.watched(kind)
            preset = rng.choice((presets.kills_and_losses, presets.kills, presets.losses))
            tree = preset(kind, entity)  # type: ignore[arg-type]
        elif roll < 0.75:
            home = rng.choice(world.kspace)
            tree = presets.proximity([home], rng.choice((1, 2, 3, 3, 5, 5, 7, 10)),
                                     exclude_alliances=[rng.choice(world.alliances)])
        elif roll < 0.85:
            tree = presets.big_kills(rng.choice((1e8, 5e8, 1e9, 5e9, 1e10)),
                                     region=rng.choice(world.regions))
        elif roll < 0.95:
            tree = presets.capital_radar(rng.choice(radar_bases), rng.choice((5, 6, 7, 8, 10)))
        else:
            tree = _complex(world)
        subs.append(Subscription(sid, f"channel:{sid // 3}", tree))
    return subs


def _complex(world: World) -> Node:
    rng = world.rng
    roll = rng.random()
    if roll < 0.15:
        # No indexable requirement at all: evaluated for every kill.
        return AllOf((Leaf("solo", "eq", True), Leaf("security", "lt", 0),
                      Leaf("hour", "in", tuple(rng.sample(range(24), 4)))))
    if roll < 0.35:
        return AllOf((Leaf("victim.ship_group", "in", presets.FREIGHTER_GROUPS),
                      Leaf("space", "in", ("highsec", "lowsec")),
                      Leaf("value", "gte", rng.choice((1e9, 3e9, 5e9)))))
    if roll < 0.6:
        own = world.watched("alliance")
        return AllOf((
            AnyOf((Leaf("jumps", "within", Within(rng.choice(world.kspace), 3)),
                   Leaf("involved.alliance", "eq", own))),
            Not(Leaf("victim.ship_group", "eq", 29)),
        ))
    friends = tuple({world.watched("alliance") for _ in range(3)})
    return AllOf((
        AnyOf((
            Leaf("attacker.alliance", "in", friends),
            AllOf((Leaf("region", "in", tuple(rng.sample(world.regions, 2))),
                   Leaf("value", "gte", 2_000_000_000))),
        )),
        Not(Leaf("npc", "eq", True)),
        Leaf("victim.ship_group", "ne", 29),
    ))


def _percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return p50, p99, statistics.fmean(ordered) / 1000


def _run(
    lines: list[bytes], enricher: Enricher, match: Callable[[EnrichedKill, float], Any], now: float
) -> tuple[float, list[int], list[int], int]:
    """Kills/s through parse + enrich + match, per-kill times of the whole and of the match
    step alone (ns), and the number of matches."""
    whole: list[int] = []
    step: list[int] = []
    matched = 0
    clock = time.perf_counter_ns
    gc.collect()
    started = time.perf_counter()
    for line in lines:
        begin = clock()
        with contextlib.suppress(KillmailRejected):
            kill = enricher.enrich(parse_killmail(line))
            before = clock()
            found = match(kill, now)
            end = clock()
            step.append(end - before)
            whole.append(end - begin)
            matched += len(found)
    rate = len(lines) / (time.perf_counter() - started)
    return rate, whole, step, matched


def _line(label: str, rate: float, whole: list[int], step: list[int], note: str = "") -> None:
    w50, w99, _ = _percentiles(whole)
    s50, s99, smean = _percentiles(step)
    print(f"{label:<8}{rate:9,.0f} kills/s   per kill p50 {w50:8.1f} µs  p99 {w99:9.1f} µs"
          f"   match step p50 {s50:8.1f} µs  p99 {s99:9.1f} µs  mean {smean:8.1f} µs{note}")


def main() -> None:
    rng = random.Random(SEED)
    universe = Universe.load()
    distances = Distances(universe)
    enricher = Enricher(universe)
    world = World(universe, rng)
    lines = make_kill_lines(world, KILLS)

    tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    subscriptions = make_subscriptions(world, SUBSCRIPTIONS)
    started = time.perf_counter()
    matcher = Matcher(distances)
    for subscription in subscriptions:
        matcher.add(subscription)
    build_s = time.perf_counter() - started
    gc.collect()
    memory_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()

    now = time.time()
    for line in lines[:200]:  # warm the enricher's caches, as a running engine has them
        with contextlib.suppress(KillmailRejected):
            enricher.enrich(parse_killmail(line))

    rate, whole, step, matched = _run(lines, enricher, matcher.match, now)
    linear_rate, linear_whole, linear_step, linear_matched = _run(
        lines[:LINEAR_KILLS], enricher, lambda k, n: matcher.match_linear(k, n), now
    )
    indexed_on_sample = sum(len(matcher.matching(enricher.enrich(parse_killmail(line)), now))
                            for line in lines[:LINEAR_KILLS])
    candidates = statistics.fmean(
        len(matcher.candidates(enricher.enrich(parse_killmail(line)))) for line in lines[:1000]
    )

    print(f"{SUBSCRIPTIONS:,} subscriptions ({matcher.always_evaluated} evaluated for every "
          f"kill), built in {build_s * 1000:.0f} ms, {memory_mb:.1f} MB (tracemalloc)")
    print(f"{KILLS:,} kills from {FIXTURES.name}, entities and places redrawn; "
          f"{matched / KILLS:.2f} matching subscriptions per kill, "
          f"{candidates:.1f} candidates evaluated per kill")
    _line("indexed", rate, whole, step)
    _line("linear", linear_rate, linear_whole, linear_step, f"   ({LINEAR_KILLS} kills)")
    mean = _percentiles(step)[2]
    lmean = _percentiles(linear_step)[2]
    speedup = lmean / mean
    print(f"speed-up of the match step: {speedup:.0f}x (mean), whole pipeline "
          f"{rate / linear_rate:.0f}x; same matches on the linear sample: "
          f"{indexed_on_sample == linear_matched}")
    print(f"targets: >= 10,000 kills/s -> {'met' if rate >= 10_000 else 'MISSED'}; "
          f"speed-up >= 20x -> {'met' if speedup >= 20 else 'MISSED'}; "
          f"<= 50 MB -> {'met' if memory_mb <= 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
