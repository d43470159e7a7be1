"""Hostile feed payloads: each one parses to a valid Killmail or is rejected with a reason, and
a real engine fed thousands of them counts every line, stores the valid ones and keeps going.

Payloads come from hypothesis and from mutating the recorded killmails (truncation, wrong types
at random paths, huge arrays, deep nesting, NUL/surrogates/RTL marks, negative and overflowing
numbers, missing and duplicated keys, every payload shape the feeds send). The default run
makes about 11,500; ``KILLWATCH_FUZZ_EXAMPLES=100000`` (``make chaos``) makes ten times more.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import Matcher, Subscription, parse
from engine.model import EnrichedKill, Killmail, KillmailRejected, RejectReason, parse_killmail
from engine.pipeline import Engine
from engine.sources import ReplaySource
from engine.store.database import Database
from engine.store.migrate import upgrade
from engine.store.repositories import KillmailRepository
from engine.store.tables import KillmailRow
from tests.conftest import KILLMAILS
from tests.store.support import fresh_postgres_database

FUZZ_EXAMPLES = int(os.environ.get("KILLWATCH_FUZZ_EXAMPLES", "10000"))
HYPOTHESIS_EXAMPLES = max(100, FUZZ_EXAMPLES // 20)
ENGINE_LINES = max(3000, FUZZ_EXAMPLES // 4)
HYPOTHESIS = settings(
    max_examples=HYPOTHESIS_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ID_MAX = 2**63 - 1
EVE_LAUNCH = datetime(2003, 5, 6, tzinfo=UTC)
REASONS = frozenset(RejectReason)
LINES: tuple[bytes, ...] = tuple(KILLMAILS.read_bytes().splitlines())

HOSTILE: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, ID_MAX, 2**63, 2**64 - 1, 2**64,
    -(2**63), -(2**63) - 1, 10**30, -(10**30), 0.5, -0.0, 1e308, -1e308, 5e-324,
    float("nan"), float("inf"), float("-inf"),
    "", "x", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202egnp.exe", "\u200b", "🚀" * 3,
    "@everyone", "<@&123456789012345678>", "'; DROP TABLE killmails; --", "**bold**",
    "2018-12-15T01:19:06Z", "2018-12-15 01:19:06", "0001-01-01T00:00:00", "9999-12-31T23:59:59Z",
    "2019-01-01T00:00:00+14:00", "not a time", "20181215", "x" * 5000,
    [], {}, [None], [1, 2, 3], ["a", "b"], {"": None}, {"killmail_id": 1}, [[[]]],
)
# Literals spliced over a number in the JSON text.
NUMBERS: tuple[bytes, ...] = (
    b"1e999", b"-1e999", b"-0", b"99999999999999999999999", b"-99999999999999999999999",
    b"1.5", b"-1", b"NaN", b"Infinity", b"0x10", b"1e-999", b"00012", b"18446744073709551615",
    b"9223372036854775808", b"2147483648", b"1E2", b"-",
)
# Bytes spliced into the JSON text at a random point.
SPLICES: tuple[bytes, ...] = (
    b"\x00", b"\xff", b"\xed\xa0\x80", b"\xc3", b'"', b"{", b"}", b"[", b"]", b",", b":",
    b"\\", b"\\u0000", b"\\ud800", b"\\u202e", b"9" * 30, b"-", b"null", b"\t", b" ",
)
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_DEEP = "\x01deep\x01"


# --- what "valid" means ------------------------------------------------------------------


def assert_valid(km: Killmail) -> None:
    """A killmail the rest of the engine can trust, and that the store can write and read back
    (its body is msgspec JSON; ids, system and points fit their columns)."""
    assert isinstance(km, Killmail)
    assert 0 < km.killmail_id <= ID_MAX
    assert km.time.utcoffset() is not None
    assert not km.time.utcoffset()
    assert km.time >= EVE_LAUNCH
    assert 0 < km.solar_system_id < 2**31
    assert 0 < km.victim.ship_type_id <= ID_MAX
    assert km.hash is None or (0 < len(km.hash) <= 64 and "\x00" not in km.hash)
    if km.zkb is not None:
        assert km.zkb.points is None or abs(km.zkb.points) < 2**31
        assert all("\x00" not in label for label in km.zkb.labels)
    for sequence in (km.sequence_id, km.sequence_updated):
        assert sequence is None or 0 <= sequence <= ID_MAX
    body = msgspec.json.encode(km)
    assert msgspec.json.decode(body, type=Killmail) == km


def check(payload: Any, zkb: Any = None) -> str:
    """Parse one payload: "ok", or the rejection's reason. Anything else escapes and fails."""
    try:
        km = parse_killmail(payload, zkb)
    except KillmailRejected as rejected:
        if rejected.reason not in REASONS or not rejected.detail:
            raise AssertionError(f"a rejection without a reason: {rejected!r}") from rejected
        return rejected.reason.value
    assert_valid(km)
    return "ok"


