"""Filters: one language for which kills a subscription wants, and the indexed matcher.

- :mod:`.tree` the canonical JSON tree (``"v": 1``); :mod:`.validate` checks it;
- :mod:`.text` / :mod:`.render` the readable text form and back;
- :mod:`.presets` ready-made trees; :mod:`.compile` trees to predicates;
- :mod:`.plan` / :mod:`.matcher` the inverted indexes that pick which predicates to run.
"""

from engine.filters.errors import FilterError, FilterInvalid, FilterSyntaxError, Problem
from engine.filters.matcher import Match, Matcher, Subscription
from engine.filters.render import render
from engine.filters.text import parse
from engine.filters.tree import AllOf, AnyOf, Leaf, Node, Not, Within, from_json, to_json
from engine.filters.validate import load, validate
from engine.filters.world import Atlas, EntityLookup, Ranges

__all__ = [
    "AllOf",
    "AnyOf",
    "Atlas",
    "EntityLookup",
    "FilterError",
    "FilterInvalid",
    "FilterSyntaxError",
    "Leaf",
    "Match",
    "Matcher",
    "Node",
    "Not",
    "Problem",
    "Ranges",
    "Subscription",
    "Within",
    "from_json",
    "load",
    "parse",
    "render",
    "to_json",
    "validate",
]
