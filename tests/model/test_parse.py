"""Ids the store indexes must fit 64 bits: anything else is rejected with a reason."""

from __future__ import annotations

import orjson
import pytest

from engine.model import KillmailRejected, RejectReason, parse_killmail


@pytest.mark.parametrize("where", ["victim", "attacker"])
@pytest.mark.parametrize("value", [2**63, -1])
def test_an_entity_id_beyond_64_bits_is_rejected_not_stored(where, value):
    body = {
        "killmail_id": 1, "killmail_time": "2026-01-01T00:00:00Z", "solar_system_id": 30000142,
        "victim": {"ship_type_id": 587, "character_id": 90000001},
        "attackers": [{"character_id": 90000002, "final_blow": True}],
    }
    party = body["victim"] if where == "victim" else body["attackers"][0]
    party["corporation_id"] = value
    with pytest.raises(KillmailRejected) as rejected:
        parse_killmail(orjson.dumps(body))
    expected = RejectReason.INVALID_VICTIM if where == "victim" else RejectReason.INVALID_ATTACKERS
    assert rejected.value.reason is expected
    assert "corporation_id is out of range" in str(rejected.value)
