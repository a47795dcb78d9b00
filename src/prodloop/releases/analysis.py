"""What the judge sees of a canary and its stable version, and what it answers.

`observe` reads one version's raw request events over a window (so latencies are exact);
`judge_with_policy` hands two observations to the statistics judge with the service's
policy; `judge_window` does both for any window, for Argo Rollouts and Flagger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from prodloop.config import Config
from prodloop.errors import NotFoundError
from prodloop.store.schema import alerts, request_events
from prodloop.telemetry.events import SERVER_ERRORS


@dataclass(frozen=True, slots=True)
class Observed:
    """One version's requests over an analysis window, as the judge reads them."""

    requests: int
    errors: int
    guardrail_requests: int
    latencies_ms: tuple[float, ...]
    cost_usd: float
    cost_known: int


@dataclass(frozen=True, slots=True)
class Analysis:
    """The judge's verdict and its per-metric checks (JSON-safe)."""

    result: Literal["pass", "fail", "inconclusive"]
    checks: tuple[dict[str, Any], ...] = ()
    # The data shows a regression (not merely too little data): roll back at once,
    # without waiting for releases.failure_limit.
    is_failed_on_evidence: bool = False


# (config, service, canary, stable, look) -> the verdict
Judge = Callable[[Config, str, Observed, Observed, int], Analysis]


def judge_with_policy(
    config: Config, service: str, canary: Observed, stable: Observed, look: int
) -> Analysis:
    """The statistics judge (`releases.judge`) with the service's policy."""
    from prodloop.releases.judge import JudgePolicy, Sample, judge

    def sample(observed: Observed) -> Sample:
        return Sample(
            requests=observed.requests,
            errors=observed.errors,
            guardrail_requests=observed.guardrail_requests,
            latencies_ms=observed.latencies_ms,
            cost_usd=observed.cost_usd,
            cost_known=observed.cost_known,
        )

    policy = JudgePolicy.from_config(config, service, no_data=config.releases.no_data)
    verdict = judge(sample(canary), sample(stable), policy, look=look)
    return Analysis(
        verdict.result,
        tuple(check.to_dict() for check in verdict.checks),
        is_failed_on_evidence=verdict.is_failed_on_evidence,
    )


def observe(conn: Connection, service: str, version: str, start: float, end: float) -> Observed:
    """A version's requests in [start, end) from the raw events."""
    rows = conn.execute(
        select(
            request_events.c.error_class,
            request_events.c.latency_ms,
            request_events.c.cost_usd,
            request_events.c.guardrails,
        ).where(
            request_events.c.service == service,
            request_events.c.version == version,
            request_events.c.ts >= start,
            request_events.c.ts < end,
        )
    )
    requests = errors = guardrail_requests = cost_known = 0
    cost = 0.0
    latencies: list[float] = []
    for error_class, latency_ms, cost_usd, guardrails in rows:
        requests += 1
        if error_class in SERVER_ERRORS:
            errors += 1
        elif error_class is None:
            latencies.append(float(latency_ms))
        if guardrails:
            guardrail_requests += 1
        if cost_usd is not None:
            cost_known += 1
            cost += float(cost_usd)
    return Observed(requests, errors, guardrail_requests, tuple(latencies), cost, cost_known)


@dataclass(frozen=True, slots=True)
class WindowAnalysis:
    """A canary judged against a stable version over one window (Argo, Flagger)."""

    service: str
    canary_version: str
    stable_version: str
    start: float
    end: float
    canary: Observed
    stable: Observed
    analysis: Analysis

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; `verdict` is pass, fail or inconclusive."""

        def side(observed: Observed) -> dict[str, Any]:
            return {
                "requests": observed.requests,
                "errors": observed.errors,
                "guardrail_requests": observed.guardrail_requests,
                "latency_samples": len(observed.latencies_ms),
                "cost_usd": observed.cost_usd,
                "cost_known": observed.cost_known,
            }

        return {
            "service": self.service,
            "canary": self.canary_version,
            "stable": self.stable_version,
            "window": {"start": self.start, "end": self.end},
            "verdict": self.analysis.result,
            "checks": list(self.analysis.checks),
            "samples": {"canary": side(self.canary), "stable": side(self.stable)},
        }


def judge_window(
    engine: Engine,
    config: Config,
    service: str,
    canary_version: str,
    stable_version: str,
    start: float,
    end: float,
    *,
    judge: Judge = judge_with_policy,
) -> WindowAnalysis:
    """Judge `canary_version` against `stable_version` on their requests in [start, end)."""
    if service not in config.services:
        raise NotFoundError(f"unknown service '{service}'", field="service")
    with engine.connect() as conn:
        canary = observe(conn, service, canary_version, start, end)
        stable = observe(conn, service, stable_version, start, end)
    analysis = judge(config, service, canary, stable, 1)
    return WindowAnalysis(
        service, canary_version, stable_version, start, end, canary, stable, analysis
    )


def firing_pages(engine: Engine, service: str) -> list[dict[str, Any]]:
    """The pages firing on a service now (a reason to hold a rollout)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(alerts.c.id, alerts.c.alertname, alerts.c.summary).where(
                alerts.c.service == service,
                alerts.c.state == "firing",
                alerts.c.severity == "page",
            )
        ).mappings()
        return [dict(row) for row in rows]
