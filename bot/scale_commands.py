"""`killwatch ingest` and `killwatch bot`: the scale-out layout's two kinds of process.

Both need PostgreSQL (shared by every process) and Redis (the stream between them). Their
modules import the `redis` package, so they are imported only when one of these commands
runs: `killwatch run` never loads it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from sqlalchemy import URL

from bot.config import Settings
from bot.runtime import database_url
from bot.serve import DiscordLoginError
from engine.scale.shards import ShardRange, ShardRangeError
from engine.store.migrate import SchemaOutOfDate, require_current_schema

if TYPE_CHECKING:
    from bot.cli import Subcommands

__all__ = ["register"]

log = logging.getLogger("killwatch")


def register(commands: Subcommands) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="scale-out: read the feeds and publish each new kill to the Redis stream",
        description="Follow the configured feeds, store each kill once in PostgreSQL and "
        "publish it to the Redis stream ([scale]) for the `killwatch bot` processes. Needs "
        "PostgreSQL and Redis. Stops cleanly on Ctrl-C or SIGTERM.",
    )
    ingest.set_defaults(handler=_ingest)

    bot = commands.add_parser(
        "bot",
        help="scale-out: run some of Discord's shards, posting kills from the Redis stream",
        description="Run the Discord bot on shards FIRST-LAST of COUNT: match every kill of the "
        "stream against the subscriptions of those shards' servers (and members' DMs, on the "
        "process with shard 0) and post them. Each shard belongs to exactly one process. "
        "Needs PostgreSQL, Redis and a Discord token; `killwatch ingest` feeds it.",
    )
    bot.add_argument("--shards", required=True, metavar="FIRST-LAST",
                     help="this process's shards, e.g. 0-3 (or one: 5)")
    bot.add_argument("--shard-count", required=True, type=int, metavar="COUNT",
                     help="how many shards all the processes run together")
    bot.set_defaults(handler=_bot)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    url = _ready_database(settings, "ingest")
    if url is None:
        return 1
    # Imported here: the stream needs the redis package, which `killwatch run` never loads.
    from bot.ingest import run_ingest
    from engine.scale.stream import StreamUnavailable

    try:
        stats = asyncio.run(run_ingest(settings, url))
    except StreamUnavailable as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 1
    log.info("stopped: %s", stats.summary())
    return 0


def _bot(args: argparse.Namespace, settings: Settings) -> int:
    try:
        shards = ShardRange.parse(args.shards, args.shard_count)
    except ShardRangeError as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 2
    token = settings.discord_token()
    if not token:
        print("killwatch: `killwatch bot` needs a Discord token: set DISCORD_TOKEN (or "
              "discord.token_file)", file=sys.stderr)
        return 2
    url = _ready_database(settings, "bot")
    if url is None:
        return 1
    from bot.shard_layout import run_shard_bot
    from engine.scale.stream import StreamUnavailable

    log.info("running shards %s of %d", args.shards, shards.count)
    try:
        stats = asyncio.run(run_shard_bot(settings, url, token, shards))
    except (StreamUnavailable, DiscordLoginError) as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 1
    log.info("stopped: %s", stats.summary())
    return 0


def _ready_database(settings: Settings, command: str) -> URL | None:
    """The PostgreSQL URL, with a current schema; None (having said why) otherwise."""
    url = database_url(settings)
    if url.get_backend_name() != "postgresql":
        print(f"killwatch: `killwatch {command}` shares its database with the other processes "
              "and needs PostgreSQL: set database.url to a postgresql+asyncpg:// URL "
              "(SQLite is for `killwatch run` alone)", file=sys.stderr)
        return None
    try:
        asyncio.run(require_current_schema(url))
    except SchemaOutOfDate as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return None
    return url
