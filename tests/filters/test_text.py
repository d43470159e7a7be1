"""The text form: the issue's examples, column-pointing errors, names, and round trips."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.filters import (
    AllOf,
    FilterSyntaxError,
    Leaf,
    Not,
    Within,
    parse,
    render,
    to_json,
    validate,
)
from engine.filters.text import build, parse_syntax
from tests.filters.strategies import TRICKY_NAMES, Pools, trees
from tests.filters.support import FakeEntities

GOONS = 1354830081
ONE_DQ, JITA = 30004759, 30000142
ENTITIES = FakeEntities({"Goonswarm Federation": [("alliance", GOONS)],
                         "Some Pilot": [("character", 90000001), ("corporation", 98000001)]})


def read(text: str, universe, entities=ENTITIES):
    return asyncio.run(parse(text, universe, entities))


def syntax_error(text: str, universe, entities=ENTITIES) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as caught:
        read(text, universe, entities)
    return caught.value


def test_the_issue_examples_parse_to_trees_of_ids(universe):
    assert read('victim.alliance in ("Goonswarm Federation", 1354830081) and value >= 1b '
                "and not npc", universe) == AllOf((
                    Leaf("victim.alliance", "in", (GOONS,)),
                    Leaf("value", "gte", 1_000_000_000),
                    Not(Leaf("npc", "eq", True)),
                ))
    assert read("attacker.ship_group in (Titan, Supercarrier) and lightyears from 1DQ1-A <= 7",
                universe) == AllOf((
                    Leaf("attacker.ship_group", "in", (30, 659)),
                    Leaf("lightyears", "within", Within(ONE_DQ, 7)),
                ))
    assert read("region = Delve and jumps from 1DQ1-A <= 5", universe) == AllOf((
        Leaf("region", "eq", 10000060), Leaf("jumps", "within", Within(ONE_DQ, 5)),
    ))


@pytest.mark.parametrize(
    ("text", "value"),
    [("value >= 1.5b", 1_500_000_000), ("value >= 250m", 250_000_000),
     ("value >= 2t", 2_000_000_000_000), ("value >= 10K", 10_000),
     ("value >= 1_000_000", 1_000_000), ("value >= 1234.5", 1234.5),
     ("value >= 1.2345k", 1234.5)],
)
def test_numbers_take_k_m_b_t_suffixes_exactly(text, value, universe):
    leaf = read(text, universe)
    assert leaf.value == value
    assert type(leaf.value) is type(value)


def test_and_binds_tighter_than_or_and_parentheses_group(universe):
    plain = read("npc or solo and awox", universe)
    grouped = read("(npc or solo) and awox", universe)
    assert to_json(plain)["any"][1] == {"all": [
        {"field": "solo", "op": "eq", "value": True},
        {"field": "awox", "op": "eq", "value": True}]}
    assert to_json(grouped)["all"][1] == {"field": "awox", "op": "eq", "value": True}


def test_multi_word_names_need_no_quotes_and_keywords_are_case_insensitive(universe):
    assert read("region = The Forge AND system In (Jita, Perimeter)", universe) == AllOf((
        Leaf("region", "eq", 10000002), Leaf("system", "in", (JITA, 30000144)),
    ))
    assert read("victim.faction = Sansha's Nation", universe) == Leaf(
        "victim.faction", "eq", 500019
    )


def test_word_ops_and_symbol_ops_are_the_same(universe):
    assert read("value gte 1b", universe) == read("value >= 1b", universe)
    assert read("space ne highsec", universe) == read("space != highsec", universe)
    assert read("tags contains_any (pod)", universe) == read(
        "tags contains any (pod)", universe)
    assert read("victim.alliance not_in (1)", universe) == read(
        "victim.alliance not in (1)", universe)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("victim.aliance = 5", 1,
         "unknown field `victim.aliance`; did you mean `victim.alliance`?"),
        ("value >= 1x", 10, "`value` takes a number (like 5, 2.5 or 1.5b), found `1x`"),
        ("region = Delfe", 10, "no region named `Delfe`; did you mean `Delve`?"),
        ("system = Jita and", 18, "expected a field, found the end of the filter"),
        ("npc and (solo or awox", 22, "expected `)`, found the end of the filter"),
        ("value >= 1b value < 2b", 13, "expected `and`, `or` or the end, found `value`"),
        ('region = "Delve', 10, 'this "quoted" name is never closed'),
        ("victim.alliance contains 5", 17,
         "`victim.alliance` does not take `contains`; it takes =, !=, in, not in"),
        ("jumps from Jita <= 99", 20,
         "99 is out of range for `jumps`; use a value from 0 to 50"),
        ("jumps from Jita > 5", 17, "expected `<=` after the system, found `>`"),
        ("npc = 1", 7, "`npc` is true or false, found `1`"),
        ("value between 1b 2b", 18, "expected `and` in `between … and …`, found `2b`"),
        ("system = Jita region = Delve", 22, "expected `and`, `or` or the end, found `=`"),
        ("system in (Jita, Amarr", 23, "expected `,` or `)` in the list, found the end"),
        ("space = hisec", 9, "unknown space 'hisec'; did you mean `highsec`?"),
        ("victim.alliance = Goons", 19,
         "no alliance named `Goons`; check the exact spelling, or use the id"),
        ("value ! 5", 7, "`!` must be followed by `=`"),
    ],
)
def test_errors_point_at_the_column(text, column, message, universe):
    error = syntax_error(text, universe)
    assert error.column == column
    assert str(error).startswith(message)
    line, caret = error.caret.splitlines()
    assert line == text
    assert caret == " " * (column - 1) + "^"


def test_the_error_message_shows_the_text_and_a_caret(universe):
    assert str(syntax_error("region = Delfe", universe)) == (
        "no region named `Delfe`; did you mean `Delve`? (column 10)\n"
        "region = Delfe\n"
        "         ^"
    )


def test_entity_names_need_the_lookup_but_npc_corporations_resolve_offline(universe):
    error = syntax_error('victim.alliance = "Goonswarm Federation"', universe, entities=None)
    assert "cannot look up the alliance" in str(error)
    assert error.column == 19
    assert read('attacker.corporation = "Caldari Navy"', universe, None) == Leaf(
        "attacker.corporation", "eq", 1000035)


def test_the_lookup_is_asked_once_for_every_entity_name_and_picks_the_right_category(
    universe,
):
    entities = FakeEntities({"Some Pilot": [("characters", 90000001),
                                            ("corporations", 98000001)]})
    tree = read('victim.character = "Some Pilot" and attacker.corporation in ("some pilot", 5)'
                " and region = Delve", universe, entities)
    assert tree == AllOf((
        Leaf("victim.character", "eq", 90000001),
        Leaf("attacker.corporation", "in", (98000001, 5)),
        Leaf("region", "eq", 10000060),
    ))
    assert entities.calls == [["Some Pilot"]]


def test_two_phase_parsing_lists_names_before_any_lookup(universe):
    syntax = parse_syntax('involved.alliance in ("Goonswarm Federation", 99005338, Test) '
                          "and system = Jita")
    assert syntax.entity_names() == ["Goonswarm Federation", "Test"]
    tree = build(syntax, universe, {"goonswarm federation": [("alliance", GOONS)],
                                    "test": [("alliance", 498125261)]})
    assert tree == AllOf((Leaf("involved.alliance", "in", (GOONS, 99005338, 498125261)),
                          Leaf("system", "eq", JITA)))


def test_rendering_prints_names_and_quotes_when_needed(universe):
    tree = read('victim.alliance in ("Goonswarm Federation", 5) and region = "The Forge" '
                "and (system = 1DQ1-A or value between 1.5b and 2b) and not npc "
                "and labels contains \"#:5+\"", universe)
    assert render(tree, universe, {GOONS: "Goonswarm Federation"}) == (
        'victim.alliance in ("Goonswarm Federation", 5) and region = "The Forge" '
        "and (system = 1DQ1-A or value between 1.5b and 2b) and not npc "
        'and labels contains "#:5+"'
    )


def test_an_id_whose_name_is_shared_renders_as_the_id(universe):
    # Two types are called "Capsule"; the id that the name does not lead back to stays a number.
    capsules = [t for t in (670, 33328) if universe.type(t) is not None]
    assert universe.find_type("Capsule").id == 670
    tree = validate(Leaf("victim.ship_type", "in", tuple(capsules)), universe)
    text = render(tree, universe)
    assert text.startswith("victim.ship_type in (Capsule")
    assert read(text, universe) == tree


def test_round_trip_of_a_preset_like_tree(universe):
    tree = read("lightyears from 1DQ1-A <= 7.5 and attacker.ship_group in "
                '(Titan, Supercarrier, "Force Auxiliary") and victim.ship_group != Capsule '
                "and not npc", universe)
    text = render(tree, universe)
    assert read(text, universe) == tree


@pytest.fixture(scope="module")
def pools(kills, universe) -> Pools:
    return Pools.from_kills(kills.values(), universe)


@pytest.fixture(scope="module")
def names(pools) -> dict[int, str]:
    """Names for most entity ids: plain ones and ones that need quoting or escaping."""
    named = {}
    for i, entity in enumerate(pools.entities):
        if i % 4 == 3:
            continue  # some stay ids
        named[entity] = TRICKY_NAMES[i % len(TRICKY_NAMES)] + f" {i}" if i % 2 else f"P{i}"
    for i, entity in enumerate(pools.entities[:len(TRICKY_NAMES)]):
        named[entity] = TRICKY_NAMES[i]
    return named


def test_round_trip_text_tree_text_tree_for_random_trees(universe, pools, names):
    entities = FakeEntities({name: [("character", i), ("corporation", i), ("alliance", i)]
                             for i, name in names.items()})

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(trees(pools))
    def round_trip(tree):
        canonical = validate(tree, universe)
        text = render(canonical, universe, names)
        again = read(text, universe, entities)
        assert again == canonical, text
        assert to_json(again) == to_json(canonical), text
        assert render(again, universe, names) == text

    round_trip()


def test_any_text_either_parses_or_fails_with_a_column(universe):
    pieces = [*"abcnotadrlsyevu.()=<>!,\"' 0123456789kmb-_", " and ", " or ", " not ", "value",
              "region", "Delve", "in", "between", "jumps from ", "npc", "victim.alliance", "<="]

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(pieces), max_size=30).map("".join))
    def total(text):
        columns = []
        try:
            read(text, universe)
        except FilterSyntaxError as error:  # anything else fails the test
            columns.append(error.column)
        assert all(1 <= column <= len(text) + 1 for column in columns)

    total()


def test_overlong_or_deeply_nested_text_is_refused_politely(universe):
    assert "longer than 4000" in str(syntax_error("npc or " * 700 + "npc", universe))
    nested = "(" * 40 + "npc" + ")" * 40
    assert "nested more than 32 levels" in str(syntax_error(nested, universe))
    deep_but_parsable = "not " * 9 + "npc"
    assert "nested deeper than 8 levels" in str(syntax_error(deep_but_parsable, universe))
