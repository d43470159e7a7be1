"""Every recorded killmail parses; chosen ones to the exact field."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from engine.model import Item, KillmailRejected, RejectReason, lenient, parse_killmail
from engine.model.parse import _assemble

# The three recorded lines with no ESI body (zKillboard stubs kept by other projects' tests).
NO_BODY = {49132605, 50129206, 130678514}


def test_every_recorded_killmail_parses_except_those_without_a_body(fixture_lines):
    parsed, rejected = [], {}
    for line in fixture_lines:
        try:
            parsed.append(parse_killmail(line))
        except KillmailRejected as exc:
            rejected[orjson.loads(line)["killmail_id"]] = exc.reason
    assert set(rejected) == NO_BODY
    assert set(rejected.values()) == {RejectReason.MISSING_BODY}
    assert len(parsed) == len(fixture_lines) - 3
    assert all(km.time.tzinfo is UTC for km in parsed)


def test_the_typed_and_lenient_paths_agree_on_every_fixture(fixture_lines):
    for line in fixture_lines:
        if orjson.loads(line)["killmail_id"] in NO_BODY:
            continue
        assert parse_killmail(line) == _assemble(lenient.decode(line, None))


def test_a_2008_kill_parses_to_the_exact_fields(fixture_lines):
    line = next(x for x in fixture_lines if b'"killmail_id": 435341,' in x)
    km = parse_killmail(line)
    assert km.killmail_id == 435341
    assert km.hash == "cea7da03d815cbe8d5db3d135ed6f7e3a6ec2e60"
    assert km.time == datetime(2008, 1, 6, 0, 44, tzinfo=UTC)
    assert km.solar_system_id == 30002691
    v = km.victim
    assert (v.ship_type_id, v.character_id, v.corporation_id, v.alliance_id) == (
        644, 985810621, 1172774420, 1685076665
    )
    assert v.damage_taken == 20203
    assert len(v.items) == 14
    assert len(km.attackers) == 4
    fb = km.final_blow
    assert fb is not None
    assert (fb.character_id, fb.ship_type_id, fb.weapon_type_id, fb.damage_done) == (
        834178711, 24692, 3057, 8402
    )
    assert fb.security_status == -10.0
    assert km.zkb is not None
    assert km.zkb.total_value == 1234567.89
    assert km.zkb.points == 12
    assert km.zkb.labels == ("pvp", "loss")
    assert km.zkb.location_id == 50000001
    assert km.url == "https://zkillboard.com/kill/435341/"


def test_the_3753_attacker_keepstar_parses_whole(fixture_lines):
    line = next(x for x in fixture_lines if b'"killmail_id": 131126432,' in x)
    km = parse_killmail(line)
    assert km.victim.ship_type_id == 35834  # Keepstar
    assert km.victim.character_id is None
    assert km.victim.damage_taken == 104481577
    assert len(km.attackers) == 3753
    assert sum(a.final_blow for a in km.attackers) == 1
    assert km.final_blow is not None
    assert km.final_blow.character_id == 2117579881
    assert km.final_blow.alliance_id == 1354830081
    assert km.zkb is not None
    assert km.zkb.total_value == 191585667614.45
    assert "isk:100b+" in km.zkb.labels


def test_reserialised_records_are_normalised(fixture_lines):
    line = next(x for x in fixture_lines if b'"killmail_id": 70899859,' in x)
    assert b'"killmail_time": "2018-06-26 05:14:13"' in line
    assert b'"damage_taken": 71255598.0' in line
    km = parse_killmail(line)
    assert km.time == datetime(2018, 6, 26, 5, 14, 13, tzinfo=UTC)
    assert km.victim.ship_type_id == 45006
    assert km.victim.damage_taken == 71255598
    assert type(km.victim.damage_taken) is int
    assert km.zkb is not None
    assert km.zkb.total_value == 362638596.73


def test_items_inside_containers_are_kept(fixture_lines):
    line = next(x for x in fixture_lines if b'"killmail_id": 19123869,' in x)
    km = parse_killmail(line)
    container = next(item for item in km.victim.items if item.items)
    assert container.type_id == 3293
    assert container.items == (Item(32014, 0, 16, 0, 0),)


def test_the_recorded_r2z2_payload_carries_its_sequence(data_dir):
    km = parse_killmail((data_dir / "r2z2_900002.json").read_bytes())
    assert km.killmail_id == 103735737
    assert km.hash == "3fad4d92ffb177409df71562f3d8c41fd47fe917"
    assert km.sequence_id == 900002
    assert km.uploaded_at is not None
    assert km.uploaded_at.tzinfo is UTC


@pytest.mark.parametrize("kill_id", [435341, 131126432])
def test_parsing_twice_gives_equal_immutable_values(fixture_lines, kill_id):
    line = next(x for x in fixture_lines if f'"killmail_id": {kill_id},'.encode() in x)
    a, b = parse_killmail(line), parse_killmail(line)
    assert a == b
    with pytest.raises(AttributeError):
        a.killmail_id = 1  # type: ignore[misc]