# --- mutating the recorded killmails -------------------------------------------------------


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*path, index))


def _walk(node: Any, rng: random.Random) -> tuple[Any, ...]:
    """A random path into the record: a field, or something deep inside it (often inside the
    victim, where the items are)."""
    path: list[Any] = []
    for key in ("esi", "victim")[: rng.choice((0, 0, 1, 2))]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            break
        path.append(key)
        node = node[key]
    while isinstance(node, dict | list) and node and (not path or rng.random() < 0.75):
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append(key)
        node = node[key]
    return tuple(path)


def _put(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    target = root
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return root


def _drop(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return {}
    target = root
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return root


def _dumps(value: Any, rng: random.Random) -> bytes:
    # Python's encoder writes NaN/Infinity (not JSON) and, without ensure_ascii, lone
    # surrogates as raw bytes that are not UTF-8: both are hostile input worth sending.
    # orjson is much faster, and writes NaN as null; it refuses the rest.
    if rng.random() < 0.7:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:
            pass
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def _deep_text(rng: random.Random) -> bytes:
    depth = rng.choice((20, 100, 300, 600, 1100, 5000, 50_000))
    kind = rng.randrange(3)
    if kind == 0:
        return b"[" * depth + b"]" * depth
    if kind == 1:
        return b'{"a":' * depth + b"1" + b"}" * depth
    # Containers holding containers: the shape the item parser recurses into.
    return (b'{"item_type_id":3,"items":[' * depth + b'{"item_type_id":3}' + b"]}" * depth)


def _huge(rng: random.Random, record: dict[str, Any]) -> Any:
    esi = record.get("esi") or {}
    attackers = esi.get("attackers") if isinstance(esi, dict) else None
    if not isinstance(attackers, list) or not attackers:
        attackers = [{"damage_done": 1, "final_blow": True}]
    # A copy: the record itself must not end up inside its own array.
    attackers = json.loads(json.dumps(attackers, allow_nan=True))
    choice = rng.randrange(4)
    if choice == 0:
        return attackers * (5000 // len(attackers) + 1)
    if choice == 1:
        return [{"item_type_id": 34, "flag": 5, "quantity_dropped": 1}] * 20_000
    if choice == 2:
        return ["label"] * 10_000
    return list(range(50_000))


@dataclass
class Mutator:
    """Payloads made from the recorded killmails, one hostile change (or several) each."""

    rng: random.Random
    made: Counter[str] = field(default_factory=Counter)

    def record(self, killmail_id: int | None = None) -> dict[str, Any]:
        record: dict[str, Any] = orjson.loads(self.rng.choice(LINES))
        if killmail_id is not None:
            record["killmail_id"] = killmail_id
            if isinstance(record.get("esi"), dict):
                record["esi"]["killmail_id"] = killmail_id
        return record

    def payload(self, killmail_id: int | None = None) -> tuple[Any, Any]:
        """(payload, zkb) for `parse_killmail`: bytes, str or a dict, in any feed's shape."""
        record = self.record(killmail_id)
        record = self._mutate(record)
        shape = self.rng.randrange(10)
        zkb: Any = None
        if shape == 0 and isinstance(record, dict):
            # RedisQ: {"package": {killID, killmail, zkb}}, the hash inside zkb.
            zkb_block = record.get("zkb")
            if isinstance(zkb_block, dict):
                zkb_block = {**zkb_block, "hash": record.get("hash")}
            record = {"package": {"killID": record.get("killmail_id"),
                                  "killmail": record.get("esi"), "zkb": zkb_block}}
            self.made["shape:redisq"] += 1
        elif shape == 1 and isinstance(record, dict):
            # A bare ESI killmail, its zkb block given separately (as an object or as JSON).
            zkb = record.get("zkb")
            if zkb is not None and self.rng.random() < 0.5:
                zkb = _dumps(zkb, self.rng)
            record = record.get("esi")
            self.made["shape:bare"] += 1
        else:
            self.made["shape:r2z2"] += 1
        encoding = self.rng.randrange(10)
        if encoding < 3:
            self.made["as:dict"] += 1
            return record, zkb
        raw = self._text(record)
        if encoding == 3:
            self.made["as:str"] += 1
            return raw.decode("utf-8", "surrogateescape"), zkb
        self.made["as:bytes"] += 1
        return raw, zkb

    def line(self, killmail_id: int) -> bytes:
        """One line for a replay file: what a feed could hand the engine, no line breaks."""
        record = self.record(killmail_id)
        if self.rng.random() < 0.35:
            raw = orjson.dumps(record)
        else:
            record = self._mutate(record)
            raw = self._text(record)
        raw = raw.replace(b"\n", b" ").replace(b"\r", b" ").strip()
        return raw or b"{}"

    # -- mutations of the parsed record ---------------------------------------------------

    def _mutate(self, record: Any) -> Any:
        """One change, sometimes a few; a huge array is always the last (its entries are one
        shared object, which a later change would multiply)."""
        for _ in range(1 if self.rng.random() < 0.8 else self.rng.randint(2, 4)):
            op = self.rng.randrange(12)
            record = self._structural(record, op)
            if op == 8:
                break
        return record

    def _structural(self, record: Any, op: int) -> Any:
        if not isinstance(record, dict | list):
            return record
        path = _walk(record, self.rng)
        if op < 5:
            self.made["wrong value"] += 1
            return _put(record, path, copy.deepcopy(self.rng.choice(HOSTILE)))
        if op < 8:
            self.made["missing key"] += 1
            return _drop(record, path)
        if op == 8:
            self.made["huge array"] += 1
            return _put(record, path, _huge(self.rng, record if isinstance(record, dict) else {}))
        if op == 9:
            self.made["deep nesting"] += 1
            return _put(record, path, _DEEP)
        if op == 10:
            self.made["swapped"] += 1
            other = _walk(record, self.rng)
            value: Any = record
            for key in other:
                value = value[key]
            return _put(record, path, json.loads(json.dumps(value)) if other else {})
        self.made["unicode"] += 1
        return _put(record, path, self.rng.choice(("\u202e", "\x00", "\ud800", "🚀", "\ufeff"))
                    * self.rng.randint(1, 3))

    # -- mutations of the JSON text ---------------------------------------------------------

    def _text(self, record: Any) -> bytes:
        raw = _dumps(record, self.rng)
        if b'"\\u0001deep\\u0001"' in raw:
            raw = raw.replace(b'"\\u0001deep\\u0001"', _deep_text(self.rng))
        op = self.rng.randrange(10)
        if op == 0 and raw:
            self.made["truncated"] += 1
            return raw[: self.rng.randrange(len(raw))]
        if op == 1:
            self.made["number"] += 1
            found = _NUMBER.search(raw, self.rng.randrange(len(raw) or 1)) or _NUMBER.search(raw)
            if found:
                return raw[: found.start()] + self.rng.choice(NUMBERS) + raw[found.end():]
        if op == 2 and raw:
            self.made["spliced bytes"] += 1
            at = self.rng.randrange(len(raw))
            return raw[:at] + self.rng.choice(SPLICES) + raw[at + self.rng.randint(0, 1):]
        if op == 3 and raw.startswith(b"{"):
            self.made["duplicated key"] += 1
            key = self.rng.choice((b"killmail_id", b"esi", b"zkb", b"hash", b"sequence_id"))
            value = _dumps(self.rng.choice(HOSTILE), self.rng)
            pair = b'"' + key + b'": ' + value
            if self.rng.random() < 0.5:  # first: the original, later, wins
                return b"{" + pair + (b", " if raw != b"{}" else b"") + raw[1:]
            return raw[:-1] + (b", " if raw != b"{}" else b"") + pair + b"}"
        esi = b'"esi":{' if b'"esi":{' in raw else b'"esi": {'
        if op == 4 and esi in raw:
            self.made["duplicated key"] += 1
            value = _dumps(self.rng.choice(HOSTILE), self.rng)
            return raw.replace(esi, esi + b'"killmail_time": ' + value + b", ", 1)
        return raw


# --- the parser alone ---------------------------------------------------------------------


def test_mutated_recorded_payloads_parse_or_are_rejected_with_a_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    mutator = Mutator(random.Random(20260409))
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for _ in range(FUZZ_EXAMPLES):
        payload, zkb = mutator.payload()
        outcomes[check(payload, zkb)] += 1
    elapsed = time.perf_counter() - started
    assert sum(outcomes.values()) == FUZZ_EXAMPLES
    # The mix is hostile but not hopeless: both outcomes, and many reasons, are exercised.
    assert outcomes["ok"] > FUZZ_EXAMPLES // 20
    assert len(outcomes) > 10
    with capsys.disabled():
        print(f"\nfeed fuzz: {FUZZ_EXAMPLES} mutated payloads in {elapsed:.1f} s (and "
              f"{3 * HYPOTHESIS_EXAMPLES} from hypothesis in the tests below), 0 crashes; "
              f"{outcomes['ok']} valid, rejected by reason: "
              + ", ".join(f"{r} {n}" for r, n in outcomes.most_common() if r != "ok"))
        print("feed fuzz mutations: " + ", ".join(f"{k} {n}" for k, n in mutator.made.items()))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats()
    | st.text(st.characters() | st.sampled_from(("\ud800", "\udfff", "\x00", "\u202e"))),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=40,
)


@HYPOTHESIS
@given(json_values)
def test_arbitrary_json_values_parse_or_are_rejected(value: Any) -> None:
    """Any JSON-ish value, as an object and as text (NaN, surrogates and all)."""
    if isinstance(value, dict):
        check(value)
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    check(text)
    check(text.encode("utf-8", "surrogatepass"))


# By index: the strategy's repr (which hypothesis builds) stays small.
hostile = st.sampled_from(range(len(HOSTILE))).map(lambda i: copy.deepcopy(HOSTILE[i]))


def _scalar() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=70), hostile,
    )


