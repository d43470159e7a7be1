"""engine/ never imports discord, bot or cogs: the engine must run with no Discord at all."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = {"discord", "bot", "cogs"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_engine_imports_nothing_from_discord_bot_or_cogs():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10  # the walk really found the engine
    offenders = {
        str(f.relative_to(ENGINE)): sorted(_imported_roots(f) & FORBIDDEN)
        for f in files
        if _imported_roots(f) & FORBIDDEN
    }
    assert offenders == {}


def test_the_import_check_catches_a_forbidden_import(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom discord.ext import commands\nimport bot.cli as c\n")
    assert _imported_roots(sample) & FORBIDDEN == {"discord", "bot"}
