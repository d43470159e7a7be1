"""`killwatch sde update`: rebuild the static universe from CCP's SDE into the data directory."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from engine.enrich.sde import SDE_LATEST_URL, SdeError, UpdateReport, is_url, update_universe
from engine.sources.http import user_agent

if TYPE_CHECKING:
    from bot.cli import Subcommands
    from bot.config import Settings

__all__ = ["DEFAULT_DATA_DIR", "register", "render_report"]

# Beside the default database (./data/killwatch.db) until the config names a data directory.
DEFAULT_DATA_DIR = Path("data")


def register(commands: Subcommands) -> None:
    sde = commands.add_parser(
        "sde",
        help="update the static universe data from CCP's static data export",
        description="Manage the static universe (systems, stargates, item types...) that "
        "enrichment reads, built from CCP's static data export (SDE).",
    )
    actions = sde.add_subparsers(dest="sde_action", required=True, metavar="ACTION")
    update = actions.add_parser(
        "update",
        help="rebuild the universe from CCP's SDE JSONL zip",
        description="Download (or read) CCP's SDE JSONL zip, rebuild the universe file from "
        "it and write it atomically into the data directory. The running bot keeps the "
        "universe it loaded; a restart picks up the new one. On any error the previous "
        "file is left as it was.",
    )
    update.add_argument(
        "--from",
        dest="source",
        metavar="FILE_OR_URL",
        default=SDE_LATEST_URL,
        help=f"the SDE JSONL zip, a local file or an http(s) URL (default: {SDE_LATEST_URL})",
    )
    update.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help="where to write universe.msgpack.gz (default: engine.data_dir from the config, "
        f"./{DEFAULT_DATA_DIR})",
    )
    update.set_defaults(handler=_update)


def _data_dir(args: argparse.Namespace, settings: Settings) -> Path:
    explicit: Path | None = args.data_dir
    return explicit if explicit is not None else settings.engine.data_dir


async def _run(source: str, data_dir: Path) -> UpdateReport:
    if not is_url(source):
        return await update_universe(Path(source), data_dir)
    async with aiohttp.ClientSession(headers={"User-Agent": user_agent(None)}) as session:
        return await update_universe(source, data_dir, session=session)


def _update(args: argparse.Namespace, settings: Settings) -> int:
    data_dir = _data_dir(args, settings)
    try:
        report = asyncio.run(_run(args.source, data_dir))
    except SdeError as exc:
        print(f"killwatch: sde update failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"killwatch: sde update failed: cannot write to {data_dir}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    print(render_report(report))
    return 0


def render_report(report: UpdateReport) -> str:
    """What changed, table by table, then where the file went and what to do next."""
    width = max(len(name) for name, _ in report.after.items())
    lines = [f"{report.source}", f"compared with {report.before_origin}:"]
    for (name, before), (_, after) in zip(
        report.before.items(), report.after.items(), strict=True
    ):
        change = f" ({after - before:+d})" if after != before else ""
        row = f"  {name.replace('_', ' '):<{width}}  {before:>7} -> {after:<7}{change}"
        lines.append(row.rstrip())
    lines.append(f"wrote {report.path} ({report.size / 1024:.0f} KB)")
    lines.append("Restart Killwatch to use it; the running bot keeps the universe it loaded.")
    return "\n".join(lines)
