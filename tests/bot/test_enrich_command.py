"""`killwatch enrich FILE`: one JSON object per kill, offline, rejected lines on stderr."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import orjson
import pytest

from bot.cli import main
from bot.config import Settings
from bot.enrich_command import enrich_lines, esi_names, kill_view
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import parse_killmail
from tests.bot.test_cli import REPO, killwatch
from tests.fakes.esi import FakeEsi, load_names

REQUIRED = {
    "killmail_id", "time", "system", "victim", "attackers", "value", "value_source",
    "npc", "solo", "awox", "labels", "points",
}


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(Universe.load())


def _line(data_dir: Path, killmail_id: int, name: str = "killmails.jsonl") -> bytes:
    marker = f'"killmail_id": {killmail_id},'.encode()
    return next(line for line in (data_dir / name).read_bytes().splitlines() if marker in line)


def test_the_command_prints_every_kill_and_reports_rejected_lines(tmp_path):
    result = killwatch("enrich", str(REPO / "tests/data/killmails.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    views = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(views) == 374  # 377 lines, 3 without a killmail body
    assert all(view.keys() >= REQUIRED for view in views)
    keepstar = next(v for v in views if v["killmail_id"] == 131126432)
    assert keepstar["victim"]["ship"]["name"] == "Keepstar"
    assert keepstar["attackers"]["count"] == 3753
    for number in (108, 109, 370):
        assert f"line {number}: rejected: missing_body" in result.stderr


def test_a_missing_file_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["enrich", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_lines_are_reported_and_the_rest_still_printed(enricher, data_dir):
    lines = [
        _line(data_dir, 131126432),
        b"",
        b"{not json",
        (data_dir / "r2z2_900002.json").read_bytes(),  # an R2Z2 envelope, pretty-printed
    ]
    out, err = io.StringIO(), io.StringIO()
    assert enrich_lines(lines, enricher, out, err) == (2, 1)
    printed = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [view["killmail_id"] for view in printed] == [131126432, 103735737]
    assert printed[1]["victim"]["ship"]["name"] == "Astrahus"
    assert printed[1]["system"]["space"] == "wormhole"
    assert err.getvalue().startswith("line 3: rejected: invalid_json")


def test_the_view_of_a_pochven_rorqual(enricher, data_dir):
    kill = enricher.enrich(parse_killmail(_line(data_dir, 72359224, "killmails_pochven.jsonl")))
    view = kill_view(kill, enricher.types)
    assert view["time"] == "2018-09-10T23:09:01Z"
    assert view["system"] == {
        "id": 30000192,
        "name": "Otanuomi",
        "security": -1.0,
        "space": "pochven",
        "wormhole_class": None,
        "constellation": {"id": 20000787, "name": "Krai Perun"},
        "region": {"id": 10000070, "name": "Pochven"},
        "nearest_celestial": None,
    }
    victim = view["victim"]
    # Offline, a player's name is unknown; the NPC corporation's is in the static data.
    assert victim["character"] == {"id": 1260733187, "name": None}
    assert victim["corporation"] == {"id": 1000111, "name": "Aliastra"}
    assert (victim["alliance"], victim["faction"]) == (None, None)
    assert victim["ship"] == {
        "type_id": 28352,
        "name": "Rorqual",
        "group_id": 883,
        "group": "Capital Industrial Ship",
        "category_id": 6,
        "category": "Ship",
    }
    assert victim["tags"] == ["capital", "mining", "rorqual", "ship"]
    assert victim["ship_class"] == "Rorqual"
    attackers = view["attackers"]
    assert (attackers["count"], attackers["players"], attackers["npcs"]) == (9, 8, 1)
    assert attackers["main_group"] == {
        "corporation": {"id": 98569141, "name": None},
        "alliance": None,
        "ship_group": {"id": 898, "name": "Black Ops"},
    }
    final_blow = attackers["final_blow"]
    assert final_blow["ship"]["name"] == "Hel"
    assert final_blow["weapon"] == {"type_id": 40561, "name": "Malleus II"}
    assert final_blow["damage"] == 1084045
    assert attackers["top_damage"] == final_blow
    assert (view["value"], view["value_source"]) == (14823442680.7, "zkb")
    assert (view["npc"], view["solo"], view["awox"]) == (False, False, False)
    assert (view["labels"], view["points"]) == ([], 19)


def test_names_given_from_outside_fill_in_players(enricher, data_dir):
    kill = enricher.enrich(parse_killmail(_line(data_dir, 72359224, "killmails_pochven.jsonl")))
    view = kill_view(kill, enricher.types, names={1260733187: "Rorqual Pilot"})
    assert view["victim"]["character"] == {"id": 1260733187, "name": "Rorqual Pilot"}
    assert view["victim"]["corporation"]["name"] == "Aliastra"  # still known locally
    assert view["attackers"]["final_blow"]["character"]["name"] is None


def test_a_system_and_ship_newer_than_the_static_data_show_ids_with_null_names(
    enricher, data_dir
):
    real = parse_killmail(_line(data_dir, 132588538))
    victim = msgspec.structs.replace(real.victim, ship_type_id=999_999_999)
    newer = msgspec.structs.replace(real, solar_system_id=30_999_999, victim=victim)
    view = kill_view(enricher.enrich(newer), enricher.types)
    assert view["system"]["id"] == 30_999_999
    assert view["system"]["name"] is None
    assert view["system"]["space"] == "unknown"
    assert view["victim"]["ship"]["type_id"] == 999_999_999
    assert view["victim"]["ship"]["name"] is None
    assert view["victim"]["ship_class"] == "Unknown"


async def test_online_player_names_come_from_esi_and_a_bad_id_costs_only_itself():
    known = {i: name for i, (category, name) in load_names().items()
             if category in ("character", "corporation", "alliance")}
    wanted = set(list(known)[:5])
    async with FakeEsi() as esi:
        settings = Settings(esi={"url": esi.url})
        names = await esi_names(settings, {*wanted, 1})  # 1 is nobody: ESI 404s its batch
    assert names == {i: known[i] for i in wanted}
    assert esi.count("names") <= 8  # the batch split to isolate id 1, not one call per id
