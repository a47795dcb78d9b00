"""Writing request events: raw rows plus per-minute and per-hour rollups, in one transaction.

A batch is first aggregated in memory per (bucket, service, version, route, model), then
each aggregate is merged into its stored row. Several processes may write the same bucket
at once, so the merge is race-free on both engines:

* PostgreSQL: ``INSERT … ON CONFLICT DO NOTHING`` creates empty rows for the keys nobody
  has yet, then every row is read ``FOR UPDATE``, merged in Python and updated. Keys are
  handled in sorted order so that two writers lock rows in the same order (no deadlock).
* SQLite: the raw insert comes first, which takes the database's write lock for the rest
  of the transaction, so the read-merge-update cannot interleave with another writer.

The empty insert has no RETURNING on purpose: a multi-row INSERT … RETURNING is sent as
one statement with tens of thousands of parameters, which costs far more to prepare than
the extra SELECT and UPDATE cost to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from prodloop.config import TelemetryConfig
from prodloop.errors import StoreError
from prodloop.store.schema import request_events, rollups_hour, rollups_minute
from prodloop.telemetry.events import SERVER_ERRORS, RequestEvent
from prodloop.telemetry.histogram import Histogram

MINUTE_S = 60
HOUR_S = 3600
DAY_S = 86400

# (bucket start, service, version, route, model or "")
RollupKey = tuple[int, str, str, str, str]
KEY_COLUMNS = ("bucket", "service", "version", "route", "model")

# Longest text each column takes; longer values are cut rather than failing a whole batch.
_SERVICE_LEN = 128
_VERSION_LEN = 128
_ROUTE_LEN = 256
_MODEL_LEN = 256
_KEYS_PER_STATEMENT = 500


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add a {name: n} mapping into another, name by name."""
    for name, n in counts.items():
        into[name] = into.get(name, 0) + n


def encode_counts(counts: Mapping[str, int]) -> str:
    """A {name: n} mapping as the JSON text rollup rows keep."""
    return orjson.dumps(dict(counts), option=orjson.OPT_SORT_KEYS).decode()


def decode_counts(text: str | None) -> dict[str, int]:
    """The {name: n} mapping of a rollup row's JSON column."""
    if not text or text == "{}":
        return {}
    loaded = orjson.loads(text)
    if not isinstance(loaded, dict):
        raise StoreError(f"corrupt rollup counts: {text[:80]!r}")
    return {str(k): int(v) for k, v in loaded.items()}


