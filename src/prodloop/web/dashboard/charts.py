"""Chart data: the SLIs of each step of a range, one series per version, and the deploys,
rollbacks and flag changes to mark on the time axis.

Ranges up to a day are read from minute rollups, longer ones from hour rollups, so a
90-day chart reads at most ~2,200 rows per series. Latency percentiles come from merging
each step's histograms (the same 1 % sketches the SLOs use).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.errors import ValidationError
from prodloop.store.schema import deployments, flag_audit, rollouts, rollups_hour, rollups_minute
from prodloop.telemetry.histogram import merge_all
from prodloop.telemetry.rollups import DAY_S, HOUR_S, MINUTE_S

# range name: (span, step), about 60-170 points per chart
RANGES: dict[str, tuple[int, int]] = {
    "1h": (HOUR_S, MINUTE_S),
    "6h": (6 * HOUR_S, 5 * MINUTE_S),
    "24h": (DAY_S, 15 * MINUTE_S),
    "7d": (7 * DAY_S, HOUR_S),
    "30d": (30 * DAY_S, 6 * HOUR_S),
    "90d": (90 * DAY_S, DAY_S),
}
DEFAULT_RANGE = "24h"
MAX_SERIES = 8  # more versions than this: the busiest are drawn, the rest summed as "other"
OTHER = "other"
METRICS = ("latency_p50_ms", "latency_p95_ms", "error_rate", "cost_per_request_usd",
           "guardrail_triggers")  # fmt: skip


def check_range(name: str) -> str:
    if name not in RANGES:
        raise ValidationError(
            f"unknown range '{name}' (choose from {', '.join(RANGES)})", field="range"
        )
    return name


@dataclass(slots=True)
class _Cell:
    count: int = 0
    errors: int = 0
    cost_usd: float = 0.0
    cost_known: int = 0
    guardrails: int = 0
    hists: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Marker:
    ts: float
    kind: str  # deploy | rollback | flag
    label: str


@dataclass(frozen=True, slots=True)
class ChartData:
    range: str
    start: float
    end: float
    step_s: int
    times: list[float]
    series: list[str]
    values: dict[str, list[list[float | None]]]  # metric: one list per series, per step
    markers: list[Marker]

    def to_dict(self) -> dict[str, Any]:
        return {
            "range": self.range,
            "start": self.start,
            "end": self.end,
            "step_s": self.step_s,
            "times": self.times,
            "series": self.series,
            "values": self.values,
            "markers": [{"ts": m.ts, "kind": m.kind, "label": m.label} for m in self.markers],
        }


def window_of(range_name: str, now: float) -> tuple[float, float, int]:
    """(start, end, step): whole steps, the last one holding `now`."""
    span, step = RANGES[check_range(range_name)]
    end = math.floor(now / step) * step + step
    return end - span, end, step


def chart_data(
    engine: Engine, range_name: str, now: float, *, service: str | None = None
) -> ChartData:
    """Per step and version: p50/p95 latency, error rate, cost per request, guardrails."""
    start, end, step = window_of(range_name, now)
    table = rollups_minute if step < HOUR_S else rollups_hour
    c = table.c
    query = select(
        c.bucket, c.version, c.count, c.errors, c.cost_usd, c.cost_known,
        c.guardrail_requests, c.latency_hist,
    ).where(c.bucket >= int(start), c.bucket < int(end))  # fmt: skip
    if service is not None:
        query = query.where(c.service == service)
    cells: dict[tuple[int, str], _Cell] = defaultdict(_Cell)
    traffic: dict[str, int] = defaultdict(int)
    with engine.connect() as conn:
        for bucket, version, count, errors, cost, known, guardrails, hist in conn.execute(query):
            cell = cells[(int((bucket - start) // step), version)]
            cell.count += count
            cell.errors += errors
            cell.cost_usd += cost
            cell.cost_known += known
            cell.guardrails += guardrails
            cell.hists.append(hist)
            traffic[version] += count
    series = _pick_series(traffic)
    steps = int((end - start) // step)
    merged: dict[tuple[int, str], _Cell] = defaultdict(_Cell)
    for (index, version), cell in cells.items():
        target = merged[(index, version if version in series else OTHER)]
        target.count += cell.count
        target.errors += cell.errors
        target.cost_usd += cell.cost_usd
        target.cost_known += cell.cost_known
        target.guardrails += cell.guardrails
        target.hists.extend(cell.hists)
    values: dict[str, list[list[float | None]]] = {
        metric: [[None] * steps for _ in series] for metric in METRICS
    }
    for (index, version), cell in merged.items():
        i = series.index(version)
        if cell.count == 0:
            continue
        p50, p95 = merge_all(cell.hists).quantiles([0.5, 0.95])
        values["latency_p50_ms"][i][index] = p50
        values["latency_p95_ms"][i][index] = p95
        values["error_rate"][i][index] = cell.errors / cell.count
        values["cost_per_request_usd"][i][index] = (
            cell.cost_usd / cell.cost_known if cell.cost_known else None
        )
        values["guardrail_triggers"][i][index] = float(cell.guardrails)
    return ChartData(
        range=range_name,
        start=start,
        end=end,
        step_s=step,
        times=[start + i * step for i in range(steps)],
        series=series,
        values=values,
        markers=markers(engine, start, end, service=service),
    )


def _pick_series(traffic: dict[str, int]) -> list[str]:
    busiest = sorted(traffic, key=lambda version: (-traffic[version], version))
    if len(busiest) <= MAX_SERIES:
        return sorted(busiest)
    return [*sorted(busiest[: MAX_SERIES - 1]), OTHER]


def markers(engine: Engine, start: float, end: float, *, service: str | None) -> list[Marker]:
    """Deploys, rollbacks and flag changes in [start, end), oldest first."""
    d, r, f = deployments.c, rollouts.c, flag_audit.c
    deploys = select(d.created_at, d.service, d.version).where(
        d.created_at >= start, d.created_at < end
    )
    rollbacks = select(r.finished_at, r.service, r.canary_version, r.stable_version).where(
        r.state == "rolled_back", r.finished_at >= start, r.finished_at < end
    )
    if service is not None:
        deploys = deploys.where(d.service == service)
        rollbacks = rollbacks.where(r.service == service)
    # Flags are not tied to a service: every page shows their changes.
    flag_changes = select(f.at, f.flag_key, f.action, f.by).where(f.at >= start, f.at < end)
    found: list[Marker] = []
    with engine.connect() as conn:
        for at, svc, version in conn.execute(deploys):
            found.append(Marker(at, "deploy", f"deploy {svc} {version}"))
        for at, svc, canary, stable in conn.execute(rollbacks):
            found.append(Marker(at, "rollback", f"rollback {svc} {canary} → {stable}"))
        for at, key, action, by in conn.execute(flag_changes):
            found.append(Marker(at, "flag", f"flag {key} {action} by {by}"))
    found.sort(key=lambda marker: marker.ts)
    return found
