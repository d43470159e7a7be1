"""Validation: each fault names its path, what is wrong and a fix; the canonical form."""

from __future__ import annotations

import orjson
import pytest

from engine.filters import (
    AllOf,
    AnyOf,
    FilterInvalid,
    Leaf,
    Not,
    Within,
    from_json,
    load,
    to_json,
    validate,
)

NPC = {"field": "npc", "op": "eq", "value": True}


def problems(obj, universe) -> list[str]:
    with pytest.raises(FilterInvalid) as caught:
        load(obj, universe)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"field": "victim.aliance", "op": "eq", "value": 1},
         "$.field: unknown field `victim.aliance`; did you mean `victim.alliance`?"),
        ({"field": "value", "op": ">=", "value": 1},
         "$.op: unknown op `>=`; did you mean `gte`?"),
        ({"field": "value", "op": "contains", "value": 1},
         "$.op: `value` does not take `contains`; "
         "`value` takes eq, ne, gt, gte, lt, lte, between"),
        ({"field": "system", "op": "eq", "value": 30999999},
         "$.value: unknown solar system id 30999999; check the id, or write the solar "
         "system's name in the text form"),
        ({"field": "system", "op": "eq", "value": "Jita"},
         "$.value: expected a solar system id, got the name 'Jita'; use its id: 30000142"),
        ({"field": "space", "op": "eq", "value": "hisec"},
         "$.value: unknown space 'hisec'; did you mean `highsec`?"),
        ({"field": "hour", "op": "eq", "value": 24},
         "$.value: 24 is out of range for `hour`; use a value from 0 to 23"),
        ({"field": "jumps", "op": "within", "value": {"from": 30000142, "max": 2.5}},
         "$.value.max: `jumps` takes a whole number, got 2.5; use 2 or 3"),
        ({"field": "value", "op": "between", "value": [5, 1]},
         "$.value: low 5 is above high 1; write [1, 5]"),
        ({"v": 2, **NPC}, '$.v: unsupported filter version 2; use "v": 1'),
        ({"field": "npc", "op": "eq"},
         '$: missing key "value"; a condition has exactly "field", "op" and "value"'),
    ],
)
def test_a_fault_names_its_path_what_is_wrong_and_a_suggestion(tree, message, universe):
    assert problems(tree, universe) == [message]


def test_faults_deep_in_the_tree_carry_their_path_and_all_are_reported(universe):
    tree = {
        "all": [
            NPC,
            {"any": [{"field": "region", "op": "in", "value": [10000060, 123]},
                     {"not": {"field": "victim.ship_grup", "op": "eq", "value": 30}}]},
        ]
    }
    assert problems(tree, universe) == [
        "$.all[1].any[0].value[1]: unknown region id 123; check the id, or write the "
        "region's name in the text form",
        "$.all[1].any[1].not.field: unknown field `victim.ship_grup`; "
        "did you mean `victim.ship_group`?",
    ]


def test_party_fields_point_contains_to_eq_and_in(universe):
    [message] = problems({"field": "victim.alliance", "op": "contains", "value": 1}, universe)
    assert "use `eq`" in message


def test_limits_on_leaves_depth_and_list_length(universe):
    [leaves] = problems({"all": [NPC] * 65}, universe)
    assert leaves.startswith("$: 65 conditions, more than the 64 allowed")
    deep: dict = NPC
    for _ in range(8):
        deep = {"not": deep}
    [depth] = problems(deep, universe)
    assert depth.startswith("$.not.not.not.not.not.not.not.not: nested deeper than 8 levels")
    [length] = problems(
        {"field": "victim.alliance", "op": "in", "value": list(range(1, 502))}, universe
    )
    assert length.startswith("$.value: 501 values, more than the 500 allowed")
    # At the limits exactly, all is well.
    load({"all": [NPC] * 64}, universe)
    load({"field": "victim.alliance", "op": "in", "value": list(range(1, 501))}, universe)


def test_a_maliciously_deep_document_is_refused_without_recursing_through_it(universe):
    deep: dict = NPC
    for _ in range(5000):
        deep = {"not": deep}
    [message] = problems(deep, universe)
    assert "nested deeper than 8 levels" in message


def test_entity_ids_cannot_be_checked_offline_so_any_positive_id_is_accepted(universe):
    assert load({"field": "victim.character", "op": "eq", "value": 2112000000}, universe)
    assert problems({"field": "victim.character", "op": "eq", "value": 0}, universe) == [
        "$.value: 0 is not a character id; ids are positive"
    ]


def test_universe_ids_are_checked_only_when_an_atlas_is_given():
    tree = {"field": "region", "op": "eq", "value": 123}
    assert load(tree) == Leaf("region", "eq", 123)


def test_wrong_shapes_are_reported_with_their_path(universe):
    assert problems({"any": {"field": "npc"}}, universe) == [
        '$.any: expected a list, got an object with key "field"; write "any": [condition, ...]'
    ]
    assert problems({"all": [NPC, 5]}, universe)[0].startswith(
        "$.all[1]: expected a condition object, got the number 5"
    )
    assert problems({"all": [NPC], "any": [NPC]}, universe)[0].startswith(
        '$: `all` cannot share its object with key "any"'
    )
    assert problems({"field": "value", "op": "gte", "value": None}, universe)[0].startswith(
        "$.value: expected a number, a string, a list"
    )


def test_canonical_form_unwraps_groups_of_one_merges_duplicates_and_uses_ints(universe):
    tree = load(
        {"all": [{"any": [{"field": "value", "op": "gte", "value": 1e9}]},
                 {"field": "region", "op": "in", "value": [10000060, 10000060, 10000002]}]},
        universe,
    )
    assert tree == AllOf((Leaf("value", "gte", 1_000_000_000),
                          Leaf("region", "in", (10000060, 10000002))))
    assert isinstance(tree.children[0].value, int)


def test_json_round_trip_keeps_the_tree_and_marks_the_version(universe):
    tree = AllOf((
        Leaf("involved.alliance", "in", (1354830081, 99005338)),
        AnyOf((Leaf("jumps", "within", Within(30004759, 5)),
               Not(Leaf("space", "eq", "highsec")))),
        Leaf("value", "between", (100_000_000, 2.5e9 + 0.5)),
    ))
    stored = orjson.dumps(to_json(tree))
    assert orjson.loads(stored)["v"] == 1
    assert from_json(orjson.loads(stored)) == tree
    assert validate(tree, universe) == tree
    assert to_json(validate(tree, universe)) == to_json(tree)


def test_hand_written_json_may_leave_out_the_version(universe):
    assert load(NPC, universe) == Leaf("npc", "eq", True)
