"""The kill stream as the settings describe it (`[scale]`)."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Settings
from engine.scale.stream import KillStream

__all__ = ["stream_for"]


def stream_for(settings: Settings) -> KillStream:
    """Not yet open: ``async with stream_for(settings) as stream``."""
    scale = settings.scale
    minutes = scale.stream_max_age_minutes
    return KillStream(
        scale.redis_url,
        scale.stream,
        password=settings.redis_password(),
        maxlen=scale.stream_maxlen,
        max_age=timedelta(minutes=minutes) if minutes else None,
    )