def _or_hostile(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, good, good, _scalar(), st.lists(_scalar(), max_size=3))


ids = st.integers(1, 2**31 - 1)
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from((UTC, None)),
).map(lambda d: d.isoformat())
items = st.recursive(
    st.fixed_dictionaries(
        {"item_type_id": _or_hostile(ids)},
        optional={"flag": _or_hostile(st.integers(0, 200)), "singleton": _or_hostile(ids),
                  "quantity_destroyed": _or_hostile(st.integers(-5, 2**64)),
                  "quantity_dropped": _or_hostile(st.integers(0, 10))},
    ),
    lambda inner: st.fixed_dictionaries(
        {"item_type_id": ids, "items": st.lists(inner, max_size=3)}
    ),
    max_leaves=12,
)
victims = st.fixed_dictionaries(
    {"ship_type_id": _or_hostile(ids)},
    optional={
        "character_id": _or_hostile(ids), "corporation_id": _or_hostile(ids),
        "alliance_id": _or_hostile(ids), "damage_taken": _or_hostile(st.integers(0, 2**64)),
        "items": _or_hostile(st.lists(items, max_size=6)),
        "position": _or_hostile(st.fixed_dictionaries(
            {"x": st.floats(), "y": st.floats(), "z": st.floats()})),
    },
)
attackers = st.fixed_dictionaries(
    {},
    optional={
        "character_id": _or_hostile(ids), "ship_type_id": _or_hostile(ids),
        "final_blow": _or_hostile(st.booleans()), "damage_done": _or_hostile(st.integers()),
        "security_status": _or_hostile(st.floats()),
    },
)
esis = st.fixed_dictionaries(
    {"killmail_id": _or_hostile(ids)},
    optional={
        "killmail_time": _or_hostile(times), "solar_system_id": _or_hostile(ids),
        "victim": _or_hostile(victims), "attackers": _or_hostile(st.lists(attackers, max_size=6)),
        "war_id": _or_hostile(ids), "moon_id": _or_hostile(ids),
    },
)
zkbs = st.fixed_dictionaries(
    {},
    optional={
        "totalValue": _or_hostile(st.floats()), "points": _or_hostile(st.integers()),
        "npc": _or_hostile(st.booleans()), "labels": _or_hostile(st.lists(st.text(max_size=8))),
        "hash": _or_hostile(st.text(min_size=1, max_size=70)),
        "locationID": _or_hostile(ids), "href": _or_hostile(st.text(max_size=20)),
    },
)


