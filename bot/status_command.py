"""`killwatch status`: where each feed is and how the engine is doing, read from the store.

The engine saves its status every few seconds and when it stops, so this works against a
running instance (from another shell or host) and a stopped one alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TextIO

import msgspec
from sqlalchemy import URL

from bot.config import Settings
from bot.runtime import database_url
from engine.sources.status import SourceStatus
from engine.status import STATUS_KEY, EngineStatus, decode_status
from engine.store.database import Database
from engine.store.migrate import SchemaOutOfDate, require_current_schema
from engine.store.repositories import StateRepository

__all__ = ["ago", "counts", "register", "render_status"]

def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        help="show each feed's position, lag and errors, and the pipeline's counters",
        description="Read the status the engine saves in the database (every few seconds "
        "while it runs, and when it stops) and print it: per feed its position, lag, "
        "kills per minute, errors by kind and any backoff in progress.",
    )
    status.add_argument("--json", action="store_true", help="print the saved status as JSON")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings)
    try:
        asyncio.run(require_current_schema(url))
    except SchemaOutOfDate as exc:
        print(f"killwatch: {exc}", file=sys.stderr)
        return 1
    saved, positions = asyncio.run(_read(url))
    if saved is None:
        print("Killwatch has not run against this database yet (no status saved).")
        return 0
    if args.json:
        print(msgspec.json.encode(saved).decode())
        return 0
    stale_after = timedelta(seconds=3 * settings.engine.status_interval_seconds)
    render_status(saved, positions, sys.stdout, stale_after=stale_after)
    return 0


async def _read(url: URL) -> tuple[EngineStatus | None, dict[str, str]]:
    async with Database(url) as database, database.session() as session:
        state = StateRepository(session)
        text = await state.get(STATUS_KEY)
        positions = await state.with_prefix("source:")
    return (decode_status(text) if text is not None else None), positions


def render_status(
    status: EngineStatus,
    positions: dict[str, str],
    out: TextIO,
    *,
    stale_after: timedelta = timedelta(seconds=45),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    current = now()
    age = current - status.updated_at
    if not status.running:
        state = "stopped"
    elif age > stale_after:
        state = f"not reporting for {ago(age)} (stopped without saying so?)"
    else:
        state = "running"
    out.write(f"Killwatch status as of {_when(status.updated_at)} ({ago(age)} ago): {state}\n")
    rejected = sum(status.rejected.values())
    out.write(
        f"  pipeline: received {status.received}, new {status.stored}, too old "
        f"{status.too_old}, duplicates {status.duplicates}, updated {status.updated}, "
        f"delivered {status.delivered}, rejected {rejected}"
        + (f" ({counts(status.rejected)})" if rejected else "")
        + "\n"
    )
    if status.queues:
        out.write(f"  queues: {counts(status.queues)}\n")
    for source in status.sources:
        _render_source(source, current, out)
    if positions:
        out.write("  saved positions:\n")
        for key, value in sorted(positions.items()):
            out.write(f"    {key} = {value}\n")


def _render_source(source: SourceStatus, now: datetime, out: TextIO) -> None:
    link = "connected" if source.connected else "not connected"
    if source.backoff_seconds:
        link += f", backing off {source.backoff_seconds:.0f} s"
    position = f"at {source.last_position}" if source.last_position else "no position yet"
    out.write(f"  feed {source.name} ({source.kind}): {position}, {link}\n")
    if source.last_kill_time is not None:
        line = (
            f"    last kill {_when(source.last_kill_time)} "
            f"(lag {ago(now - source.last_kill_time)})"
        )
        if source.last_uploaded_at is not None:
            line += (
                f", published {_when(source.last_uploaded_at)} "
                f"(lag {ago(now - source.last_uploaded_at)})"
            )
        out.write(line + "\n")
    out.write(f"    kills {source.kills}, {source.kills_per_minute:.1f}/min")
    out.write(f"; errors: {counts(source.errors)}\n" if source.errors else "; no errors\n")
    if source.last_error:
        out.write(f"    last error: {source.last_error}\n")


def counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(span: timedelta) -> str:
    seconds = max(0, int(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} d"
