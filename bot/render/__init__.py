"""How kills look in Discord: embeds per style, size limits, the live battle summary.

Pure functions of enriched kills: nothing here talks to Discord, so all of it is tested offline.
"""

from bot.render.battle import BattleSummary, NotableLoss, Side, battle_embed
from bot.render.embeds import (
    KILL_COLOUR,
    LOSS_COLOUR,
    NEUTRAL_COLOUR,
    EmbedStyle,
    Style,
    kill_colour,
    kill_embed,
    kill_link,
)
from bot.render.limits import embed_size, fit_embed, pack, within_limits
from bot.render.perspective import Outcome, Perspective

__all__ = [
    "KILL_COLOUR",
    "LOSS_COLOUR",
    "NEUTRAL_COLOUR",
    "BattleSummary",
    "EmbedStyle",
    "NotableLoss",
    "Outcome",
    "Perspective",
    "Side",
    "Style",
    "battle_embed",
    "embed_size",
    "fit_embed",
    "kill_colour",
    "kill_embed",
    "kill_link",
    "pack",
    "within_limits",
]
