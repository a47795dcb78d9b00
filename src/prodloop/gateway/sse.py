"""An incremental Server-Sent Events parser that keeps each event's exact bytes.

The gateway forwards upstream bytes unchanged; it parses them only to meter them and,
when it asked for usage on the client's behalf, to drop that one event. So every event
carries the raw bytes it came from, and chunks may split an event (or a CRLF) anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EOL = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: its raw bytes (with the blank line ending it), name and data."""

    raw: bytes
    event: str | None
    data: bytes | None  # None when the block held no data field (comments, blank lines)


class SseParser:
    """Feed chunks as they arrive; get back the events they complete."""

    __slots__ = ("_buf", "_data", "_event", "_scan")

    def __init__(self) -> None:
        self._buf = b""  # bytes of the event in progress, from its first byte
        self._scan = 0  # offset in _buf up to which lines were already read
        self._data: list[bytes] | None = None
        self._event: str | None = None

    @property
    def has_partial(self) -> bool:
        """Whether bytes of an unfinished event are waiting for the rest of it."""
        return bool(self._buf)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Events completed by `chunk`, in order."""
        buf = self._buf + chunk if self._buf else chunk
        events: list[SseEvent] = []
        start = 0
        pos = self._scan
        end = len(buf)
        search = _EOL.search
        while pos < end:
            match = search(buf, pos)
            if match is None:
                break
            if match.end() == end and buf[end - 1 : end] == b"\r":
                break  # a lone CR at the end may be the first half of a CRLF
            line = buf[pos : match.start()]
            pos = match.end()
            if line:
                self._field(line)
            else:
                events.append(SseEvent(buf[start:pos], self._event, self._joined()))
                self._data = None
                self._event = None
                start = pos
        self._buf = buf[start:]
        self._scan = pos - start
        return events

    def close(self) -> list[SseEvent]:
        """The trailing event when the stream ended without a blank line after it."""
        if not self._buf:
            return []
        tail = self._buf
        if self._scan < len(tail):
            line = tail[self._scan :].rstrip(b"\r\n")
            if line:
                self._field(line)
        event = SseEvent(tail, self._event, self._joined())
        self._buf, self._scan, self._data, self._event = b"", 0, None, None
        return [event]

    def _field(self, line: bytes) -> None:
        if line[:1] == b":":
            return  # a comment, such as a keep-alive ping
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            if self._data is None:
                self._data = [value]
            else:
                self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")

    def _joined(self) -> bytes | None:
        data = self._data
        if data is None:
            return None
        return data[0] if len(data) == 1 else b"\n".join(data)
