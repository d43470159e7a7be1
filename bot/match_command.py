"""`killwatch match`: which kills of a JSONL file a filter matches, offline."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from bot.config import Settings
from engine.enrich.distances import Distances
from engine.enrich.enricher import Enricher
from engine.enrich.universe import Universe
from engine.filters import FilterError, Matcher, Node, Subscription, load, parse
from engine.model import KillmailRejected, parse_killmail

__all__ = ["register"]

log = logging.getLogger("killwatch")

if TYPE_CHECKING:  # not subscriptable at run time before Python 3.12
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Subcommands) -> None:
    match = commands.add_parser(
        "match",
        help="print the ids of the kills in a JSONL file that a filter matches",
        description="Read one filter (a JSON tree, or the text form when the file is not "
        "JSON) and a JSONL file of killmails (the fixture format or R2Z2 envelopes), and "
        "print the id of each matching kill, one per line, in file order. Offline: names in "
        "a text filter resolve from the bundled universe only, so characters, corporations "
        "and alliances must be given by id. Exits 2 when the filter is invalid.",
    )
    match.add_argument("--filter", required=True, type=Path, metavar="FILE",
                       help="the filter: JSON tree or text form")
    match.add_argument("--kills", required=True, type=Path, metavar="FILE.jsonl",
                       help="killmails, one JSON object per line")
    match.add_argument("--now", default=None, metavar="TIME",
                       help="ISO 8601 time that `age_minutes` counts from (default: now)")
    match.set_defaults(handler=_match)


def _match(args: argparse.Namespace, settings: Settings) -> int:
    for path in (args.filter, args.kills):
        if not path.is_file():
            print(f"killwatch: no such file: {path}", file=sys.stderr)
            return 2
    try:
        now = datetime.fromisoformat(args.now).timestamp() if args.now else time.time()
    except ValueError:
        print(f"killwatch: --now is not an ISO 8601 time: {args.now}", file=sys.stderr)
        return 2
    universe = Universe.load()
    try:
        tree = _read_filter(args.filter, universe)
    except FilterError as exc:
        print(f"killwatch: invalid filter in {args.filter}:\n{exc}", file=sys.stderr)
        return 2
    matcher = Matcher(Distances(universe))
    matcher.add(Subscription(1, "match", tree))
    enricher = Enricher(universe)
    rejected = 0
    out = sys.stdout
    with args.kills.open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                killmail = parse_killmail(line)
            except KillmailRejected:
                rejected += 1
                continue
            if matcher.matching(enricher.enrich(killmail), now):
                out.write(f"{killmail.killmail_id}\n")
    out.flush()
    if rejected:
        log.warning("skipped %d lines that are not killmails", rejected)
    return 0


def _read_filter(path: Path, universe: Universe) -> Node:
    text = path.read_text(encoding="utf-8")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return asyncio.run(parse(text.strip(), universe))
    return load(document, universe)
