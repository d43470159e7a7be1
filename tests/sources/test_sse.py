"""The SSE parser against the WHATWG event-stream rules, and against any chunking of a stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sources.sse import SSEEvent, SSEParser


def parse(*chunks: bytes, last_event_id: str | None = None) -> list[SSEEvent]:
    parser = SSEParser(last_event_id)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_data_lines_are_joined_with_newlines_and_a_blank_line_dispatches() -> None:
    events = parse(b"data: first\ndata: second\n\ndata: third\n\n")
    assert events == [
        SSEEvent("message", "first\nsecond", None),
        SSEEvent("message", "third", None),
    ]


def test_event_names_the_type_and_resets_after_each_dispatch() -> None:
    events = parse(b"event: killmail_update\ndata: {}\n\ndata: x\n\n")
    assert [e.type for e in events] == ["killmail_update", "message"]


def test_only_one_leading_space_is_stripped_and_a_colon_in_the_value_stays() -> None:
    events = parse(b"data:  two spaces\ndata:none\ndata: a: b\n\n")
    assert events[0].data == " two spaces\nnone\na: b"


def test_a_field_without_a_colon_has_an_empty_value() -> None:
    # "data" alone adds an empty line to the data: the event is dispatched with data "".
    assert parse(b"data\n\n") == [SSEEvent("message", "", None)]
    assert parse(b"data\ndata\n\n") == [SSEEvent("message", "\n", None)]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = parse(b": ping\n:\nfoo: bar\nData: no\ndata: kept\n: between\n\n")
    assert events == [SSEEvent("message", "kept", None)]


def test_an_event_without_data_is_not_dispatched_and_its_name_does_not_leak() -> None:
    assert parse(b"event: heartbeat\n\ndata: x\n\n") == [SSEEvent("message", "x", None)]


def test_crlf_lf_and_cr_all_end_lines() -> None:
    expected = [SSEEvent("a", "1\n2", "7")]
    assert parse(b"id: 7\r\nevent: a\r\ndata: 1\r\ndata: 2\r\n\r\n") == expected
    assert parse(b"id: 7\revent: a\rdata: 1\rdata: 2\r\r") == expected
    assert parse(b"id: 7\nevent: a\rdata: 1\r\ndata: 2\n\r") == expected


def test_a_crlf_split_between_chunks_is_one_line_ending() -> None:
    # Read as CR then LF, the split would be a blank line and dispatch "a" on its own.
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SSEEvent("message", "a\nb", None)]
    assert parse(b"data: a\r", b"", b"\ndata: b\r", b"\r") == [SSEEvent("message", "a\nb", None)]


def test_a_cr_inside_a_chunk_does_not_swallow_a_lf_starting_the_next() -> None:
    assert parse(b"data: a\rdata: b", b"\n\n") == [SSEEvent("message", "a\nb", None)]


def test_a_utf8_sequence_split_between_chunks_is_decoded_whole() -> None:
    encoded = "data: Ünïcødé ⚔️ 🚀\n\n".encode()
    cut = encoded.index("🚀".encode()) + 2
    assert parse(encoded[:cut], encoded[cut:]) == [SSEEvent("message", "Ünïcødé ⚔️ 🚀", None)]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert parse(b"data: a\xffb\n\n") == [SSEEvent("message", "a\ufffdb", None)]


def test_one_leading_bom_is_ignored_even_when_split() -> None:
    bom = "\ufeff".encode()
    assert parse(bom + b"data: x\n\n") == [SSEEvent("message", "x", None)]
    assert parse(bom[:1], bom[1:] + b"data: x\n\n") == [SSEEvent("message", "x", None)]
    # A second BOM is part of the field name, which no longer says "data".
    assert parse(bom + bom + b"data: x\n\n") == []


def test_the_id_carries_over_to_later_events_until_reset() -> None:
    events = parse(b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == ["5", "5", None]


def test_an_id_only_block_moves_the_last_event_id_without_an_event() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 41\n\n") == []
    assert parser.last_event_id == "41"


def test_an_id_containing_nul_is_ignored() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 3\n\nid: 4\x00x\ndata: y\n\n") == [SSEEvent("message", "y", "3")]
    assert parser.last_event_id == "3"


def test_the_last_event_id_is_only_committed_at_dispatch() -> None:
    parser = SSEParser("2")
    parser.feed(b"id: 3\ndata: half")
    assert parser.last_event_id == "2"  # the connection may drop here: resume after 2


def test_a_previous_connections_id_is_the_starting_point() -> None:
    assert parse(b"data: x\n\n", last_event_id="9") == [SSEEvent("message", "x", "9")]


def test_retry_takes_ascii_digits_only() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 2500\n\n")
    assert parser.retry == 2500
    parser.feed(b"retry: 12a\nretry: -1\nretry:\nretry: \xd9\xa3\n\n")  # last: ARABIC-INDIC 3
    assert parser.retry == 2500
    parser.feed(b"retry:10\n\n")
    assert parser.retry == 10


def test_an_unfinished_event_is_never_dispatched() -> None:
    assert parse(b"data: no blank line yet\n") == []
    assert parse(b"data: no line end at all") == []


# --- any chunking gives the same events ---

_line_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)
_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    min_size=1,
    max_size=6,
)
_block = st.tuples(
    st.one_of(st.none(), _ids),  # id
    st.one_of(st.none(), st.sampled_from(["killmail", "killmail_update", "heartbeat", ""])),
    st.lists(_line_text, max_size=3),  # data lines
    st.booleans(),  # a comment in the block
)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    blocks = draw(st.lists(_block, max_size=6))
    endings = st.sampled_from(["\n", "\r\n", "\r"])
    text = "\ufeff" if draw(st.booleans()) else ""
    expected: list[SSEEvent] = []
    last_id = ""
    for event_id, event_type, data, comment in blocks:
        lines: list[str] = []
        if comment:
            lines.append(": keep-alive " + draw(_line_text))
        if event_id is not None:
            lines.append("id: " + event_id)
            last_id = event_id
        if event_type is not None:
            lines.append("event: " + event_type)
        lines.extend("data: " + value for value in data)
        lines.append("")
        for line in lines:
            ending = draw(endings)
            if not line and text.endswith("\r") and ending == "\n":
                ending = "\r"  # CR then an empty line ended by LF would read as one CRLF
            text += line + ending
        if data:
            expected.append(SSEEvent(event_type or "message", "\n".join(data), last_id or None))
    return text.encode(), expected


@settings(max_examples=300, deadline=None)
@given(stream=_streams(), data=st.data())
def test_any_chunking_of_a_stream_gives_the_events_it_was_built_from(
    stream: tuple[bytes, list[SSEEvent]], data: st.DataObject
) -> None:
    encoded, expected = stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=12)))
    chunks = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
    assert parse(*chunks) == expected
    assert parse(encoded) == expected


@settings(max_examples=200, deadline=None)
@given(encoded=st.binary(max_size=200), data=st.data())
def test_any_chunking_of_arbitrary_bytes_gives_the_same_events_and_state(
    encoded: bytes, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(encoded)), max_size=10)))
    whole, pieces = SSEParser(), SSEParser()
    expected = whole.feed(encoded)
    got = [e for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)
           for e in pieces.feed(encoded[a:b])]
    assert got == expected
    assert (pieces.last_event_id, pieces.retry) == (whole.last_event_id, whole.retry)


def test_one_byte_at_a_time_matches_whole_feeding_on_a_real_looking_stream() -> None:
    stream = (
        b"retry: 2000\n\n: ping\n\nid: 1\nevent: killmail_update\n"
        b'data: {"system_id": 30000142,\ndata:  "killmails": []}\n\n'
        b"id: 2\r\ndata: {\"killmail_id\": 1}\r\n\r\n"
    )
    assert parse(*(stream[i : i + 1] for i in range(len(stream)))) == parse(stream)
    assert len(parse(stream)) == 2
