from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from prodloop.gateway.sse import SseParser

STREAM = (
    b'data: {"a": 1}\n\n'
    b": keep-alive\n\n"
    b'event: response.completed\r\ndata: {"b": 2}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"data:no-space\r\rdata: [DONE]\n\n"
)


def _parse(chunks: list[bytes]) -> list[tuple[bytes, str | None, bytes | None]]:
    parser = SseParser()
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return [(e.raw, e.event, e.data) for e in events]


def test_events_fields_and_exact_bytes() -> None:
    events = _parse([STREAM])
    assert [(name, data) for _, name, data in events] == [
        (None, b'{"a": 1}'),
        (None, None),  # a comment carries no data
        ("response.completed", b'{"b": 2}'),
        (None, b"line one\nline two"),
        (None, b"no-space"),
        (None, b"[DONE]"),
    ]
    assert b"".join(raw for raw, _, _ in events) == STREAM


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert _parse(chunks) == _parse([STREAM])


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    events = _parse([b"data: x\r", b"\n\r", b"\ndata: y\n\n"])
    assert [data for _, _, data in events] == [b"x", b"y"]


def test_unterminated_tail_comes_out_on_close() -> None:
    parser = SseParser()
    assert parser.feed(b"data: partial") == []
    assert parser.has_partial
    (event,) = parser.close()
    assert event.data == b"partial" and event.raw == b"data: partial"
    assert not parser.has_partial
