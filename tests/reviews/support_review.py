"""A generated fortnight whose figures are known: ISO weeks 2026-W47 and 2026-W48 in
Europe/Berlin, with requests per day and version, deploys, an incident, feedback and
analytics events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.store.schema import (
    alerts,
    analytics_events,
    deployments,
    feedback,
    feedback_clusters,
    incident_alerts,
    incidents,
)
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.histogram import Histogram
from prodloop.telemetry.rollups import write_events
from tests.feedback.helpers import add_feedback

ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)
W48_MONDAY = datetime(2026, 11, 23, tzinfo=BERLIN).timestamp()  # 2026-11-22T23:00Z
W47_MONDAY = W48_MONDAY - 7 * 86400
DAY = 86400.0


def config_for(store_url: str, extra: str = "") -> Config:
    return parse_config(f"store:\n  url: {store_url}\nreviews:\n  time_zone: {ZONE}\n{extra}")


def at(monday: float, day: int, hour: float) -> float:
    """A local time `hour` on day `day` (0 = Monday) of the week starting `monday`."""
    local = datetime.fromtimestamp(monday, BERLIN) + timedelta(days=day)
    return local.replace(hour=int(hour), minute=int(hour % 1 * 60)).timestamp()


@dataclass
class Series:
    """The requests written for one version in one week, to work out expected figures."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cost: float = 0.0
    guardrails: int = 0

    def histogram(self) -> Histogram:
        hist = Histogram()
        for value in self.latencies:
            hist.add(value)
        return hist


def _requests(
    monday: float, day: int, version: str, n: int, latency_ms: float, slow: int, errors: int,
    cost: float, guardrails: int,
) -> list[RequestEvent]:  # fmt: skip
    start = at(monday, day, 10)
    events = []
    for i in range(n):
        is_error = i < errors
        events.append(
            RequestEvent(
                ts=start + i, service="chat", version=version, route="/v1/chat/completions",
                status=502 if is_error else 200, latency_ms=1500.0 if i >= n - slow else latency_ms,
                model="gpt-4o-mini", error_class="upstream_5xx" if is_error else None,
                cost_usd=cost, guardrails=("pii",) if i < guardrails else (),
            )
        )  # fmt: skip
    return events


def write_traffic(
    engine: Engine,
    *,
    this_latency_ms: float = 400.0,
    this_errors: int = 2,
    this_guardrails: int = 1,
    with_canary: bool = True,
) -> dict[str, Series]:
    """Last week: v1 only, 100 requests a day at 400 ms (5 at 1.5 s), 1 error, $0.001 each.
    This week: v1 the same but `this_latency_ms` and `this_errors` errors a day and one
    guardrail trigger; v2 from Thursday, 50 a day at 800 ms, 5 errors, $0.002 each."""
    series = {"last": Series(), "v1": Series(), "v2": Series(), "thu": Series()}
    batch: list[RequestEvent] = []
    for day in range(7):
        last = _requests(W47_MONDAY, day, "v1", 100, 400.0, 5, 1, 0.001, 0)
        v1 = _requests(
            W48_MONDAY, day, "v1", 100, this_latency_ms, 5, this_errors, 0.001, this_guardrails
        )
        v2 = (
            _requests(W48_MONDAY, day, "v2", 50, 800.0, 0, 5, 0.002, 0)
            if day >= 3 and with_canary
            else []
        )
        for name, events in (("last", last), ("v1", v1), ("v2", v2)):
            for event in events:
                series[name].latencies.append(event.latency_ms)
                series[name].errors += event.is_error
                series[name].cost += event.cost_usd or 0.0
                series[name].guardrails += bool(event.guardrails)
        if day == 3:
            series["thu"].latencies += [e.latency_ms for e in v1 + v2]
        batch += last + v1 + v2
    write_events(engine, batch)
    return series


