"""Service level indicators over a time window, answered from rollups.

A window [start, end) is split into whole hours (read from rollups_hour), the whole
minutes around them (rollups_minute) and the partial minutes at its edges (raw
request_events), so the answer equals a scan of every raw event up to the histogram's 1 %
error, while a 30-day window reads about 720 rows per series. Counters and the
{name: count} JSON columns are summed in SQL; only histograms are merged in Python.

Raw events are kept for less time than rollups, so a window starting beyond the raw
retention loses the requests of its first partial minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Table,
    case,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.sql.selectable import TableValuedAlias

from prodloop.errors import ValidationError
from prodloop.store.schema import request_events, rollups_hour, rollups_minute
from prodloop.telemetry.events import SERVER_ERRORS
from prodloop.telemetry.histogram import Histogram, merge_all
from prodloop.telemetry.rollups import HOUR_S, MINUTE_S, Aggregate, add_counts

GROUPABLE = ("service", "version", "route", "model")
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}

Source = Literal["raw", "minute", "hour"]
GroupKey = tuple[str, ...]

# Aggregate fields summed in SQL: rollup columns of the same name, or _raw_sums for raw rows.
_INT_COUNTERS = (
    "count", "errors", "successes", "ttft_count", "stream_count", "input_tokens",
    "output_tokens", "cached_tokens", "reasoning_tokens", "cost_known", "cost_unknown",
    "guardrail_requests",
)  # fmt: skip
_FLOAT_COUNTERS = ("latency_sum_ms", "cost_usd")


@dataclass(frozen=True, slots=True)
class Slis:
    """The indicators of one group (or of everything) over [start, end)."""

    group: dict[str, str]
    start: float
    end: float
    requests: int
    errors: int  # server-side failures (events.SERVER_ERRORS)
    error_rate: float | None
    successes: int
    success_rate: float | None
    latency_ms: dict[str, float | None]  # p50, p90, p95, p99
    latency_mean_ms: float | None
    ttft_ms: dict[str, float | None] | None  # None when no request streamed a first token
    streams: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_total_usd: float
    cost_per_request_usd: float | None  # average over requests with a known cost
    cost_known: int
    cost_unknown: int
    guardrail_requests: int
    guardrail_trigger_rate: float | None
    guardrail_counts: dict[str, int]
    errors_by_class: dict[str, int]  # every error class, client-side ones included
    latency_histogram: Histogram = field(repr=False, compare=False)
    ttft_histogram: Histogram = field(repr=False, compare=False)

    def latency_percentile(self, percentile: float) -> float | None:
        """Latency (ms) at any percentile in [0, 100], e.g. an SLO's configured one."""
        return self.latency_histogram.quantile(percentile / 100.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (histograms left out)."""
        return {
            "group": dict(self.group),
            "start": self.start,
            "end": self.end,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "latency_ms": dict(self.latency_ms),
            "latency_mean_ms": self.latency_mean_ms,
            "ttft_ms": None if self.ttft_ms is None else dict(self.ttft_ms),
            "streams": self.streams,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_total_usd": self.cost_total_usd,
            "cost_per_request_usd": self.cost_per_request_usd,
            "cost_known": self.cost_known,
            "cost_unknown": self.cost_unknown,
            "guardrail_requests": self.guardrail_requests,
            "guardrail_trigger_rate": self.guardrail_trigger_rate,
            "guardrail_counts": dict(self.guardrail_counts),
            "errors_by_class": dict(self.errors_by_class),
        }


def split_window(start: float, end: float) -> list[tuple[Source, float, float]]:
    """The pieces [lo, hi) of [start, end) and where each is read from."""
    first_minute = math.ceil(start / MINUTE_S) * MINUTE_S
    last_minute = math.floor(end / MINUTE_S) * MINUTE_S
    if first_minute >= last_minute:
        return [("raw", start, end)] if start < end else []
    first_hour = math.ceil(start / HOUR_S) * HOUR_S
    last_hour = math.floor(end / HOUR_S) * HOUR_S
    pieces: list[tuple[Source, float, float]] = []
    if start < first_minute:
        pieces.append(("raw", start, first_minute))
    if first_hour < last_hour:
        if first_minute < first_hour:
            pieces.append(("minute", first_minute, first_hour))
        pieces.append(("hour", first_hour, last_hour))
        if last_hour < last_minute:
            pieces.append(("minute", last_hour, last_minute))
    else:
        pieces.append(("minute", first_minute, last_minute))
    if last_minute < end:
        pieces.append(("raw", last_minute, end))
    return pieces


def _raw_sums() -> list[ColumnElement[Any]]:
    """SQL that sums raw events into the aggregate counters, in counter order."""
    t = request_events.c

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    by_name: dict[str, ColumnElement[Any]] = {
        "count": func.count(),
        "errors": count_if(t.error_class.in_(sorted(SERVER_ERRORS))),
        "successes": count_if(t.error_class.is_(None)),
        "ttft_count": func.count(t.ttft_ms),
        "stream_count": count_if(t.is_stream.is_(True)),
        "input_tokens": func.sum(t.input_tokens),
        "output_tokens": func.sum(t.output_tokens),
        "cached_tokens": func.sum(t.cached_tokens),
        "reasoning_tokens": func.sum(t.reasoning_tokens),
        "cost_known": func.count(t.cost_usd),
        "cost_unknown": func.count() - func.count(t.cost_usd),
        "guardrail_requests": count_if(t.guardrails != ""),
        "latency_sum_ms": func.sum(t.latency_ms),
        "cost_usd": func.sum(t.cost_usd),
    }
    return [by_name[name] for name in (*_INT_COUNTERS, *_FLOAT_COUNTERS)]


class _Reader:
    """Sums one window piece at a time into per-group aggregates."""

    def __init__(self, conn: Connection, group_by: Sequence[str], filters: dict[str, str]) -> None:
        self.conn = conn
        self.group_by = tuple(group_by)
        self.filters = filters
        self.groups: dict[GroupKey, Aggregate] = {}
        # Stored histograms are merged once per group at the end, all together (merge_all).
        self._latency_parts: dict[GroupKey, list[bytes]] = {}
        self._ttft_parts: dict[GroupKey, list[bytes]] = {}

    def _aggregate(self, group: GroupKey) -> Aggregate:
        aggregate = self.groups.get(group)
        if aggregate is None:
            aggregate = self.groups[group] = Aggregate()
        return aggregate

    def _add_sums(self, rows: Sequence[Any]) -> None:
        width = len(self.group_by)
        for row in rows:
            if row[width] in (None, 0):  # an empty ungrouped SUM still returns a row
                continue
            aggregate = self._aggregate(tuple(row[:width]))
            for i, name in enumerate(_INT_COUNTERS, start=width):
                setattr(aggregate, name, getattr(aggregate, name) + int(row[i] or 0))
            for i, name in enumerate(_FLOAT_COUNTERS, start=width + len(_INT_COUNTERS)):
                setattr(aggregate, name, getattr(aggregate, name) + float(row[i] or 0.0))

    def read_rollups(self, table: Table, lo: float, hi: float) -> None:
        """Add rollup rows with buckets in [lo, hi)."""
        c = table.c
        where = [c.bucket >= int(lo), c.bucket < int(hi)]
        where += [c[name] == value for name, value in self.filters.items()]
        groups = [c[name] for name in self.group_by]
        sums = [func.sum(c[name]) for name in (*_INT_COUNTERS, *_FLOAT_COUNTERS)]
        self._add_sums(
            self.conn.execute(select(*groups, *sums).where(*where).group_by(*groups)).all()
        )
        width = len(groups)
        for name in ("errors_by_class", "guardrail_counts"):
            entries, value = self._json_entries(c[name])
            query = (
                select(*groups, entries.c.key, func.sum(value))
                .select_from(table)
                .join(entries, true())
                .where(*where)
                .group_by(*groups, entries.c.key)
            )
            for row in self.conn.execute(query):
                counts = getattr(self._aggregate(tuple(row[:width])), name)
                add_counts(counts, {row[width]: int(row[width + 1])})
        hists = select(*groups, c.latency_hist, c.ttft_count, c.ttft_hist).where(*where)
        latency_parts, ttft_parts = self._latency_parts, self._ttft_parts
        for row in self.conn.execute(hists):
            group = tuple(row[:width])
            latency_hist, ttft_count, ttft_hist = row[width:]
            latency_parts.setdefault(group, []).append(latency_hist)
            if ttft_count:
                ttft_parts.setdefault(group, []).append(ttft_hist)

    def _json_entries(
        self, column: ColumnElement[str]
    ) -> tuple[TableValuedAlias, ColumnElement[Any]]:
        """The (key, value) rows of a JSON {name: n} column, and the value as a number."""
        if self.conn.dialect.name == "postgresql":
            entries = func.json_each_text(cast(column, JSON)).table_valued("key", "value")
            return entries, cast(entries.c.value, BigInteger)
        entries = func.json_each(column).table_valued("key", "value")
        return entries, entries.c.value

    def read_raw(self, lo: float, hi: float) -> None:
        """Add raw events with ts in [lo, hi)."""
        t = request_events.c
        model = func.coalesce(t.model, "")
        columns = {"service": t.service, "version": t.version, "route": t.route, "model": model}
        where = [t.ts >= lo, t.ts < hi]
        where += [columns[name] == value for name, value in self.filters.items()]
        groups = [columns[name] for name in self.group_by]
        sums = _raw_sums()
        self._add_sums(
            self.conn.execute(select(*groups, *sums).where(*where).group_by(*groups)).all()
        )
        parts = select(*groups, t.latency_ms, t.ttft_ms, t.error_class, t.guardrails).where(*where)
        width = len(groups)
        for row in self.conn.execute(parts):
            aggregate = self._aggregate(tuple(row[:width]))
            latency_ms, ttft_ms, error_class, guardrails = row[width:]
            aggregate.latency_hist.add(latency_ms)
            if ttft_ms is not None:
                aggregate.ttft_hist.add(ttft_ms)
            if error_class is not None:
                add_counts(aggregate.errors_by_class, {error_class: 1})
            for name in guardrails.split(",") if guardrails else ():
                add_counts(aggregate.guardrail_counts, {name: 1})

    def finish(self) -> dict[GroupKey, Aggregate]:
        """The per-group aggregates, with every stored histogram merged in."""
        for group, parts in self._latency_parts.items():
            self.groups[group].latency_hist.merge(merge_all(parts))
        for group, parts in self._ttft_parts.items():
            self.groups[group].ttft_hist.merge(merge_all(parts))
        self._latency_parts.clear()
        self._ttft_parts.clear()
        return self.groups


def query_slis(
    engine: Engine,
    *,
    start: float,
    end: float,
    service: str | None = None,
    version: str | None = None,
    route: str | None = None,
    model: str | None = None,
    group_by: Sequence[str] = (),
) -> list[Slis]:
    """SLIs over [start, end), one row per group (one row in all when not grouped).

    Filters match exactly; ``model=""`` selects requests whose model is unknown. Rows are
    ordered by group; without group_by the single row is there even when nothing happened.
    """
    if not end > start:
        raise ValidationError(
            f"the window must end after it starts ({start} .. {end})", field="end"
        )
    unknown = [name for name in group_by if name not in GROUPABLE]
    if unknown or len(set(group_by)) != len(group_by):
        raise ValidationError(
            f"cannot group by {', '.join(unknown) or 'the same field twice'} "
            f"(choose from {', '.join(GROUPABLE)})",
            field="group_by",
        )
    filters = {
        name: value
        for name, value in (
            ("service", service),
            ("version", version),
            ("route", route),
            ("model", model),
        )
        if value is not None
    }
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every piece, so that counts and histograms agree even while
            # writers commit between the statements.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        reader = _Reader(conn, group_by, filters)
        for source, lo, hi in split_window(start, end):
            if source == "raw":
                reader.read_raw(lo, hi)
            else:
                reader.read_rollups(rollups_hour if source == "hour" else rollups_minute, lo, hi)
    groups = reader.finish()
    if not group_by and not groups:
        groups = {(): Aggregate()}
    return [
        slis_of(aggregate, dict(zip(group_by, key, strict=True)), start, end)
        for key, aggregate in sorted(groups.items())
    ]


def _share(part: int | float, whole: int) -> float | None:
    return part / whole if whole else None


def _percentiles(histogram: Histogram) -> dict[str, float | None]:
    values = histogram.quantiles(list(PERCENTILES.values()))
    return dict(zip(PERCENTILES, values, strict=True))


def slis_of(aggregate: Aggregate, group: dict[str, str], start: float, end: float) -> Slis:
    """The indicators an aggregate of requests amounts to."""
    requests = aggregate.count
    return Slis(
        group=group,
        start=start,
        end=end,
        requests=requests,
        errors=aggregate.errors,
        error_rate=_share(aggregate.errors, requests),
        successes=aggregate.successes,
        success_rate=_share(aggregate.successes, requests),
        latency_ms=_percentiles(aggregate.latency_hist),
        latency_mean_ms=_share(aggregate.latency_sum_ms, requests),
        ttft_ms=_percentiles(aggregate.ttft_hist) if aggregate.ttft_hist.count else None,
        streams=aggregate.stream_count,
        input_tokens=aggregate.input_tokens,
        output_tokens=aggregate.output_tokens,
        cached_tokens=aggregate.cached_tokens,
        reasoning_tokens=aggregate.reasoning_tokens,
        cost_total_usd=aggregate.cost_usd,
        cost_per_request_usd=_share(aggregate.cost_usd, aggregate.cost_known),
        cost_known=aggregate.cost_known,
        cost_unknown=aggregate.cost_unknown,
        guardrail_requests=aggregate.guardrail_requests,
        guardrail_trigger_rate=_share(aggregate.guardrail_requests, requests),
        guardrail_counts=dict(sorted(aggregate.guardrail_counts.items())),
        errors_by_class=dict(sorted(aggregate.errors_by_class.items())),
        latency_histogram=aggregate.latency_hist,
        ttft_histogram=aggregate.ttft_hist,
    )
