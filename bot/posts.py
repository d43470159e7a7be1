"""What the sender posts: kills rendered per their subscriptions, grouped into messages.

Pure: no Discord I/O. A backlog of kills to one destination goes out in as few messages as
Discord allows (embeds packed up to 10 and 6,000 characters; links joined in the content),
each message with a nonce derived from its destination and its first killmail, so that the
same message sent again (after a lost answer, after a crash) is recognised by Discord and
posted once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import discord

from bot.render import EmbedStyle, Perspective, Style, kill_embed, kill_link, pack
from engine.dispatch.sender import Delivery

__all__ = [
    "CONTENT_LIMIT",
    "LINKS_PER_MESSAGE",
    "NONCE_LENGTH",
    "Post",
    "PostOptions",
    "Rendered",
    "allowed_mentions",
    "kill_ids_in",
    "mention_text",
    "next_post",
    "nonce_for",
    "render",
]

log = logging.getLogger(__name__)

NONCE_LENGTH: Final = 25  # Discord refuses a longer string nonce
CONTENT_LIMIT: Final = 2000
# Each link is there to be unfurled into a preview, and Discord previews only a few links
# of one message: more links per message would show as bare addresses.
LINKS_PER_MESSAGE: Final = 5
_PING_ROOM: Final = 200  # content kept free for pings ahead of the links
_RICHNESS: Final[dict[str, int]] = {"link": 0, "compact": 1, "full": 2}
_KILL_URL: Final = re.compile(r"zkillboard\.com/kill/(\d+)")
_ROLE: Final = re.compile(r"role:([1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class PostOptions:
    """How one subscription wants its kills posted."""

    style: Style = "full"
    mention: str | None = None  # "here", "everyone" or "role:<id>"
    cooldown_seconds: float = 900.0
    perspective: Perspective | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """One delivery as it will look: an embed, or a link for the message content."""

    delivery: Delivery
    embed: discord.Embed | None
    link: str | None
    pings: tuple[tuple[str, float], ...]  # (mention, cooldown) its subscriptions configured

    @property
    def kill_id(self) -> int:
        return self.delivery.kill.id


@dataclass(frozen=True, slots=True)
class Post:
    """One message: the deliveries it carries, what it says, whom it may ping."""

    items: tuple[Rendered, ...]
    nonce: str
    content: str | None
    embeds: tuple[discord.Embed, ...]
    pings: tuple[str, ...] = field(default=())

    @property
    def entry_ids(self) -> tuple[int, ...]:
        return tuple(item.delivery.entry_id for item in self.items)


def nonce_for(destination: str, killmail_id: int, kind: str = "k") -> str:
    """≤ 25 characters, the same for the same (destination, killmail, kind) in every run.

    The killmail id is kept readable (``k123456789-…``); the hash makes it unique per
    destination, since Discord compares nonces across all of the bot's messages.
    """
    digest = hashlib.blake2b(
        f"{destination}|{kind}|{killmail_id}".encode(), digest_size=16
    ).hexdigest()
    head = f"{kind}{killmail_id}-"
    room = NONCE_LENGTH - len(head)
    if room < 8:  # an implausibly long id: the hash alone stays unique
        return (kind + digest)[:NONCE_LENGTH]
    return head + digest[:room]


def render(
    delivery: Delivery, options: Sequence[PostOptions], *, now: datetime
) -> Rendered:
    """The delivery in the richest style its subscriptions ask for (full > compact > link),
    coloured from the perspective of the first subscription the kill concerns."""
    kill = delivery.kill
    chosen = options or (PostOptions(),)
    style = max((o.style for o in chosen), key=lambda s: _RICHNESS.get(s, 2))
    perspectives = [o.perspective for o in chosen if o.perspective]
    perspective = next((p for p in perspectives if p.outcome(kill) is not None), None)
    if perspective is None and perspectives:
        perspective = perspectives[0]
    pings = tuple((o.mention, o.cooldown_seconds) for o in chosen if o.mention)
    if style == "link":
        return Rendered(delivery, None, kill_link(kill), pings)
    embed_style: EmbedStyle = "compact" if style == "compact" else "full"
    embed = kill_embed(kill, style=embed_style, perspective=perspective, now=now)
    return Rendered(delivery, embed, None, pings)


def mention_text(mention: str) -> str | None:
    """What goes in the content for a configured ping; None for one we do not understand."""
    if mention in ("here", "everyone"):
        return f"@{mention}"
    role = _ROLE.fullmatch(mention)
    return f"<@&{role.group(1)}>" if role else None


def allowed_mentions(pings: Iterable[str]) -> discord.AllowedMentions:
    """Nothing may ping but these: never a user, never a name from the data."""
    chosen = list(pings)
    everyone = any(p in ("here", "everyone") for p in chosen)
    roles = [discord.Object(int(m.group(1))) for p in chosen if (m := _ROLE.fullmatch(p))]
    return discord.AllowedMentions(
        everyone=everyone, users=False, roles=roles or False, replied_user=False
    )


def next_post(
    destination: str,
    pending: Sequence[Rendered],
    ready: Callable[[str, float], bool],
    *,
    most: int | None = None,
) -> Post:
    """The first message of what is pending: as many leading items of the same kind (embeds
    or links) as one message holds, and the pings they are due (`ready(mention, cooldown)`).
    `most` caps how many items it carries (1 isolates a kill Discord refused)."""
    if not pending:
        raise ValueError("nothing to post")
    links = pending[0].embed is None
    run: list[Rendered] = []
    for item in pending:
        if (item.embed is None) != links or (most is not None and len(run) >= most):
            break
        run.append(item)
    if links:
        items = _link_run(run)
        pings = _due(items, ready)
        lines = [text for p in pings if (text := mention_text(p))]
        content = "\n".join([" ".join(lines)] if lines else [])
        content = "\n".join(filter(None, [content, *(i.link or "" for i in items)]))
        embeds: tuple[discord.Embed, ...] = ()
    else:
        first = pack(item.embed for item in run if item.embed is not None)[0]
        items = run[: len(first)]
        pings = _due(items, ready)
        content = " ".join(text for p in pings if (text := mention_text(p)))
        embeds = tuple(first)
    nonce = nonce_for(destination, items[0].kill_id)
    return Post(tuple(items), nonce, content or None, embeds, pings)


def _link_run(run: list[Rendered]) -> list[Rendered]:
    items: list[Rendered] = []
    used = _PING_ROOM
    for item in run[:LINKS_PER_MESSAGE]:
        cost = len(item.link or "") + 1
        if items and used + cost > CONTENT_LIMIT:
            break
        items.append(item)
        used += cost
    return items


def _due(items: Sequence[Rendered], ready: Callable[[str, float], bool]) -> tuple[str, ...]:
    due: list[str] = []
    used = 0
    for item in items:
        for mention, cooldown in item.pings:
            text = mention_text(mention)
            if text is None:
                log.warning("ignoring a mention Discord would not understand: %r", mention)
                continue
            if mention in due or not ready(mention, cooldown):
                continue
            if used + len(text) + 1 > _PING_ROOM:
                break
            due.append(mention)
            used += len(text) + 1
    return tuple(due)


def kill_ids_in(message: discord.Message) -> set[int]:
    """The killmails a posted message shows, read back from its links: what Discord returns
    for a nonce it has seen is the message first posted, which may carry other kills."""
    texts = [message.content or ""]
    for embed in message.embeds:
        texts.extend(filter(None, (embed.url, embed.title, embed.description)))
    return {int(found) for text in texts for found in _KILL_URL.findall(text)}