@dataclass(slots=True)
class Aggregate:
    """Everything a rollup row says about the requests of one bucket and key."""

    count: int = 0
    errors: int = 0
    successes: int = 0
    errors_by_class: dict[str, int] = field(default_factory=dict)
    latency_sum_ms: float = 0.0
    latency_hist: Histogram = field(default_factory=Histogram)
    ttft_count: int = 0
    ttft_hist: Histogram = field(default_factory=Histogram)
    stream_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: int = 0
    cost_unknown: int = 0
    guardrail_requests: int = 0
    guardrail_counts: dict[str, int] = field(default_factory=dict)

    def add(self, event: RequestEvent) -> None:
        """Count one event in."""
        self.count += 1
        error_class = event.error_class
        if error_class is None:
            self.successes += 1
        else:
            self.errors_by_class[error_class] = self.errors_by_class.get(error_class, 0) + 1
            if error_class in SERVER_ERRORS:
                self.errors += 1
        self.latency_sum_ms += event.latency_ms
        self.latency_hist.add(event.latency_ms)
        if event.ttft_ms is not None:
            self.ttft_count += 1
            self.ttft_hist.add(event.ttft_ms)
        if event.is_stream:
            self.stream_count += 1
        self.input_tokens += event.input_tokens
        self.output_tokens += event.output_tokens
        self.cached_tokens += event.cached_tokens
        self.reasoning_tokens += event.reasoning_tokens
        if event.cost_usd is None:
            self.cost_unknown += 1
        else:
            self.cost_known += 1
            self.cost_usd += event.cost_usd
        if event.guardrails:
            self.guardrail_requests += 1
            for name in event.guardrails:
                self.guardrail_counts[name] = self.guardrail_counts.get(name, 0) + 1

    def merge(self, other: Aggregate) -> None:
        """Add another aggregate of the same key into this one."""
        self.count += other.count
        self.errors += other.errors
        self.successes += other.successes
        add_counts(self.errors_by_class, other.errors_by_class)
        self.latency_sum_ms += other.latency_sum_ms
        self.latency_hist.merge(other.latency_hist)
        self.ttft_count += other.ttft_count
        self.ttft_hist.merge(other.ttft_hist)
        self.stream_count += other.stream_count
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost_usd += other.cost_usd
        self.cost_known += other.cost_known
        self.cost_unknown += other.cost_unknown
        self.guardrail_requests += other.guardrail_requests
        add_counts(self.guardrail_counts, other.guardrail_counts)

    def to_row(self) -> dict[str, Any]:
        """The aggregate's columns, ready for an INSERT or UPDATE (key columns excluded)."""
        return {
            "count": self.count,
            "errors": self.errors,
            "successes": self.successes,
            "errors_by_class": encode_counts(self.errors_by_class),
            "latency_sum_ms": self.latency_sum_ms,
            "latency_hist": self.latency_hist.to_bytes(),
            "ttft_count": self.ttft_count,
            "ttft_hist": self.ttft_hist.to_bytes(),
            "stream_count": self.stream_count,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": self.cost_usd,
            "cost_known": self.cost_known,
            "cost_unknown": self.cost_unknown,
            "guardrail_requests": self.guardrail_requests,
            "guardrail_counts": encode_counts(self.guardrail_counts),
        }

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Aggregate:
        """The aggregate a stored rollup row holds."""
        return cls(
            count=row["count"],
            errors=row["errors"],
            successes=row["successes"],
            errors_by_class=decode_counts(row["errors_by_class"]),
            latency_sum_ms=row["latency_sum_ms"],
            latency_hist=Histogram.from_bytes(row["latency_hist"]),
            ttft_count=row["ttft_count"],
            ttft_hist=Histogram.from_bytes(row["ttft_hist"]),
            stream_count=row["stream_count"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cached_tokens=row["cached_tokens"],
            reasoning_tokens=row["reasoning_tokens"],
            cost_usd=row["cost_usd"],
            cost_known=row["cost_known"],
            cost_unknown=row["cost_unknown"],
            guardrail_requests=row["guardrail_requests"],
            guardrail_counts=decode_counts(row["guardrail_counts"]),
        )


def aggregate_by_minute(events: Iterable[RequestEvent]) -> dict[RollupKey, Aggregate]:
    """Aggregates of `events` per minute bucket and key."""
    aggregates: dict[RollupKey, Aggregate] = {}
    for event in events:
        key = (
            int(event.ts // MINUTE_S) * MINUTE_S,
            event.service[:_SERVICE_LEN],
            event.version[:_VERSION_LEN],
            event.route[:_ROUTE_LEN],
            (event.model or "")[:_MODEL_LEN],
        )
        aggregate = aggregates.get(key)
        if aggregate is None:
            aggregate = aggregates[key] = Aggregate()
        aggregate.add(event)
    return aggregates


def coarsen(aggregates: Mapping[RollupKey, Aggregate], bucket_s: int) -> dict[RollupKey, Aggregate]:
    """The same aggregates re-bucketed into wider buckets (e.g. minutes into hours)."""
    wider: dict[RollupKey, Aggregate] = {}
    for (bucket, *rest), aggregate in aggregates.items():
        key: RollupKey = (bucket // bucket_s * bucket_s, rest[0], rest[1], rest[2], rest[3])
        target = wider.get(key)
        if target is None:
            target = wider[key] = Aggregate()
        target.merge(aggregate)
    return wider


def _raw_row(event: RequestEvent) -> dict[str, Any]:
    return {
        "ts": event.ts,
        "request_id": event.request_id[:64],
        "trace_id": event.trace_id[:32],
        "service": event.service[:_SERVICE_LEN],
        "version": event.version[:_VERSION_LEN],
        "route": event.route[:_ROUTE_LEN],
        "model": None if event.model is None else event.model[:_MODEL_LEN],
        "provider": None if event.provider is None else event.provider[:64],
        "status": event.status,
        "error_class": event.error_class,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "is_stream": event.is_stream,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "cached_tokens": event.cached_tokens,
        "reasoning_tokens": event.reasoning_tokens,
        "cost_usd": event.cost_usd,
        "guardrails": ",".join(event.guardrails),
        "flags": event.flags[:1024],
        "user_id": None if event.user is None else event.user[:256],
        "overhead_ms": event.overhead_ms,
        "source": event.source,
    }


def write_events(engine: Engine, events: Sequence[RequestEvent]) -> None:
    """Store a batch: raw rows and merged minute and hour rollups, all or nothing."""
    if not events:
        return
    minutes = aggregate_by_minute(events)
    hours = coarsen(minutes, HOUR_S)
    with engine.begin() as conn:
        # On SQLite this first write takes the write lock the rollup merge relies on.
        conn.execute(request_events.insert(), [_raw_row(event) for event in events])
        _merge_rollups(conn, rollups_minute, minutes)
        _merge_rollups(conn, rollups_hour, hours)


def _merge_rollups(
    conn: Connection, table: Table, aggregates: Mapping[RollupKey, Aggregate]
) -> None:
    """Merge each aggregate into its stored row, creating the rows that do not exist yet."""
    keys = sorted(aggregates)
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    key_columns = [table.c[name] for name in KEY_COLUMNS]
    empty = Aggregate().to_row()
    conn.execute(
        insert(table).on_conflict_do_nothing(index_elements=key_columns),
        [dict(zip(KEY_COLUMNS, key, strict=True), **empty) for key in keys],
    )
    merged = _merge_existing(conn, table, keys, aggregates)
    if len(merged) != len(keys):
        # Only prune deletes rollup rows, and only old ones; the pipeline retries the batch.
        raise StoreError(f"{len(keys) - len(merged)} rows vanished from {table.name} mid-merge")


def _merge_existing(
    conn: Connection,
    table: Table,
    keys: Sequence[RollupKey],
    aggregates: Mapping[RollupKey, Aggregate],
) -> set[RollupKey]:
    """Lock the stored rows of `keys`, add the aggregates in and write them back."""
    key_columns = [table.c[name] for name in KEY_COLUMNS]
    updated: set[RollupKey] = set()
    params: list[dict[str, Any]] = []
    for start in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[start : start + _KEYS_PER_STATEMENT]
        query = (
            select(table)
            .where(tuple_(*key_columns).in_(chunk))
            .order_by(*key_columns)
            .with_for_update()
        )
        for row in conn.execute(query).mappings():
            key: RollupKey = (
                int(row["bucket"]),
                row["service"],
                row["version"],
                row["route"],
                row["model"],
            )
            stored = Aggregate.from_row(row)
            stored.merge(aggregates[key])
            updated.add(key)
            key_params = {f"k_{name}": part for name, part in zip(KEY_COLUMNS, key, strict=True)}
            params.append({**key_params, **stored.to_row()})
    if params:
        # Key parameters are prefixed: an UPDATE may not bind a column's own name in WHERE.
        statement = (
            update(table)
            .where(*(table.c[name] == bindparam(f"k_{name}") for name in KEY_COLUMNS))
            .values({name: bindparam(name) for name in Aggregate().to_row()})
        )
        conn.execute(statement, params)
    return updated


def prune(engine: Engine, telemetry_config: TelemetryConfig, now: float) -> dict[str, int]:
    """Delete raw events and rollups older than their retention; rows deleted per table."""
    cutoffs = {
        request_events: now - telemetry_config.raw_retention_days * DAY_S,
        rollups_minute: now - telemetry_config.minute_rollup_retention_days * DAY_S,
        rollups_hour: now - telemetry_config.hour_rollup_retention_days * DAY_S,
    }
    deleted: dict[str, int] = {}
    with engine.begin() as conn:
        for table, cutoff in cutoffs.items():
            # A rollup bucket goes once it has started before the cutoff: keeping it would
            # keep data older than the retention promises.
            column = table.c.ts if table is request_events else table.c.bucket
            result = conn.execute(delete(table).where(column < cutoff))
            deleted[table.name] = result.rowcount
    return deleted
