"""SLOs and the alert rules that guard them. The defaults are the guide's SLO table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from prodloop.config.base import Duration, StrictModel, TimeZone
from prodloop.durations import parse_duration

SloKind = Literal["ratio", "latency", "average", "rate"]
# errors: server-side failures (5xx, 502, 504, injected faults); failures: every request
# that did not succeed (client refusals included).
BadEvents = Literal["errors", "failures"]
Severity = Literal["page", "ticket"]


class ThresholdAlert(StrictModel):
    """Alert when the SLO's indicator, measured over `window`, stays above `above` for `for`."""

    above: float = Field(
        gt=0,
        description="threshold in the indicator's unit: ms (latency), share (ratio, rate), USD",
    )
    window: Duration = Field("5m", description="window the indicator is measured over")
    for_: Duration = Field(
        "5m", alias="for", description="how long the condition must hold before firing"
    )
    keep_firing_for: Duration = Field(
        "0s", description="keep firing this long after the condition clears"
    )
    severity: Severity = Field("page", description="page (wakes someone) or ticket")


class Slo(StrictModel):
    """One service level objective, held for every service unless `services` names some."""

    name: str = Field(description="name of the SLO, unique per service")
    kind: SloKind = Field(description="ratio | latency | average | rate")
    services: list[str] = Field(
        default_factory=list, description="services it applies to (every service when empty)"
    )
    description: str = Field("", description="what the SLO promises, in words")
    bad: BadEvents = Field(
        "errors", description="ratio: which requests are bad (errors | failures)"
    )
    objective: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="share of good requests (ratio, latency: defaults to percentile/100)",
    )
    percentile: float = Field(95.0, gt=0, lt=100, description="latency: which percentile")
    threshold_ms: float | None = Field(
        None, gt=0, description="latency: a request slower than this is bad"
    )
    metric: Literal["cost_per_request"] = Field(
        "cost_per_request", description="average: what is averaged per request"
    )
    target: float | None = Field(
        None,
        gt=0,
        description="average: highest allowed average; rate: highest triggers per request",
    )
    alert: ThresholdAlert | None = Field(
        None, description="threshold alert on this SLO's indicator (the guide's table)"
    )
    burn_rate_alerts: bool = Field(
        True, description="multi-window burn-rate alerts (ratio, latency and rate SLOs)"
    )
    runbook: str | None = Field(None, description="runbook link sent with its alerts")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Slo:
        if self.kind == "ratio" and self.objective is None:
            raise ValueError("a ratio SLO needs 'objective' (e.g. 0.99)")
        if self.kind == "latency" and self.threshold_ms is None:
            raise ValueError("a latency SLO needs 'threshold_ms'")
        if self.kind in ("average", "rate") and self.target is None:
            raise ValueError(f"an {self.kind} SLO needs 'target'")
        if self.kind == "rate" and self.target is not None and self.target >= 1:
            raise ValueError("a rate SLO's target is a share of requests, below 1")
        return self

    @property
    def good_objective(self) -> float | None:
        """Share of requests that must be good, for the SLOs that count good and bad."""
        if self.kind == "ratio":
            return self.objective
        if self.kind == "latency":
            return self.objective if self.objective is not None else self.percentile / 100
        if self.kind == "rate":
            assert self.target is not None
            return 1 - self.target
        return None

    @property
    def indicator_words(self) -> str:
        """What a threshold alert on this SLO compares, in words: "error rate", "p95 latency"."""
        if self.kind == "latency":
            return f"p{self.percentile:g} latency"
        if self.kind == "average":
            return "cost per request"
        if self.kind == "rate":
            return "guardrail trigger rate"
        return "error rate" if self.bad == "errors" else "failure rate"

    def applies_to(self, service: str) -> bool:
        return not self.services or service in self.services


