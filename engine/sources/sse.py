"""A strict server-sent-events parser, fed bytes as they arrive.

It follows the WHATWG HTML "event stream interpretation" rules: UTF-8 decoding (a sequence split
between chunks is completed by the next one, invalid bytes become U+FFFD), one leading BOM
ignored, lines ended by CRLF, LF or CR (a CRLF split between chunks is still one ending),
`data:` lines joined with "\\n", `event:`, `id:` (ignored when it holds U+0000), `retry:` (ASCII
digits only), comments starting with ":", a field name without a colon meaning an empty value,
one leading space of a value stripped, and a blank line dispatching the event. An event with no
data is not dispatched, and the end of the stream discards an unfinished event.

Chunking never changes the result: feeding a stream in any pieces yields the same events.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    type: str  # "message" when the event named none
    data: str
    id: str | None  # the stream's last event id when this event was dispatched


class SSEParser:
    def __init__(self, last_event_id: str | None = None) -> None:
        """`last_event_id` carries over from a previous connection, as EventSource does."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""  # an unfinished line
        self._at_start = True  # a BOM is only skipped at the very start of the stream
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF completes it
        self._data: list[str] = []
        self._type = ""
        self._id_buffer = last_event_id or ""
        self._last_event_id = last_event_id or ""
        self.retry: int | None = None  # reconnection time in ms, once the server sets one

    @property
    def last_event_id(self) -> str | None:
        """What a reconnection sends as Last-Event-ID; None when there is none to send."""
        return self._last_event_id or None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._feed_text(self._decoder.decode(chunk))

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            text = text.removeprefix("\ufeff")
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        buffer = self._tail + text
        events: list[SSEEvent] = []
        position = 0
        for match in _LINE_END.finditer(buffer):
            event = self._line(buffer[position : match.start()])
            if event is not None:
                events.append(event)
            position = match.end()
        if position == len(buffer) and buffer.endswith("\r"):
            self._skip_lf = True
        self._tail = buffer[position:]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        self._last_event_id = self._id_buffer
        data, kind = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return SSEEvent(kind or "message", "\n".join(data), self._id_buffer or None)