@st.composite
def feed_payloads(draw: st.DrawFn) -> tuple[Any, Any]:
    esi, zkb = draw(_or_hostile(esis)), draw(st.none() | _or_hostile(zkbs))
    shape = draw(st.sampled_from(("r2z2", "redisq", "package", "bare")))
    killmail_id = esi.get("killmail_id") if isinstance(esi, dict) else None
    if draw(st.booleans()):  # envelopes that disagree with their body
        killmail_id = draw(_or_hostile(ids))
    if shape == "r2z2":
        payload: Any = {"killmail_id": killmail_id, "hash": draw(_or_hostile(st.text(max_size=70))),
                        "esi": esi, "zkb": zkb,
                        "sequence_id": draw(_or_hostile(st.integers(-5, 2**64))),
                        "uploaded_at": draw(_or_hostile(st.floats() | st.integers()))}
        return payload, None
    if shape in ("redisq", "package"):
        package = {"killID": killmail_id, "killmail": esi, "zkb": zkb}
        return ({"package": package} if shape == "redisq" else package), None
    return esi, zkb


@HYPOTHESIS
@given(feed_payloads(), st.sampled_from(("dict", "bytes", "str")))
def test_feed_shaped_payloads_with_hostile_fields_parse_or_are_rejected(
    drawn: tuple[Any, Any], encoding: str
) -> None:
    payload, zkb = drawn
    if encoding == "dict":
        if isinstance(payload, dict):
            check(payload, zkb)
        return
    text = json.dumps(payload, ensure_ascii=False, allow_nan=True)
    check(text if encoding == "str" else text.encode("utf-8", "surrogatepass"), zkb)


