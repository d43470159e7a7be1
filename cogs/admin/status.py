"""``/killwatch status`` as an embed: the feeds, the pipeline, the posting, this server.

Per feed: lag behind the newest kill it handed on, kills per minute, errors by kind and any
backoff in progress; the pipeline's queues; what the sender posted (per minute since the
engine started) and the 429s Discord answered; and this server's subscriptions that post
nothing: paused (with why) or disabled (active, but the filter no longer loads). Durations
and counts are written as ``killwatch status`` writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import discord

from bot.render.limits import FIELD_VALUE, FIELDS, fit_embed, fit_lines, truncate
from bot.render.text import md
from bot.sender import SenderStatus
from bot.status_command import ago, counts
from engine.guilds import ServerSettings
from engine.sources.status import SourceStatus
from engine.status import EngineStatus
from engine.subscriptions import SubscriptionView

__all__ = ["HEALTHY_COLOUR", "TROUBLE_COLOUR", "status_embed"]

HEALTHY_COLOUR: Final = 0x57F287
TROUBLE_COLOUR: Final = 0xFEE75C
_FEEDS_SHOWN: Final = FIELDS - 5  # room left for the pipeline, posting and server fields


def status_embed(
    engine: EngineStatus | None,
    sender: SenderStatus | None,
    views: Sequence[SubscriptionView],
    loaded: Callable[[int], bool],
    settings: ServerSettings,
    now: datetime,
) -> discord.Embed:
    """``loaded(id)``: whether an active subscription is in the matcher (else: disabled)."""
    trouble = settings.paused or engine is None or not engine.running
    if engine is None:
        description = "The engine is not running in this process: no feed is being read."
    else:
        state = "running" if engine.running else "stopped"
        description = f"Engine {state}, started {ago(now - engine.started_at)} ago."
    if settings.paused:
        why = f" ({md(truncate(settings.paused_reason, 200))})" if settings.paused_reason else ""
        description += f"\n**This server is paused**{why}: /killwatch resume restarts it."
    embed = discord.Embed(title="Killwatch status", description=description)
    if engine is not None:
        for source in engine.sources[:_FEEDS_SHOWN]:
            trouble |= bool(source.backoff_seconds) or not source.connected
            embed.add_field(
                name=f"Feed {source.name} ({source.kind})", value=_feed(source, now),
                inline=False,
            )
        embed.add_field(name="Pipeline", value=_pipeline(engine), inline=False)
    if sender is not None:
        started = engine.started_at if engine is not None else None
        embed.add_field(name="Posting", value=_posting(sender, started, now), inline=False)
    embed.add_field(name="This server", value=_server(views, loaded), inline=False)
    embed.colour = discord.Colour(TROUBLE_COLOUR if trouble else HEALTHY_COLOUR)
    embed.timestamp = now
    return fit_embed(embed)


def _feed(source: SourceStatus, now: datetime) -> str:
    link = "connected" if source.connected else "not connected"
    if source.backoff_seconds:
        link = f"backing off {source.backoff_seconds:.0f} s"
    if source.last_kill_time is None:
        lag = "no kill yet"
    else:
        lag = f"lag **{ago(now - source.last_kill_time)}**"
    lines = [
        f"{lag} · {source.kills_per_minute:.1f} kills/min · {source.kills} kills · {link}",
        f"errors: {counts(source.errors)}" if source.errors else "no errors",
    ]
    if source.last_error:
        lines.append(f"last error: {md(truncate(source.last_error, 300))}")
    return truncate("\n".join(lines), FIELD_VALUE)


def _pipeline(engine: EngineStatus) -> str:
    rejected = sum(engine.rejected.values())
    lines = [
        f"received {engine.received} · new {engine.stored} · duplicates {engine.duplicates} "
        f"· too old {engine.too_old} · rejected {rejected} · delivered {engine.delivered}",
        f"queues: {counts(engine.queues)}" if engine.queues else "queues: none",
    ]
    return truncate("\n".join(lines), FIELD_VALUE)


def _posting(sender: SenderStatus, started: datetime | None, now: datetime) -> str:
    first = f"{sender.sent} kills posted in {sender.messages} messages"
    if started is not None:
        minutes = max((now - started) / timedelta(minutes=1), 1.0)
        first += f" · {sender.messages / minutes:.1f} posts/min"
    lines = [
        first,
        f"429s: {sender.rate_limited} · retries {sender.retries} · failed {sender.failed} "
        f"· waited {sender.paced_seconds:.0f} s for the global budget",
    ]
    if sender.folded or sender.battles:
        lines.append(
            f"{sender.folded} kills in live battle summaries ({len(sender.battles)} now)"
        )
    return truncate("\n".join(lines), FIELD_VALUE)


def _where(view: SubscriptionView) -> str:
    return f"<#{view.destination.partition(':')[2]}>"


def _server(views: Sequence[SubscriptionView], loaded: Callable[[int], bool]) -> str:
    paused = [v for v in views if v.paused]
    disabled = [v for v in views if not v.paused and not loaded(v.id)]
    active = len(views) - len(paused) - len(disabled)
    head = (
        f"{len(views)} subscriptions: {active} active, {len(paused)} paused, "
        f"{len(disabled)} disabled"
    )
    lines = [
        f"#{v.id} in {_where(v)} paused: {md(truncate(v.pause_reason or 'no reason', 120))}"
        for v in paused
    ]
    lines += [
        f"#{v.id} in {_where(v)} disabled: its filter no longer loads (/sub edit it)"
        for v in disabled
    ]
    return fit_lines([head, *lines], FIELD_VALUE, lambda n: f"… and {n} more (/sub list)")
