"""`killwatch match --filter FILE --kills FILE.jsonl`: matching kill ids, in input order."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bot.cli import main
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import KillmailRejected, parse_killmail
from tests.bot.test_cli import REPO, killwatch

KILLS = REPO / "tests/data/killmails.jsonl"
DELVE = 10000060


@pytest.fixture(scope="module")
def enriched() -> list:
    enricher = Enricher(Universe.load())
    out = []
    for line in KILLS.read_bytes().splitlines():
        try:
            out.append(enricher.enrich(parse_killmail(line)))
        except KillmailRejected:
            continue
    return out


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no config file: defaults

    def run(filter_text: str, kills: Path = KILLS, *extra: str) -> tuple[int, list[str], str]:
        path = tmp_path / "filter.txt"
        path.write_text(filter_text, encoding="utf-8")
        code = main(["match", "--filter", str(path), "--kills", str(kills), *extra])
        out, err = capsys.readouterr()
        return code, out.splitlines(), err

    return run


def test_a_text_filter_prints_the_matching_ids_in_input_order(run, enriched):
    code, lines, _ = run("region = Delve and value >= 100m")
    expected = [str(k.id) for k in enriched
                if k.place.region_id == DELVE and (k.value or 0) >= 1e8]
    assert code == 0
    assert lines == expected
    assert len(expected) > 3


def test_a_json_tree_gives_the_same_answer_as_its_text_form(run):
    tree = {"v": 1, "all": [{"field": "region", "op": "eq", "value": DELVE},
                            {"field": "value", "op": "gte", "value": 1_000_000_000}]}
    from_json = run(orjson.dumps(tree).decode())
    assert from_json[:2] == run("region = Delve and value >= 1b")[:2]
    assert from_json[0] == 0
    assert from_json[1]


def test_a_multi_line_text_filter_reads_as_one(run, enriched):
    text = 'space = highsec\nand victim.ship_group in (Freighter, "Jump Freighter")\n'
    code, lines, _ = run(text)
    assert code == 0
    assert lines == [str(k.id) for k in enriched
                     if k.place.space == "highsec" and "freighter" in k.victim_tags]


def test_an_invalid_json_filter_exits_2_with_the_validation_message(run):
    code, lines, err = run('{"field": "victim.aliance", "op": "eq", "value": 5}')
    assert code == 2
    assert lines == []
    assert "$.field: unknown field `victim.aliance`; did you mean `victim.alliance`?" in err


def test_an_invalid_text_filter_exits_2_pointing_at_the_column(run):
    code, _, err = run("region = Delfe")
    assert code == 2
    assert "no region named `Delfe`; did you mean `Delve`? (column 10)" in err
    assert "region = Delfe\n         ^" in err


def test_entity_names_cannot_be_resolved_offline(run):
    code, _, err = run('victim.alliance = "Goonswarm Federation"')
    assert code == 2
    assert "cannot look up the alliance" in err


def test_r2z2_envelopes_are_read_too(run, tmp_path, data_dir):
    envelope = orjson.loads((data_dir / "r2z2_900002.json").read_bytes())
    kills = tmp_path / "r2z2.jsonl"
    kills.write_bytes(orjson.dumps(envelope) + b"\n")
    code, lines, _ = run(f"system = {envelope['esi']['solar_system_id']}", kills)
    assert (code, lines) == (0, [str(envelope["killmail_id"])])
    assert run("system = Jita", kills)[:2] == (0, [])


def test_age_counts_from_now_or_the_given_time(run, enriched):
    newest = max(enriched, key=lambda k: k.killmail.time)
    at = newest.killmail.time.isoformat()
    assert run("age_minutes <= 0", KILLS, "--now", at)[1] == [str(newest.id)]
    assert run("age_minutes <= 60", KILLS)[1] == []  # the recordings are older than an hour
    assert run("npc", KILLS, "--now", "yesterday")[0] == 2


def test_missing_files_exit_2(run, tmp_path):
    assert run("npc", tmp_path / "none.jsonl")[0] == 2


def test_the_installed_command_works_as_a_subprocess(tmp_path):
    (tmp_path / "supers.txt").write_text("victim.ship_group in (Titan, Supercarrier)")
    result = killwatch("match", "--filter", str(tmp_path / "supers.txt"), "--kills", str(KILLS),
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 19
    assert "131126432" not in result.stdout.split()  # the Keepstar is no supercapital