def write_delivery(engine: Engine) -> None:
    """Two deploys live this week (lead times 20 and 40 minutes), one canary rolled back,
    and a SEV2 incident: alert at 14:00 Wed, detected 14:04, mitigated 14:30, resolved 16:00.
    Last week: one deploy live (lead time 1 h)."""
    wed = at(W48_MONDAY, 2, 14)
    rows = [
        ("v1", W48_MONDAY + 3600, W48_MONDAY + 3600 + 600, W48_MONDAY + 3600 + 1200, "superseded"),
        ("v2", at(W48_MONDAY, 3, 8), at(W48_MONDAY, 3, 8.25), at(W48_MONDAY, 3, 8) + 2400, "live"),
        ("v3", at(W48_MONDAY, 4, 9), at(W48_MONDAY, 4, 9.5), None, "rolled_back"),
        ("v0", at(W47_MONDAY, 1, 9), at(W47_MONDAY, 1, 9.5), at(W47_MONDAY, 1, 10), "superseded"),
    ]
    with engine.begin() as conn:
        for version, merged_at, created_at, live_at, status in rows:
            conn.execute(insert(deployments).values(
                service="chat", version=version, upstream="http://127.0.0.1:9/v1",
                merged_at=merged_at, deployed_by="ci", created_at=created_at, live_at=live_at,
                status=status))  # fmt: skip
        incident_id = conn.execute(insert(incidents).values(
            service="chat", title="Errors from the upstream", severity="SEV2", status="resolved",
            impact="major", detected_at=wed + 240, mitigated_at=wed + 1800,
            resolved_at=wed + 7200, created_at=wed + 240, updated_at=wed + 7200,
        )).inserted_primary_key[0]  # fmt: skip
        alert_id = conn.execute(insert(alerts).values(
            fingerprint="f1", alertname="ErrorRate", kind="threshold", severity="page",
            service="chat", state="resolved", active_at=wed, fired_at=wed + 120,
            resolved_at=wed + 7200, last_eval_at=wed + 7200, threshold=0.03,
        )).inserted_primary_key[0]  # fmt: skip
        conn.execute(insert(incident_alerts).values(
            incident_id=incident_id, alert_id=alert_id, joined_at=wed + 240))  # fmt: skip


def write_feedback(engine: Engine, config: Config) -> None:
    """This week: 8 items, 3 negative, 3 of them in the cluster 'slow answers'.
    Last week: 4 items, 1 negative."""
    ids = []
    for i in range(8):
        ids.append(add_feedback(engine, config, comment=f"comment {i}",
                                rating=0.0 if i < 3 else 1.0, rating_kind="thumbs",
                                at=at(W48_MONDAY, i % 7, 12)))  # fmt: skip
    for i in range(4):
        add_feedback(engine, config, comment=f"old {i}", rating=0.0 if i < 1 else 1.0,
                     rating_kind="thumbs", at=at(W47_MONDAY, i, 12))  # fmt: skip
    with engine.begin() as conn:
        cluster = conn.execute(insert(feedback_clusters).values(
            label="slow answers", method="tfidf", size=3, updated_at=W48_MONDAY,
        )).inserted_primary_key[0]  # fmt: skip
        conn.execute(update(feedback).where(feedback.c.id.in_(ids[:3])).values(cluster_id=cluster))


def write_analytics(engine: Engine) -> None:
    """10 users view a page on Tuesday, 6 of them sign up, 4 of those ask a first question."""
    rows = []
    for u in range(10):
        steps = (
            ["$pageview"] + (["signup"] if u < 6 else []) + (["first_question"] if u < 4 else [])
        )
        for n, event in enumerate(steps):
            rows.append({"uuid": f"e-{u}-{n}", "event": event, "distinct_id": f"user-{u}",
                         "ts": at(W48_MONDAY, 1, 11) + 60 * n, "received_at": W48_MONDAY,
                         "source": "prodloop", "properties": "{}"})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(analytics_events), rows)


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
