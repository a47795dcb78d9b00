"""Reading what SLOs count from the store: per-service aggregates of several windows at once.

SLO and alert windows end at the same moment and nest (5 m inside 1 h inside 3 d …), so
the time axis is cut at every window start into segments, each segment is read once, and
every window is the sum of the segments it covers. A segment is read like
`telemetry.sli.query_slis` reads a window (whole hours from rollups_hour, whole minutes
from rollups_minute, partial minutes from raw events), but only the columns SLOs use.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from sqlalchemy import Connection, Engine, Table, select

from prodloop.store.schema import request_events, rollups_hour, rollups_minute
from prodloop.telemetry.events import SERVER_ERRORS
from prodloop.telemetry.histogram import merge_all
from prodloop.telemetry.rollups import Aggregate
from prodloop.telemetry.sli import split_window

ByService = dict[str, Aggregate]


def _aggregate(into: ByService, service: str) -> Aggregate:
    aggregate = into.get(service)
    if aggregate is None:
        aggregate = into[service] = Aggregate()
    return aggregate


def _read_rollups(
    conn: Connection,
    table: Table,
    lo: float,
    hi: float,
    service: str | None,
    into: ByService,
    latency_parts: dict[str, list[bytes]],
    with_latency: bool,
) -> None:
    c = table.c
    columns = [
        c.service, c.count, c.errors, c.successes, c.guardrail_requests, c.cost_known,
        c.cost_unknown, c.cost_usd,
    ]  # fmt: skip
    if with_latency:
        columns.append(c.latency_hist)
    where = [c.bucket >= int(lo), c.bucket < int(hi)]
    if service is not None:
        where.append(c.service == service)
    for row in conn.execute(select(*columns).where(*where)):
        aggregate = _aggregate(into, row[0])
        aggregate.count += row[1]
        aggregate.errors += row[2]
        aggregate.successes += row[3]
        aggregate.guardrail_requests += row[4]
        aggregate.cost_known += row[5]
        aggregate.cost_unknown += row[6]
        aggregate.cost_usd += row[7]
        if with_latency and row[1]:
            latency_parts.setdefault(row[0], []).append(row[8])


def _read_raw(conn: Connection, lo: float, hi: float, service: str | None, into: ByService) -> None:
    t = request_events.c
    where = [t.ts >= lo, t.ts < hi]
    if service is not None:
        where.append(t.service == service)
    query = select(t.service, t.error_class, t.latency_ms, t.guardrails, t.cost_usd).where(*where)
    for name, error_class, latency_ms, guardrails, cost_usd in conn.execute(query):
        aggregate = _aggregate(into, name)
        aggregate.count += 1
        if error_class is None:
            aggregate.successes += 1
        elif error_class in SERVER_ERRORS:
            aggregate.errors += 1
        aggregate.latency_hist.add(latency_ms)
        if guardrails:
            aggregate.guardrail_requests += 1
        if cost_usd is None:
            aggregate.cost_unknown += 1
        else:
            aggregate.cost_known += 1
            aggregate.cost_usd += cost_usd


def read_segments(
    engine: Engine,
    boundaries: Sequence[float],
    *,
    service: str | None = None,
    with_latency: bool = True,
) -> list[ByService]:
    """Per-service aggregates of each segment [boundaries[i], boundaries[i + 1]).

    Aggregates hold the request, error, success, guardrail and cost counters and, with
    `with_latency`, the latency histogram; the JSON breakdowns and TTFT are left empty.
    """
    segments: list[ByService] = []
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every segment, so that nested windows agree with each other.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        for lo, hi in pairwise(boundaries):
            segment: ByService = {}
            latency_parts: dict[str, list[bytes]] = {}
            for source, piece_lo, piece_hi in split_window(lo, hi):
                if source == "raw":
                    _read_raw(conn, piece_lo, piece_hi, service, segment)
                else:
                    table = rollups_hour if source == "hour" else rollups_minute
                    _read_rollups(
                        conn, table, piece_lo, piece_hi, service, segment, latency_parts,
                        with_latency,
                    )  # fmt: skip
            for name, parts in latency_parts.items():
                segment[name].latency_hist.merge(merge_all(parts))
            segments.append(segment)
    return segments


def read_windows(
    engine: Engine,
    starts: Sequence[float],
    end: float,
    *,
    service: str | None = None,
    with_latency: bool = True,
) -> dict[float, ByService]:
    """Per-service aggregates of every window [start, end), keyed by start.

    A service appears in a window only when it has requests there. A start at or after
    `end` gives an empty window.
    """
    cuts = sorted({start for start in starts if start < end})
    segments = read_segments(engine, [*cuts, end], service=service, with_latency=with_latency)
    windows: dict[float, ByService] = {start: {} for start in starts}
    running: ByService = {}
    for start, segment in zip(reversed(cuts), reversed(segments), strict=True):
        widened: ByService = {}
        for name in running.keys() | segment.keys():
            total = Aggregate()
            for part in (running.get(name), segment.get(name)):
                if part is not None:
                    total.merge(part)
            widened[name] = total
        windows[start] = running = widened
    return windows
