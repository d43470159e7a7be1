from __future__ import annotations

import pytest

from engine.dispatch.text import format_isk, kill_line
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.model import parse_killmail


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "? ISK"),
        (0, "0 ISK"),
        (999, "999 ISK"),
        (1_000, "1.00k ISK"),
        (1_234, "1.23k ISK"),
        (999_999, "1.00m ISK"),
        (82_600_000, "82.6m ISK"),
        (248_000_000, "248m ISK"),
        (1_500_000_000, "1.50b ISK"),
        (191_585_667_614.45, "192b ISK"),
        (2.5e12, "2.50t ISK"),
    ],
)
def test_isk_is_written_the_way_players_write_it(value, text):
    assert format_isk(value) == text


def test_a_kill_prints_as_one_line_with_everything_a_player_looks_for(fixture_lines):
    enricher = Enricher(Universe.load())
    line = next(x for x in fixture_lines if b'"killmail_id": 435341,' in x)
    text = kill_line(enricher.enrich(parse_killmail(line)))
    assert "\n" not in text
    assert text == (
        "2008-01-06 00:44:00  Crielere (0.4) Sinq Laison  |  Typhoon (#985810621, "
        "#1172774420 / #1685076665)  |  1.23m ISK  |  4 attackers, final blow #834178711 "
        "(Abaddon)  |  https://zkillboard.com/kill/435341/"
    )


def test_npc_corporations_and_factions_are_named_from_static_data(fixture_lines):
    enricher = Enricher(Universe.load())
    kills = [enricher.enrich(parse_killmail(x)) for x in fixture_lines[:200]
             if b'"esi": null' not in x]
    named = [k for k in kills if k.names]
    assert named, "some recorded kills involve NPC corporations or factions"
    for kill in named:
        for name in kill.names.values():
            assert not name.startswith("#")
