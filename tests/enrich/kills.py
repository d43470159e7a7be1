"""Recorded kills by id, for tests that check facts of particular real kills."""

from __future__ import annotations

from pathlib import Path

from engine.model import Killmail, KillmailRejected, parse_killmail

__all__ = ["FILES", "load_kills"]

# killmails.jsonl has no Pochven kill; killmails_pochven.jsonl holds two copied from the
# shared recordings: a Rorqual (72359224) and an Orca with a nested-container hold (52844772).
FILES = ("killmails.jsonl", "killmails_pochven.jsonl")


def load_kills(data_dir: Path) -> dict[int, Killmail]:
    kills: dict[int, Killmail] = {}
    for name in FILES:
        for line in (data_dir / name).read_bytes().splitlines():
            try:
                kill = parse_killmail(line)
            except KillmailRejected:
                continue
            kills[kill.killmail_id] = kill
    return kills
