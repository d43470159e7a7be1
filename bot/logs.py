"""Logging for the process: one line per event on stderr, with secrets scrubbed out.

Three formats, chosen by ``[logging] format``: ``text`` for a person at a terminal (a
traceback spans lines), and ``keyvalue`` or ``json`` for a log collector, where every event is
exactly one line, a traceback included, and fields passed as ``extra={...}`` are keys of their
own. Per-kill lines go to the ``killwatch.kills`` logger, which stays quiet unless
``[logging] kills`` asks for it: a busy feed would otherwise drown everything else.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from engine.pipeline import KILLS_LOGGER

__all__ = [
    "KILLS_LOGGER",
    "JsonFormatter",
    "KeyValueFormatter",
    "LogFormat",
    "ScrubbingFormatter",
    "setup_logging",
]

LogFormat = Literal["text", "keyvalue", "json"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_MASK: Final = "**********"
# What every LogRecord carries; anything else on a record came in through `extra`.
_STANDARD: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text


class ScrubbingFormatter(logging.Formatter):
    """Plain text; replaces every known secret in the finished line, tracebacks included."""

    def __init__(self, secrets: Iterable[str], fmt: str = _FORMAT) -> None:
        super().__init__(fmt)
        self._scrub = _Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._scrub(super().format(record))


class _FieldsFormatter(logging.Formatter):
    """The fields of one event, each scrubbed before it is written out (a secret written
    into JSON could come out escaped and no longer match)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._scrub = _Scrubber(secrets)

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self._scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                fields[key] = self._plain(value)
        if record.exc_info:
            fields["exc"] = self._scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            fields["exc"] = self._scrub(record.exc_text)
        if record.stack_info:
            fields["stack"] = self._scrub(self.formatStack(record.stack_info))
        return fields

    def _plain(self, value: object) -> object:
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._scrub(str(value))


class JsonFormatter(_FieldsFormatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return orjson.dumps(self.fields(record), default=str).decode()


class KeyValueFormatter(_FieldsFormatter):
    """``key=value`` pairs (logfmt): values with spaces, quotes or ``=`` are quoted, and
    newlines escaped so that a traceback stays on its event's line."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt(value)}" for key, value in self.fields(record).items())


def _logfmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\r\t'):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def formatter_for(log_format: LogFormat, secrets: Iterable[str] = ()) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(secrets)
    if log_format == "keyvalue":
        return KeyValueFormatter(secrets)
    return ScrubbingFormatter(secrets)


def setup_logging(
    level: str,
    secrets: Iterable[str] = (),
    *,
    log_format: LogFormat = "text",
    kills: bool = False,
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(log_format, secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger(KILLS_LOGGER).setLevel(logging.INFO if kills else logging.WARNING)
    # Chatty at INFO about connections it manages; we log what matters ourselves.
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs every job start and finish at INFO; engine.jobs reports failures.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
