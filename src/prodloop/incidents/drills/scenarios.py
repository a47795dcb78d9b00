"""The drill scenarios: a fault rule (the gateway's `FaultRule`) and what ends it."""

from __future__ import annotations

from dataclasses import dataclass

from prodloop.config.sections import FaultRule
from prodloop.errors import ValidationError

SERVICE = "chat"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One drill: the fault it injects and whether a canary rollback is what ends it."""

    name: str
    description: str
    fault: FaultRule
    is_canary: bool = False


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "error-spike",
            "a canary version answers 503s; the rollout is rolled back",
            FaultRule(service=SERVICE, version="v2", error_rate=1.0),
            is_canary=True,
        ),
        Scenario(
            "latency-regression",
            "every request takes 3 s longer",
            FaultRule(service=SERVICE, latency_ms=3000.0),
        ),
        Scenario(
            "token-cost-spike",
            "responses use three times the tokens",
            FaultRule(service=SERVICE, token_multiplier=3.0),
        ),
        Scenario(
            "upstream-outage",
            "the upstream answers 503 to every request",
            FaultRule(service=SERVICE, error_rate=1.0),
        ),
    )
}


def scenario_named(name: str) -> Scenario:
    """The scenario called `name`; a ValidationError lists the known ones."""
    if name not in SCENARIOS:
        known = ", ".join(SCENARIOS)
        raise ValidationError(f"unknown scenario {name!r}; known: {known}", field="scenario")
    return SCENARIOS[name]
