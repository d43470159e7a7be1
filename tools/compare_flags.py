"""How often our computed npc/solo/awox flags agree with zKillboard's, and where they differ.

Run: ``python -m tools.compare_flags [FILE.jsonl ...]`` (default: tests/data/killmails.jsonl).
Every kill with a zkb block is checked; each disagreement is listed with the facts that
explain it, so a rule change can be judged against real kills.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from engine.enrich.attackers import is_player
from engine.enrich.catalog import TypeCatalog
from engine.enrich.facts import computed_flags
from engine.enrich.universe import Universe
from engine.model import Killmail, KillmailRejected, parse_killmail

__all__ = ["compare", "main"]

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "data" / "killmails.jsonl"
FLAGS = ("npc", "solo", "awox")


def _why(kill: Killmail, types: TypeCatalog, flag: str) -> str:
    victim = kill.victim
    ship = types.info(victim.ship_type_id)
    players = [a for a in kill.attackers if is_player(a.character_id)]
    fb = kill.final_blow
    facts = [
        f"victim {ship.name} ({ship.group_name})",
        f"{len(kill.attackers)} attackers, {len(players)} players",
    ]
    if flag == "awox":
        same_corp = sum(a.corporation_id == victim.corporation_id for a in players)
        same_alliance = sum(
            victim.alliance_id is not None and a.alliance_id == victim.alliance_id
            for a in players
        )
        fb_corp = fb is not None and fb.corporation_id == victim.corporation_id
        facts.append(
            f"players in victim corp {same_corp}, in victim alliance {same_alliance}, "
            f"final blow in victim corp {fb_corp}"
        )
    if flag == "npc":
        facts.append(f"victim character {victim.character_id}, corp {victim.corporation_id}")
    return "; ".join(facts)


def compare(paths: list[Path], universe: Universe) -> None:
    types = TypeCatalog(universe)
    checked = 0
    agree: Counter[str] = Counter()
    for path in paths:
        for line in path.read_bytes().splitlines():
            try:
                kill = parse_killmail(line)
            except KillmailRejected:
                continue
            zkb = kill.zkb
            if zkb is None:
                continue
            checked += 1
            ours = dict(zip(FLAGS, computed_flags(kill, types), strict=True))
            theirs = {"npc": zkb.npc, "solo": zkb.solo, "awox": zkb.awox}
            for flag in FLAGS:
                if ours[flag] == theirs[flag]:
                    agree[flag] += 1
                else:
                    print(
                        f"{flag:<4} {kill.killmail_id:>10} ours={ours[flag]!s:<5} "
                        f"zkb={theirs[flag]!s:<5} {_why(kill, types, flag)}"
                    )
    print(f"{checked} kills with a zkb block in {', '.join(p.name for p in paths)}")
    for flag in FLAGS:
        share = agree[flag] / checked if checked else 0.0
        print(f"  {flag:<4} agree {agree[flag]}/{checked} ({share:.1%})")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    compare([Path(a) for a in args] or [DEFAULT], Universe.load())


if __name__ == "__main__":
    main()
