"""The payload shapes the feeds send, and a specific reason for everything that is not one."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.model import KillmailRejected, RejectReason, parse_killmail

R = RejectReason


@pytest.fixture
def r2z2(data_dir) -> dict:
    return orjson.loads((data_dir / "r2z2_900002.json").read_bytes())


def test_a_redisq_package_parses_with_its_zkb_hash(r2z2):
    zkb = dict(r2z2["zkb"], hash=r2z2["hash"])
    reply = {"package": {"killID": r2z2["killmail_id"], "killmail": r2z2["esi"], "zkb": zkb}}
    km = parse_killmail(orjson.dumps(reply))
    assert km.killmail_id == 103735737
    assert km.hash == r2z2["hash"]
    assert km.sequence_id is None
    assert km == parse_killmail(reply["package"]).__class__(**{
        f: getattr(parse_killmail(reply["package"]), f) for f in km.__struct_fields__
    })


def test_a_bare_esi_killmail_takes_its_zkb_separately(r2z2):
    km = parse_killmail(orjson.dumps(r2z2["esi"]), zkb=r2z2["zkb"])
    assert km.killmail_id == 103735737
    assert km.zkb is not None
    assert km.zkb.total_value == r2z2["zkb"]["totalValue"]
    assert km.hash == r2z2["zkb"]["hash"] or km.hash is None


def test_a_bare_esi_killmail_without_zkb_has_none():
    esi = {
        "killmail_id": 5,
        "killmail_time": "2026-01-02T03:04:05Z",
        "solar_system_id": 30000142,
        "victim": {"ship_type_id": 587},
        "attackers": [],
    }
    km = parse_killmail(esi)
    assert (km.killmail_id, km.zkb, km.attackers, km.victim.items) == (5, None, (), ())
    assert km.time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_null_lists_from_reserialisers_become_empty(r2z2):
    messy = copy.deepcopy(r2z2)
    messy["esi"]["victim"]["items"] = None
    messy["zkb"]["labels"] = None
    km = parse_killmail(orjson.dumps(messy))
    assert km.victim.items == ()
    assert km.zkb is not None
    assert km.zkb.labels == ()


def test_a_time_with_an_offset_is_converted_to_utc(r2z2):
    r2z2["esi"]["killmail_time"] = "2026-01-02T05:04:05+02:00"
    assert parse_killmail(r2z2).time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _broken(r2z2: dict, path: tuple, value: object) -> dict:
    data = copy.deepcopy(r2z2)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()

CASES = [
    (("esi", "killmail_time"), _DELETE, R.MISSING_TIME),
    (("esi", "killmail_time"), "yesterday", R.INVALID_TIME),
    (("esi", "killmail_time"), [12], R.INVALID_TIME),
    (("esi", "killmail_time"), "1970-01-01T00:00:12Z", R.INVALID_TIME),
    (("esi", "solar_system_id"), _DELETE, R.MISSING_SYSTEM),
    (("esi", "solar_system_id"), "Jita", R.INVALID_SYSTEM),
    (("esi", "solar_system_id"), -1, R.INVALID_SYSTEM),
    (("esi", "victim"), _DELETE, R.MISSING_VICTIM),
    (("esi", "victim"), [], R.INVALID_VICTIM),
    (("esi", "victim", "ship_type_id"), _DELETE, R.MISSING_VICTIM_SHIP),
    (("esi", "victim", "ship_type_id"), 1.5, R.INVALID_VICTIM),
    (("esi", "attackers"), {"a": 1}, R.INVALID_ATTACKERS),
    (("esi", "attackers", 0, "damage_done"), "lots", R.INVALID_ATTACKERS),
    (("esi", "attackers", 0, "final_blow"), "yes please", R.INVALID_ATTACKERS),
    (("esi", "victim", "items"), "none", R.INVALID_ITEMS),
    (("esi", "victim", "items", 0), 7, R.INVALID_ITEMS),
    (("esi", "killmail_id"), 1, R.ID_MISMATCH),
    (("esi", "killmail_id"), _DELETE, None),  # the envelope's id is enough
    (("killmail_id",), 0, R.INVALID_KILLMAIL_ID),
    (("killmail_id",), 2**70, R.INVALID_KILLMAIL_ID),
    (("hash",), "x" * 65, R.INVALID_HASH),
    (("hash",), 42, R.INVALID_HASH),
    (("zkb",), [1], R.INVALID_ZKB),
    (("zkb", "totalValue"), "a lot", R.INVALID_ZKB),
    (("zkb", "labels"), "pvp", R.INVALID_ZKB),
    (("esi",), None, R.MISSING_BODY),
    (("uploaded_at",), "noon", R.INVALID_ENVELOPE),
]


@pytest.mark.parametrize(("path", "value", "reason"), CASES)
def test_each_broken_field_is_rejected_with_its_reason(r2z2, path, value, reason):
    payload = json.dumps(_broken(r2z2, path, value))
    if reason is None:
        assert parse_killmail(payload).killmail_id == r2z2["killmail_id"]
        return
    with pytest.raises(KillmailRejected) as caught:
        parse_killmail(payload)
    assert caught.value.reason is reason
    assert caught.value.detail


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", R.INVALID_JSON),
        (b'{"killmail_id": 1, "esi": {', R.INVALID_JSON),
        (b"[1, 2]", R.NOT_AN_OBJECT),
        (b"null", R.NOT_AN_OBJECT),
        (b'"text"', R.NOT_AN_OBJECT),
        (b'{"package": null}', R.EMPTY_PACKAGE),
        (b'{"package": {"killID": 5, "zkb": {"href": "https://esi"}}}', R.MISSING_BODY),
        (b'{"package": 3}', R.NOT_AN_OBJECT),
        (b"{}", R.MISSING_KILLMAIL_ID),
        (b'{"killmail_id": 1e999, "esi": {}}', R.INVALID_JSON),
        (b'{"killmail_id": 123456789012345678901234567890, "esi": {}}', R.INVALID_KILLMAIL_ID),
    ],
)
def test_payloads_that_are_not_killmails(payload, reason):
    with pytest.raises(KillmailRejected) as caught:
        parse_killmail(payload)
    assert caught.value.reason is reason


def test_a_truncated_recorded_payload_is_invalid_json(data_dir):
    raw = (data_dir / "r2z2_900002.json").read_bytes()
    for cut in (1, len(raw) // 3, len(raw) // 2, len(raw) - 2):
        with pytest.raises(KillmailRejected) as caught:
            parse_killmail(raw[:cut])
        assert caught.value.reason is R.INVALID_JSON


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)

KEYS = ["killmail_id", "hash", "esi", "zkb", "package", "killID", "killmail", "victim",
        "attackers", "items", "killmail_time", "solar_system_id", "ship_type_id", "labels"]
keyed_objects = st.recursive(
    st.none() | st.integers(-5, 2**64) | st.floats() | st.text(max_size=20) | st.booleans(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_never_escapes_as_anything_but_a_rejection(value):
    with contextlib.suppress(KillmailRejected):
        parse_killmail(json.dumps(value))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(keyed_objects)
def test_random_killmail_shaped_objects_never_crash_the_parser(value):
    for payload in (value, json.dumps(value)):
        with contextlib.suppress(KillmailRejected):
            parse_killmail(payload)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_parser(raw):
    with contextlib.suppress(KillmailRejected):
        parse_killmail(raw)
