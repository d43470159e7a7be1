"""What can go wrong talking to ESI, as exceptions a caller can act on.

Messages name the route and the status, never a request body, a token or more than a short
excerpt of what ESI answered.
"""

from __future__ import annotations

__all__ = [
    "EsiBadResponse",
    "EsiError",
    "EsiNotFound",
    "EsiRejected",
    "EsiUnavailable",
    "excerpt",
]

_EXCERPT = 120


def excerpt(body: bytes | str, limit: int = _EXCERPT) -> str:
    """A short, printable piece of a response body for a log line or an error message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EsiError(Exception):
    """Base of every ESI failure."""


class EsiNotFound(EsiError, LookupError):
    """It does not exist: a 404, or a killmail whose hash does not match its id (422).

    A `LookupError` too, the feeds' signal for "skip it, do not retry".
    """


class EsiRejected(EsiError):
    """ESI refused the request itself (400, 403, 422...): asking again would not help."""

    def __init__(self, status: int, route: str, detail: str = "") -> None:
        self.status = status
        self.route = route
        message = f"ESI refused {route} with HTTP {status}"
        super().__init__(f"{message}: {detail}" if detail else message)


class EsiUnavailable(EsiError):
    """ESI could not be asked or did not answer in time; ``reason`` says which, for status.

    Reasons: ``circuit_open``, ``error_limited``, ``rate_limited``, ``server_error``,
    ``timeout``, ``connection``, ``malformed``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"ESI unavailable ({reason}): {detail}" if detail else reason)


class EsiBadResponse(EsiUnavailable):
    """A 200 whose body is not the JSON the route promises (truncated, malformed, wrong shape)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("malformed", detail)
