"""Captured analytics events: one validated shape for every wire format, stored idempotently.

PostHog, Amplitude, the widget and prodloop's own /ingest/events all become
`AnalyticsEvent`s through `build_event`, which holds the limits every source obeys; the
event's `uuid` (PostHog's uuid, `$insert_id`, Amplitude's insert_id) makes a retry store
nothing new.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from prodloop.errors import ValidationError

MAX_EVENT_CHARS = 200
MAX_ID_CHARS = 200
MAX_UUID_CHARS = 128
MAX_PATH_CHARS = 1024
MAX_PROPERTIES_BYTES = 64 * 1024
# Clocks drift and queues replay, but an event a day ahead is a unit mistake (ms for s).
MAX_FUTURE_S = 86_400.0
EARLIEST_TS = 946_684_800.0  # 2000-01-01: older "timestamps" are zeros or garbage
SOURCES = ("posthog", "amplitude", "prodloop", "widget")
# The version (4) and variant (RFC 4122) bits of a random UUID.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """One product event as stored in analytics_events."""

    uuid: str
    event: str
    distinct_id: str
    ts: float
    source: str
    session_id: str | None = None
    path: str | None = None
    x: float | None = None
    y: float | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def new_uuid() -> str:
    """An idempotency key (a version-4 UUID) for an event that came without one."""
    # Uniqueness is all it needs, not secrecy: random's generator (reseeded after fork)
    # avoids a system call per event, which os.urandom costs on the ingest hot path.
    value = random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def parse_timestamp(value: object, where: str, now: float) -> float:
    """Unix seconds from ISO-8601 text or a number of seconds; `now` when absent."""
    if value is None:
        return now
    return check_timestamp(to_seconds(value, where), where, now)


def to_seconds(value: object, where: str) -> float:
    """Unix seconds from ISO-8601 text (naive means UTC) or a number of seconds."""
    if isinstance(value, bool):
        raise ValidationError("must be ISO-8601 text or Unix seconds, not a boolean", field=where)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _iso_seconds(value, where)
    raise ValidationError("must be ISO-8601 text or Unix seconds", field=where)


def check_timestamp(ts: float, where: str, now: float) -> float:
    """`ts` itself, when it is a sane time: not before 2000 nor more than a day ahead."""
    if not math.isfinite(ts):
        raise ValidationError("must be a finite time", field=where)
    if ts > now + MAX_FUTURE_S:
        raise ValidationError(
            f"is more than a day in the future ({_iso(ts)}; is it milliseconds?)", field=where
        )
    if ts < EARLIEST_TS:
        raise ValidationError(f"is before the year 2000 ({ts!r})", field=where)
    return ts


def _iso_seconds(text: str, where: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"is not an ISO-8601 time: {text[:40]!r}", field=where) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # as PostHog reads a naive time
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError) as exc:
        raise ValidationError(f"is out of range: {text[:40]!r}", field=where) from exc


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return repr(ts)


def text_field(
    value: object, where: str, *, limit: int, required: bool = False, numbers: bool = False
) -> str | None:
    """A non-empty string of at most `limit` characters (numbers become text if allowed)."""
    if value is None or value == "":
        if required:
            raise ValidationError("is required", field=where)
        return None
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(f"must be a string, not {_kind(value)}", field=where)
    if len(value) > limit:
        raise ValidationError(f"is longer than {limit} characters", field=where)
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters", field=where)
    return value


def properties_field(value: object, where: str) -> dict[str, Any]:
    """A JSON object of bounded size ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"must be an object, not {_kind(value)}", field=where)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValidationError(f"is not storable as JSON: {exc}", field=where) from exc
    if size > MAX_PROPERTIES_BYTES:
        raise ValidationError(
            f"is {size} bytes as JSON; at most {MAX_PROPERTIES_BYTES} are kept", field=where
        )
    return value