@HYPOTHESIS
@given(st.sampled_from(range(len(LINES))), st.data())
def test_recorded_killmails_with_one_hostile_field_parse_or_are_rejected(
    index: int, data: st.DataObject
) -> None:
    """Hypothesis picks the field and the value, so a failure shrinks to the one that broke."""
    record = orjson.loads(LINES[index])
    path = data.draw(st.sampled_from(list(_paths(record))), label="path")
    if data.draw(st.booleans(), label="delete") and path:
        _drop(record, path)
    else:
        _put(record, path, data.draw(_scalar() | json_values, label="value"))
    check(record)
    check(json.dumps(record, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass"))


# --- the payloads that once escaped the parser, or jammed the store -----------------------


def _fixture(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(LINES[1])
    for dotted, value in changes.items():
        path = tuple(int(k) if k.isdigit() else k for k in dotted.split("__"))
        _put(record, path, value)
    return record


R = RejectReason
REGRESSIONS: list[tuple[str, Any, RejectReason]] = [
    # msgspec raised UnicodeEncodeError / UnicodeDecodeError / RecursionError past the parser.
    ("a str payload with a lone surrogate",
     json.dumps(_fixture(hash="\ud800"), ensure_ascii=False), R.INVALID_JSON),
    ("bytes that are not UTF-8",
     json.dumps(_fixture(hash="\ud800"), ensure_ascii=False).encode("utf-8", "surrogatepass"),
     R.INVALID_JSON),
    ("a dict with a surrogate where a number belongs",
     _fixture(esi__victim__character_id="\ud800"), R.INVALID_VICTIM),
    ("items nested a thousand containers deep",
     orjson.dumps(_fixture()).replace(
         b'"items":[', b'"items":[' + _deep_text(random.Random(5)) + b",", 1),
     R.INVALID_JSON),
]
# Stored as is, these crashed the engine (SQLite) or jammed it retrying (PostgreSQL).
STORE_POISON: list[tuple[str, Any, RejectReason]] = [
    ("zkb points beyond 64 bits", _fixture(zkb__points=2**64 - 1), R.INVALID_ZKB),
    ("zkb points beyond the 32-bit column", _fixture(zkb__points=2**40), R.INVALID_ZKB),
    ("a sequence id beyond 63 bits", _fixture(sequence_id=2**63), R.INVALID_ENVELOPE),
    ("a negative sequence id", _fixture(sequence_id=-1), R.INVALID_ENVELOPE),
    ("a solar system beyond the 32-bit column", _fixture(esi__solar_system_id=2**40),
     R.INVALID_SYSTEM),
    ("a hash with NUL, which PostgreSQL text refuses", _fixture(hash="ab\x00cd"),
     R.INVALID_HASH),
    ("a zkb label with NUL, which PostgreSQL JSONB refuses",
     _fixture(zkb__labels=["loc:highsec", "a\x00b"]), R.INVALID_ZKB),
]
REGRESSIONS += [
    *STORE_POISON,
    # Objects can carry what JSON text cannot; the store could not write them back.
    ("a non-finite security status", _fixture(esi__attackers__0__security_status=float("inf")),
     R.INVALID_ATTACKERS),
    ("a NaN dropped value", _fixture(zkb__droppedValue=float("nan")), R.INVALID_ZKB),
    ("a surrogate in the hash of an object", _fixture(hash="\udfff"), R.INVALID_HASH),
    # OverflowError escaped: converted to UTC, the time is past year 9999 (or before year 1).
    ("a time that overflows in UTC", orjson.dumps(
        _fixture(esi__killmail_time="9999-12-31T23:59:59-01:00")), R.INVALID_TIME),
    ("a time before year 1 in UTC", orjson.dumps(
        _fixture(esi__killmail_time="0001-01-01T00:30:00+01:00")), R.INVALID_TIME),
    # ValueError escaped: str() of an int of more than 4,300 digits, to say it was wrong.
    ("an id of five thousand digits", _fixture(killmail_id=10**5000), R.INVALID_KILLMAIL_ID),
    ("a list holding a huge int where an id belongs",
     _fixture(esi__victim__character_id=[10**5000]), R.INVALID_VICTIM),
    ("a huge int where no column holds it",
     _fixture(esi__victim__damage_taken=10**5000), R.INVALID_ENVELOPE),
]


@pytest.mark.parametrize(("payload", "reason"), [(p, r) for _, p, r in REGRESSIONS],
                         ids=[name for name, _, _ in REGRESSIONS])
def test_payloads_that_once_escaped_or_jammed_are_rejected_with_their_reason(
    payload: Any, reason: RejectReason
) -> None:
    with pytest.raises(KillmailRejected) as rejected:
        parse_killmail(payload)
    assert rejected.value.reason is reason


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kills_the_store_cannot_take_neither_crash_nor_jam_the_engine(
    backend: str, tmp_path: Path, universe: Universe
) -> None:
    """Before the parser refused them, these crashed the store stage (SQLite: an int too big)
    or had it retry for ever, holding every later kill back (PostgreSQL: NUL, 32-bit columns)."""
    good = orjson.loads(LINES[5])
    lines = [orjson.dumps(payload) for _, payload, _ in STORE_POISON] + [LINES[5]]
    path = _write(tmp_path / "poison.jsonl", lines)
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'kw.db'}"
        else:
            url = (await stack.enter_async_context(fresh_postgres_database())).render_as_string(
                hide_password=False)
        await upgrade(url)
        database = await stack.enter_async_context(Database(url))
        engine = Engine(sources=[ReplaySource(path)], enricher=Enricher(universe),
                        database=database, sinks=[], max_age=None, drain_timeout=5)
        async with engine:
            await asyncio.wait_for(engine.wait(), 10)
        async with database.session() as session:
            stored = (await session.scalars(select(KillmailRow.killmail_id))).all()
    assert stored == [good["killmail_id"]]
    assert engine.stats.rejected_total == len(STORE_POISON)
    assert engine.stats.store_retries == 0


def test_items_nested_within_the_limit_still_parse() -> None:
    record = _fixture()
    chain: dict[str, Any] = {"item_type_id": 3}
    for _ in range(15):
        chain = {"item_type_id": 3, "items": [chain]}
    record["esi"]["victim"]["items"] = [chain]
    assert_valid(parse_killmail(orjson.dumps(record)))


# --- a real engine ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def universe() -> Universe:
    return Universe.load()


@dataclass
class RecordingSink:
    kills: list[EnrichedKill] = field(default_factory=list)

    async def deliver(self, kill: EnrichedKill) -> None:
        self.kills.append(kill)


FILTERS = ("value >= 1b", "region = Delve", "jumps from Jita <= 5",
           "attacker.ship_group in (Titan, Supercarrier) or victim.ship_group = Capsule",
           "not npc and attackers >= 10")


async def _matcher(universe: Universe) -> Matcher:
    matcher = Matcher(Distances(universe), clock=lambda: 2.0e9)
    for number, text in enumerate(FILTERS, start=1):
        tree = await parse(text, universe)
        matcher.add(Subscription(number, f"channel:{number}", tree))
    return matcher


@dataclass(frozen=True)
class Expected:
    lines: int
    rejected: Counter[str]
    ids: frozenset[int]
    owed: int


async def _expected(lines: list[bytes], universe: Universe) -> Expected:
    """What the engine must count and store, worked out line by line with the parser."""
    enricher, matcher = Enricher(universe), await _matcher(universe)
    rejected: Counter[str] = Counter()
    seen: set[int] = set()
    owed = 0
    for line in lines:
        try:
            km = parse_killmail(line)
        except KillmailRejected as exc:
            rejected[exc.reason.value] += 1
            continue
        if km.killmail_id not in seen:
            seen.add(km.killmail_id)
            owed += len(matcher.match(enricher.enrich(km)))
    return Expected(len(lines), rejected, frozenset(seen), owed)


@dataclass(frozen=True)
class Run:
    engine: Engine
    sink: RecordingSink
    stored: frozenset[int]
    seconds: float


async def _replay(path: Path, tmp_path: Path, universe: Universe) -> Run:
    url = f"sqlite+aiosqlite:///{tmp_path / path.stem}.db"
    await upgrade(url)
    sink = RecordingSink()
    async with Database(url) as database:
        started = time.perf_counter()
        engine = Engine(
            sources=[ReplaySource(path)], enricher=Enricher(universe), database=database,
            sinks=[sink], matcher=await _matcher(universe), max_age=None, drain_timeout=60,
        )
        async with engine:
            await engine.wait()
        seconds = time.perf_counter() - started
        async with database.session() as session:
            stored = frozenset((await session.scalars(select(KillmailRow.killmail_id))).all())
            assert await KillmailRepository(session).count() == len(stored)
    return Run(engine, sink, stored, seconds)


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines))
    return path