def guide_slos() -> list[Slo]:
    """The guide's SLO table: p95 ≤ 2 s, errors ≤ 1 %, cost ≤ $0.002, success ≥ 99.5 %."""
    return [
        Slo(
            name="latency-p95",
            kind="latency",
            description="95 % of requests answer within 2 s",
            percentile=95,
            threshold_ms=2000,
            alert=ThresholdAlert(above=2500, window="5m", for_="5m"),
            runbook="ops/runbooks/triage.md",
        ),
        Slo(
            name="error-rate",
            kind="ratio",
            description="at most 1 % of requests fail on the server side",
            bad="errors",
            objective=0.99,
            alert=ThresholdAlert(above=0.03, window="5m", for_="5m"),
            runbook="ops/runbooks/rollback.md",
        ),
        Slo(
            name="cost-per-request",
            kind="average",
            description="token cost stays at or below $0.002 per request",
            metric="cost_per_request",
            target=0.002,
            alert=ThresholdAlert(above=0.003, window="1h", for_="0s"),
            burn_rate_alerts=False,
            runbook="ops/runbooks/triage.md",
        ),
        Slo(
            name="success-rate",
            kind="ratio",
            description="at least 99.5 % of requests succeed",
            bad="failures",
            objective=0.995,
            runbook="ops/runbooks/triage.md",
        ),
    ]


class SloSettings(StrictModel):
    window_days: int = Field(30, gt=0, le=400, description="rolling window SLOs are held over")
    timezone: TimeZone = Field(
        "UTC", description="time zone of calendar weeks (Monday 00:00) for the weekly record"
    )
    objectives: list[Slo] = Field(
        default_factory=guide_slos, description="the SLOs (default: the guide's four)"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> SloSettings:
        seen: set[str] = set()
        for slo in self.objectives:
            if slo.name in seen:
                raise ValueError(f"two SLOs are named '{slo.name}'")
            seen.add(slo.name)
        return self


class BurnRateWindow(StrictModel):
    """Fire when the burn rate exceeds the factor over both the long and the short window.

    The factor is budget_fraction × SLO window ÷ long window, so it scales with the SLO
    window (for 30 days: 2 % in 1 h → 14.4×, 5 % in 6 h → 6×, 10 % in 1 d → 3×, 10 % in
    3 d → 1×).
    """

    long: Duration = Field(description="long window")
    short: Duration = Field(description="short window (stops the alert soon after recovery)")
    budget_fraction: float = Field(gt=0, le=1, description="share of the budget spent in `long`")
    severity: Severity = Field(description="page or ticket")

    def factor(self, slo_window_days: float) -> float:
        return self.budget_fraction * slo_window_days * 86400.0 / parse_duration(self.long)


def sre_workbook_windows() -> list[BurnRateWindow]:
    return [
        BurnRateWindow(long="1h", short="5m", budget_fraction=0.02, severity="page"),
        BurnRateWindow(long="6h", short="30m", budget_fraction=0.05, severity="page"),
        BurnRateWindow(long="1d", short="2h", budget_fraction=0.10, severity="ticket"),
        BurnRateWindow(long="3d", short="6h", budget_fraction=0.10, severity="ticket"),
    ]


class AlertSettings(StrictModel):
    min_requests: int = Field(
        10, ge=0, description="below this many requests in a window, no decision is made"
    )
    no_data: Literal["ok", "alerting", "keep"] = Field(
        "ok",
        description="too little traffic: ok (zero traffic is no outage), alerting, keep state",
    )
    burn_rate_windows: list[BurnRateWindow] = Field(
        default_factory=sre_workbook_windows,
        description="multi-window multi-burn-rate rules (SRE workbook)",
    )
    dashboard_url: str = Field(
        "http://127.0.0.1:8765/", description="dashboard link sent with every alert"
    )
    runbook_base_url: str | None = Field(
        None, description="prefix for relative runbook links (e.g. your repository's URL)"
    )
    runbooks_dir: str | None = Field(
        "ops/runbooks",
        description="folder of the runbooks (Markdown, front matter): notifications and "
        "incidents link the one whose `alerts:` cover the alert, else the SLO's runbook "
        "(null: SLO links only)",
    )