def fraction_field(value: object, where: str) -> float | None:
    """A share of the viewport, 0..1 (click positions)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("must be a number from 0 to 1", field=where)
    if not 0.0 <= float(value) <= 1.0:
        raise ValidationError(f"must be from 0 to 1, not {value!r}", field=where)
    return float(value)


def build_event(
    where: str,
    *,
    source: str,
    event: object,
    distinct_id: object,
    ts: float,
    uuid: object = None,
    session_id: object = None,
    path: object = None,
    x: object = None,
    y: object = None,
    properties: object = None,
) -> AnalyticsEvent:
    """Check one event against the limits every source obeys; errors name the field
    under `where` (e.g. "batch[3]")."""
    if source not in SOURCES:
        raise ValueError(f"unknown analytics source {source!r}")
    try:
        name = text_field(event, "event", limit=MAX_EVENT_CHARS, required=True)
        who = text_field(
            distinct_id, "distinct_id", limit=MAX_ID_CHARS, required=True, numbers=True
        )
        assert name is not None and who is not None
        return AnalyticsEvent(
            uuid=text_field(uuid, "uuid", limit=MAX_UUID_CHARS, numbers=True) or new_uuid(),
            event=name,
            distinct_id=who,
            ts=ts,
            source=source,
            session_id=text_field(session_id, "session_id", limit=MAX_ID_CHARS, numbers=True),
            path=text_field(path, "path", limit=MAX_PATH_CHARS),
            x=fraction_field(x, "x"),
            y=fraction_field(y, "y"),
            properties=properties_field(properties, "properties"),
        )
    except ValidationError as exc:
        # Field paths are built only for the error: most events have none.
        raise ValidationError(exc.message, field=at(where, exc.field or "")) from None


def at(where: str, name: str) -> str:
    """The path of a field inside `where` ("" is the top level)."""
    return f"{where}.{name}" if where else name


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", str: "a string"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def store_events(engine: Engine, events: Sequence[AnalyticsEvent], now: float) -> tuple[int, int]:
    """Store a request's events in one transaction; (stored, duplicates).

    A uuid already stored, or repeated within the batch, is a duplicate: a retried
    request stores nothing twice and still succeeds.
    """
    if not events:
        return 0, 0
    with engine.begin() as conn:
        inserted = _insert_new(conn, _rows(events, now))
    return len(inserted), len(events) - len(inserted)


class EventWriter:
    """`store_events` for many concurrent requests, with one commit for all of them.

    A commit is the slow part of a small write (an fsync on PostgreSQL, a WAL write and
    lock hand-over on SQLite). Requests queue their batches; whichever finds the store
    free writes every queued batch in one transaction and tells each its own counts. A
    failed transaction fails every batch in it, so an answer is never "stored" unless
    the batch is.
    """

    def __init__(self, engine: Engine, *, max_events: int = 20_000) -> None:
        self.engine = engine
        self.max_events = max_events
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def store(self, events: Sequence[AnalyticsEvent], now: float) -> tuple[int, int]:
        """Like `store_events`; blocks until this batch is committed (or failed)."""
        if not events:
            return 0, 0
        pending = _Pending(list(events), now)
        with self._queue_lock:
            self._queue.append(pending)
        while not pending.done.is_set():
            with self._write_lock:
                if pending.done.is_set():
                    break
                self._write_queued()
        if pending.error is not None:
            raise pending.error
        return pending.stored, len(events) - pending.stored

    def _write_queued(self) -> None:
        with self._queue_lock:
            group: list[_Pending] = []
            size = 0
            while self._queue and (
                not group or size + len(self._queue[0].events) <= self.max_events
            ):
                item = self._queue.pop(0)
                group.append(item)
                size += len(item.events)
        if not group:
            return
        try:
            rows = [row for item in group for row in _rows(item.events, item.now)]
            with self.engine.begin() as conn:
                inserted = _insert_new(conn, rows)
        except BaseException as exc:  # every waiting request must hear of it
            for item in group:
                item.error = exc
                item.done.set()
            return
        for item in group:
            # Across the group the first batch with a uuid is the one that stored it.
            for uuid in {event.uuid for event in item.events}:
                if uuid in inserted:
                    inserted.discard(uuid)
                    item.stored += 1
            item.done.set()


@dataclass(slots=True)
class _Pending:
    events: list[AnalyticsEvent]
    now: float
    stored: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _rows(events: Sequence[AnalyticsEvent], now: float) -> list[dict[str, Any]]:
    unique: dict[str, AnalyticsEvent] = {}
    for item in events:
        unique.setdefault(item.uuid, item)
    return [_row(item, now) for item in unique.values()]


def _insert_new(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert `rows`, skipping stored uuids; the uuids actually inserted.

    ON CONFLICT DO NOTHING returns only the rows it inserted, so a concurrent retry of
    the same batch counts its events as duplicates instead of failing.
    """
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        # One array per column: a short statement psycopg prepares once, where a
        # multi-row VALUES list is re-parsed on every batch and costs more than the write.
        arrays = {name: [row[name] for row in rows] for name in _COLUMN_TYPES}
        return {row.uuid for row in conn.execute(_UNNEST_INSERT, arrays)}
    return _insert_new_sqlite(conn, rows)


def _insert_new_sqlite(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    # Multi-row VALUES … RETURNING straight to the driver: each statement is atomic, so
    # what it returns is exactly what it inserted, and SQLite caches the prepared
    # statement for each chunk size.
    inserted: set[str] = set()
    for start in range(0, len(rows), _SQLITE_CHUNK):
        chunk = rows[start : start + _SQLITE_CHUNK]
        values = ", ".join([_SQLITE_ROW] * len(chunk))
        params = tuple(row[name] for row in chunk for name in _COLUMN_TYPES)
        result = conn.exec_driver_sql(_SQLITE_INSERT.format(values=values), params)
        inserted.update(row[0] for row in result)
    return inserted


_COLUMN_TYPES = {
    "uuid": "varchar", "event": "varchar", "distinct_id": "varchar", "ts": "float8",
    "received_at": "float8", "source": "varchar", "session_id": "varchar", "path": "varchar",
    "x": "float8", "y": "float8", "properties": "text",
}  # fmt: skip
_SQLITE_CHUNK = 500  # rows per statement: 5,500 parameters, under SQLite's limit
_SQLITE_ROW = f"({', '.join('?' * len(_COLUMN_TYPES))})"
_SQLITE_INSERT = (
    f"INSERT INTO analytics_events ({', '.join(_COLUMN_TYPES)}) "
    "VALUES {values} ON CONFLICT (uuid) DO NOTHING RETURNING uuid"
)
_UNNEST_INSERT = text(
    f"INSERT INTO analytics_events ({', '.join(_COLUMN_TYPES)}) "
    "SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _COLUMN_TYPES.items())
    + ") ON CONFLICT (uuid) DO NOTHING RETURNING uuid"
)


def _row(item: AnalyticsEvent, now: float) -> dict[str, Any]:
    return {
        "uuid": item.uuid,
        "event": item.event,
        "distinct_id": item.distinct_id,
        "ts": item.ts,
        "received_at": now,
        "source": item.source,
        "session_id": item.session_id,
        "path": item.path,
        "x": item.x,
        "y": item.y,
        "properties": orjson.dumps(item.properties).decode(),
    }
