"""Replies about subscriptions as members see them: confirmations, listings, previews, errors.

Pure functions (nothing here talks to Discord). Everything a member or the data supplied is
escaped: filters go inside code spans or blocks (which render neither markdown nor mentions),
other text through :func:`bot.render.text.md`; replies are also sent with no allowed mentions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

import discord

from bot.render import kill_embed
from bot.render.limits import DESCRIPTION, FIELD_VALUE, fit_embed, fit_lines, truncate
from bot.render.text import ZWSP, duration, md
from engine.dispatch.text import format_isk
from engine.filters import FilterError, FilterInvalid, FilterSyntaxError
from engine.subscriptions import PRESETS, Preview, SubscriptionOptions, SubscriptionView

__all__ = [
    "CONTENT",
    "PER_PAGE",
    "caret_window",
    "code_block",
    "filter_error_message",
    "inline_code",
    "list_embed",
    "mention_label",
    "options_line",
    "pages",
    "preview_reply",
    "saved_message",
    "subscription_embed",
]

CONTENT: Final = 2000  # a message's content
PER_PAGE: Final = 15
ACTIVE_COLOUR: Final = 0x57F287
PAUSED_COLOUR: Final = 0x99AAB5
_FENCE: Final = "```"
CARET_WIDTH: Final = 120


def code_block(text: str, limit: int = FIELD_VALUE) -> str:
    """``text`` in a code block of at most ``limit`` characters; a fence in it cannot close it."""
    body = text.replace(_FENCE, f"`{ZWSP}``")
    room = limit - len(_FENCE) * 2 - 2
    return f"{_FENCE}\n{truncate(body, room)}\n{_FENCE}"


def inline_code(text: str, limit: int = 100) -> str:
    """``text`` as a code span: a backtick in it is shown as a look-alike so it cannot end it."""
    body = truncate(" ".join(text.split()).replace("`", "ˋ"), limit) or " "
    return f"`{body}`"


def mention_label(mention: str | None) -> str:
    if mention is None:
        return "none"
    if mention.startswith("role:"):
        return f"<@&{mention.removeprefix('role:')}>"
    return f"@{ZWSP}{mention}"  # shown, never a live @here


def _cooldown(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def options_line(options: SubscriptionOptions) -> str:
    parts = [f"style **{options.style}**", f"mention {mention_label(options.mention)}"]
    if options.mention is not None:
        parts.append(f"cooldown {_cooldown(options.cooldown)}")
    if options.max_age is not None:
        parts.append(f"max age {duration(timedelta(minutes=options.max_age))}")
    if options.min_value is not None:
        parts.append(f"min value {format_isk(options.min_value)}")
    return " · ".join(parts)


def _where(view: SubscriptionView) -> str:
    kind, _, number = view.destination.partition(":")
    return f"<#{number}>" if kind == "channel" else f"the DMs of <@{number}>"


def _status(view: SubscriptionView) -> str:
    if not view.paused:
        return "active"
    reason = f" ({md(truncate(view.pause_reason, 200))})" if view.pause_reason else ""
    return f"**paused**{reason}"


def saved_message(verb: str, view: SubscriptionView, where: str | None = None) -> str:
    """A confirmation: "Subscription #12 created for #kills", the filter, the options."""
    to = "from" if verb == "removed" else "for"
    lines = [f"Subscription **#{view.id}** {verb} {to} {where or _where(view)}."]
    if view.preset is not None:
        lines.append(f"Preset **{view.preset}**: {PRESETS.get(view.preset, '')}.")
    lines.append(code_block(view.filter_text, 1500))
    lines.append(options_line(view.options) + (" · **paused**" if view.paused else ""))
    return truncate("\n".join(lines), CONTENT)


def subscription_embed(view: SubscriptionView) -> discord.Embed:
    """``/sub show``: one subscription in full."""
    embed = discord.Embed(
        title=f"Subscription #{view.id}",
        colour=PAUSED_COLOUR if view.paused else ACTIVE_COLOUR,
        description=code_block(view.filter_text, 3000),
    )
    embed.add_field(name="Posts to", value=_where(view))
    embed.add_field(name="Status", value=_status(view))
    if view.preset is not None:
        embed.add_field(name="Preset", value=view.preset)
    embed.add_field(name="Options", value=options_line(view.options), inline=False)
    if view.text is not None and view.text.strip() != view.filter_text.strip():
        embed.add_field(name="As typed", value=code_block(view.text), inline=False)
    embed.add_field(name="Owner", value=f"<@{view.owner_id}>")
    embed.add_field(name="Created", value=discord.utils.format_dt(view.created_at, "R"))
    if view.updated_at != view.created_at:
        embed.add_field(name="Changed", value=discord.utils.format_dt(view.updated_at, "R"))
    return fit_embed(embed)


def pages(count: int, per_page: int = PER_PAGE) -> int:
    return max(1, math.ceil(count / per_page))


def _list_line(view: SubscriptionView, with_place: bool) -> str:
    parts = [f"**#{view.id}**"]
    if with_place:
        parts.append(_where(view))
    if view.paused:
        parts.append("⏸ paused")
    parts.append(inline_code(view.filter_text, 120))
    if view.options.style != "full":
        parts.append(view.options.style)
    if view.options.mention is not None:
        parts.append(mention_label(view.options.mention))
    return " · ".join(parts)


def list_embed(
    title: str,
    views: Sequence[SubscriptionView],
    page: int = 1,
    *,
    with_place: bool = True,
    empty: str = "No subscriptions yet.",
    per_page: int = PER_PAGE,
) -> discord.Embed:
    """One page of a listing (``page`` is clamped to those there are), within the limits."""
    total = pages(len(views), per_page)
    page = min(max(page, 1), total)
    shown = views[(page - 1) * per_page : page * per_page]
    embed = discord.Embed(title=truncate(title, 256), colour=ACTIVE_COLOUR)
    if not views:
        embed.description = empty
        return embed
    lines = [_list_line(view, with_place) for view in shown]
    embed.description = fit_lines(lines, DESCRIPTION)
    paused = sum(1 for view in views if view.paused)
    footer = f"{len(views)} subscription" + ("" if len(views) == 1 else "s")
    if paused:
        footer += f", {paused} paused"
    if total > 1:
        footer = f"Page {page} of {total} · {footer} · the page option shows the others"
    embed.set_footer(text=footer)
    return fit_embed(embed)


def preview_reply(
    preview: Preview, text: str, checked: int, now: datetime, *, hours: int = 24
) -> tuple[str, list[discord.Embed]]:
    """``/sub test``: how many stored kills of the last hours match, and the latest few."""
    noun = "kill" if preview.count == 1 else "kills"
    head = (
        f"**{preview.count:,}** {noun} of the last {hours} h match "
        f"(out of {checked:,} stored):"
    )
    lines = [head, code_block(text, 1200)]
    if preview.first:
        lines.append(f"The latest {len(preview.first)}:" if preview.count > 1 else "It is:")
    elif checked == 0:
        lines.append("No kills are stored for that time yet: try again once the feeds have run.")
    lines.append("Nothing is saved: use /sub add (or /dm add) with this filter to subscribe.")
    embeds = [kill_embed(k, style="compact", perspective=None, now=now) for k in preview.first]
    return truncate("\n".join(lines), CONTENT), embeds


def caret_window(error: FilterSyntaxError, width: int = CARET_WIDTH) -> str:
    """The filter text and a caret under the faulty column; a long text is cut to the part
    around the column (with "…" where cut) so that the caret stays in view."""
    text = error.caret.split("\n", 1)[0]
    if len(text) <= width:
        return error.caret
    at = error.column - 1
    start = max(0, min(at - width // 2, len(text) - width))
    shown = text[start : start + width]
    lead = "…" if start > 0 else ""
    tail = "…" if start + width < len(text) else ""
    return f"{lead}{shown}{tail}\n{' ' * (len(lead) + at - start)}^"


def filter_error_message(error: FilterError) -> str:
    """A filter that cannot be used: what is wrong, where (column and caret), how to fix it."""
    if isinstance(error, FilterSyntaxError):
        head = f"That filter cannot be read at column {error.column}: {md(error.message)}"
        return truncate(f"{head}\n{code_block(caret_window(error))}", CONTENT)
    if isinstance(error, FilterInvalid) and error.problems:
        problems = [
            f"- {inline_code(p.path, 80)} {md(p.message)}; {md(p.suggestion)}"
            for p in error.problems
        ]
        body = fit_lines(problems, CONTENT - 100)
        return truncate(f"That filter cannot be used:\n{body}", CONTENT)
    return truncate(f"That filter cannot be used: {md(str(error))}", CONTENT)
