"""The `killwatch` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot import (
    enrich_command,
    health_command,
    match_command,
    scale_commands,
    sde_command,
    status_command,
)
from bot.config import ConfigError, Settings, config_path, load_settings
from bot.logs import setup_logging
from bot.runtime import database_url, run_engine
from bot.serve import DiscordLoginError, run_bot
from engine.dispatch.console import ConsoleSink
from engine.sources import ReplaySource
from engine.store.migrate import SchemaOutOfDate, require_current_schema, upgrade

__all__ = ["main"]

log = logging.getLogger("killwatch")

# Commands that live in modules of their own; each `register` adds its subparser, whose
# handler is called as handler(args, settings) -> exit code.
if TYPE_CHECKING:  # not subscriptable at run time before Python 3.12
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
_MORE_COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    enrich_command.register,
    health_command.register,
    match_command.register,
    scale_commands.register,
    sde_command.register,
    status_command.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = load_settings(config_path(args.config))
        setup_logging(settings.logging.level, settings.secrets(),
                      log_format=settings.logging.format, kills=settings.logging.kills)
        return int(args.handler(args, settings))
    except ConfigError as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:
        # The driver's message can quote the connection string; the kind of failure and the
        # URL without its password say enough to act on.
        print(f"killwatch: the database cannot be used ({_kind(exc)}) at "
              f"{_shown_url(settings)}: check database.url, that the server runs, and the "
              "password (KILLWATCH_DATABASE__PASSWORD)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _kind(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    return type(original if original is not None else exc).__name__


def _shown_url(settings: Settings | None) -> str:
    if settings is None:
        return "the configured database"
    try:
        return database_url(settings).render_as_string(hide_password=True)
    except Exception:
        return "the configured database"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="killwatch",
        description="EVE Online killmail tracker and Discord bot.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML config file (default: $KILLWATCH_CONFIG, else ./config.toml, "
        "else ./config.example.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run Killwatch: follow the configured feeds and post matching kills",
        description="Follow the configured kill feeds and deliver kills. With no Discord "
        "token (DISCORD_TOKEN) it runs in console mode, printing each kill as one line. "
        "Stops cleanly on Ctrl-C or SIGTERM.",
    )
    run.set_defaults(handler=_run)

    replay = commands.add_parser(
        "replay",
        help="print the kills in a JSONL file, through the whole pipeline",
        description="Replay a JSONL file of killmails (the fixture format or R2Z2 envelopes) "
        "through parsing and enrichment and print each kill. Uses a throwaway database, so "
        "every kill in the file is shown, and the configured database is not touched.",
    )
    replay.add_argument("file", type=Path, help="the .jsonl file to replay")
    replay.add_argument(
        "--speed",
        type=float,
        default=None,
        help="pace by killmail time: 60 plays an hour in a minute (default: as fast as possible)",
    )
    replay.add_argument(
        "--max-gap",
        type=float,
        default=2.0,
        help="longest wait between two kills when pacing, in seconds (default 2)",
    )
    replay.set_defaults(handler=_replay)

    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the database schema",
        description="Upgrade the configured database to the schema this version needs.",
    )
    migrate.set_defaults(handler=_migrate)

    check = commands.add_parser(
        "check-config",
        help="validate the configuration and print it, secrets masked",
        description="Validate the config file and KILLWATCH_* environment and print the "
        "effective configuration with secrets masked. Exits 2 when something is wrong.",
    )
    check.set_defaults(handler=_check_config)
    for register in _MORE_COMMANDS:
        register(commands)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings)
    try:
        asyncio.run(require_current_schema(url))
    except SchemaOutOfDate as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 1
    token = settings.discord_token()
    if token:
        try:
            stats = asyncio.run(run_bot(settings, url, token))
        except DiscordLoginError as exc:
            print(f"killwatch: {exc}", file=sys.stderr)
            return 1
    else:
        log.info("console mode (no Discord token): printing each kill")
        stats = asyncio.run(run_engine(settings, url, [ConsoleSink()]))
    log.info("stopped: %s", stats.summary())
    if stats.stored == 0 and stats.duplicates:
        log.info(
            "every kill read was already processed before, so none was printed; "
            "`killwatch replay FILE` shows a file's kills again"
        )
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():
        print(f"killwatch: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.speed is not None and args.speed <= 0:
        print("killwatch: --speed must be a positive number", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="killwatch-replay-") as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/replay.db"
        asyncio.run(upgrade(url))
        source = ReplaySource(args.file, speed=args.speed, max_gap=args.max_gap)
        stats = asyncio.run(run_engine(settings, url, [ConsoleSink()], [source], online=False))
    log.info("replay finished: %s", stats.summary())
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings)
    asyncio.run(upgrade(url))
    log.info("database %s is up to date", url.render_as_string(hide_password=True))
    return 0


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    settings.discord_token()  # reading a token file can fail: say so here, not at start-up
    settings.database_password()
    print(settings.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
