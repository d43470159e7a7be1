"""A fake Discord on 127.0.0.1: REST (/api/v10) and the gateway, for the real discord.py client.

Point discord.py at it (`tests.fakes.discord_client`) and a real `commands.Bot` logs in, gets
READY and one GUILD_CREATE per configured guild, syncs its command tree, answers the slash
commands and autocomplete a test dispatches, and posts, edits and deletes messages. Everything
is recorded, and Discord's rules are enforced:

- rate limits: a global bucket (50/s; interaction callbacks and their webhooks are exempt) and
  per-channel buckets for creating (5 per 5 s), editing (5 per 5 s) and deleting (5 per 1 s)
  messages; `X-RateLimit-Limit/-Remaining/-Reset/-Reset-After/-Bucket` on every answer of a
  bucketed route; 429s with `Retry-After`, `X-RateLimit-Scope`, `Via` and
  `{"message", "retry_after", "global"}`;
- `nonce` + `enforce_nonce`: a repeat to the same channel within `nonce_window` returns the
  message first created (counted in `nonce_dedupes`);
- the bot's permissions (roles, channel overwrites): 50001 without View Channel, 50013 without
  Send Messages (or Attach Files with files); a DM to a user who blocks DMs or shares no guild
  with the bot: 50007; unknown or deleted channels: 10003;
- message limits (2,000 characters, 10 embeds, 6,000 characters over the embeds, field and
  title sizes, a nonce of ≤ 25 characters, components v2 rules): 400/50035; empty: 50006;
- command registration limits (names, descriptions, 25 options, required before optional);
- interactions: the callback within `interaction_deadline` (3 s) and only once (10062, 40060);
  follow-ups only after it (10015); the first follow-up after a deferral fills the "thinking"
  message, as Discord does.
"""

from tests.fakes.discord.models import (
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    ChannelType,
    Guild,
    Member,
    Overwrite,
    Permission,
    Role,
    Upload,
)
from tests.fakes.discord.records import (
    Attachment,
    FilePart,
    Interaction,
    InteractionResponse,
    Message,
    Request,
)
from tests.fakes.discord.rules import DiscordError, Limit
from tests.fakes.discord.server import FakeDiscord

__all__ = [
    "DEFAULT_EVERYONE_PERMISSIONS",
    "Attachment",
    "Channel",
    "ChannelType",
    "DiscordError",
    "FakeDiscord",
    "FilePart",
    "Guild",
    "Interaction",
    "InteractionResponse",
    "Limit",
    "Member",
    "Message",
    "Overwrite",
    "Permission",
    "Request",
    "Role",
    "Upload",
]