@pytest.fixture
async def runs(
    tmp_path: Path, universe: Universe, caplog: pytest.LogCaptureFixture
) -> tuple[Run, Run, Expected]:
    caplog.set_level(logging.ERROR, logger="engine.pipeline")  # a warning per rejected line
    mutator = Mutator(random.Random(90210))
    # A fresh id for every line, so that valid kills do not collide.
    lines = [mutator.line(100_000 + n) for n in range(ENGINE_LINES)]
    fuzzed = _write(tmp_path / "fuzzed.jsonl", lines)
    records = (mutator.record(100_000 + n) for n in range(ENGINE_LINES * 2))
    valid = [orjson.dumps(record) for record in records if record.get("esi")][:ENGINE_LINES]
    clean = _write(tmp_path / "clean.jsonl", valid)
    expected = await _expected(lines, universe)
    return (await _replay(clean, tmp_path, universe), await _replay(fuzzed, tmp_path, universe),
            expected)


async def test_the_engine_counts_every_fuzzed_line_and_stores_exactly_the_valid_ones(
    runs: tuple[Run, Run, Expected], capsys: pytest.CaptureFixture[str]
) -> None:
    clean, fuzzed, expected = runs
    stats = fuzzed.engine.stats
    assert expected.lines == ENGINE_LINES
    assert 0 < len(expected.ids) < ENGINE_LINES  # some of each
    assert stats.received == ENGINE_LINES
    # Every line is parsed or rejected by the parser, with the parser's own reason: no
    # source_failed, enrich_failed or match_failed, and no line lost.
    assert stats.parsed + stats.rejected_total == ENGINE_LINES
    assert stats.rejected == expected.rejected
    assert set(stats.rejected) <= {reason.value for reason in RejectReason}
    assert fuzzed.stored == expected.ids
    assert stats.stored == len(expected.ids) == len(fuzzed.sink.kills)
    assert stats.duplicates == stats.parsed - stats.stored
    assert stats.owed == expected.owed
    assert (stats.sink_errors, stats.store_retries) == (0, 0)
    assert not fuzzed.engine.status().running

    assert clean.engine.stats.stored == ENGINE_LINES
    clean_rate = ENGINE_LINES / clean.seconds
    fuzzed_rate = ENGINE_LINES / fuzzed.seconds
    with capsys.disabled():
        print(f"\nengine fuzz: {ENGINE_LINES} lines, {stats.parsed} parsed "
              f"({stats.stored} stored, {stats.duplicates} duplicates), "
              f"{stats.rejected_total} rejected; 0 crashes. Throughput: clean "
              f"{clean_rate:,.0f} lines/s, fuzzed {fuzzed_rate:,.0f} lines/s "
              f"({fuzzed_rate / clean_rate:.2f}x)")
