"""Fault injection for drills: added latency, injected errors and inflated tokens.

Off unless `faults.enabled`; a rule naming a version wins over one for the whole service.
Rules come from the config and, at run time, from the store's `fault_rules` table
(`prodloop.gateway.runtime_faults`): a runtime rule wins over the config's for the same
target, and a gateway with faults disabled never takes any.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from prodloop.config import FaultRule, Faults
from prodloop.gateway.replies import GatewayRefusal


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults one (service, version) gets."""

    latency_s: float
    error_rate: float
    error_status: int
    token_multiplier: float

    @classmethod
    def from_rule(cls, rule: FaultRule) -> FaultPlan:
        return cls(
            rule.latency_ms / 1000.0, rule.error_rate, rule.error_status, rule.token_multiplier
        )


class FaultInjector:
    """Looks up the plan for a (service, version) and rolls the dice for injected errors."""

    def __init__(self, faults: Faults, rnd: random.Random | None = None) -> None:
        self._rnd = rnd or random.Random()
        self.is_enabled = faults.enabled
        self._config_rules = tuple(faults.rules)
        self.runtime_rules: tuple[FaultRule, ...] = ()
        self._plans = self._compile(())

    def _compile(self, runtime: Sequence[FaultRule]) -> dict[tuple[str, str | None], FaultPlan]:
        plans: dict[tuple[str, str | None], FaultPlan] = {}
        if self.is_enabled:
            for rule in (*runtime, *self._config_rules):
                # The first rule for a target counts, as a reader of the config expects.
                plans.setdefault((rule.service, rule.version), FaultPlan.from_rule(rule))
        return plans

    def set_runtime_rules(self, rules: Sequence[FaultRule]) -> bool:
        """Take the store's rules (ignored when faults are disabled); True when they changed."""
        if not self.is_enabled or tuple(rules) == self.runtime_rules:
            return False
        # One assignment, so a request sees the old plans or the new ones, never a mix.
        self._plans = self._compile(rules)
        self.runtime_rules = tuple(rules)
        return True

    def __bool__(self) -> bool:
        return bool(self._plans)

    def plan_for(self, service: str, version: str) -> FaultPlan | None:
        """The plan for this version of the service, if any."""
        plans = self._plans
        return plans.get((service, version)) or plans.get((service, None))

    def injected_error(self, plan: FaultPlan, service: str, version: str) -> GatewayRefusal | None:
        """The error to answer instead of calling the upstream, or None this time."""
        if plan.error_rate <= 0 or self._rnd.random() >= plan.error_rate:
            return None
        return GatewayRefusal(
            plan.error_status,
            f"fault injected by prodloop for {service}/{version} (faults.rules in config)",
            error_class="injected_fault",
            error_type="server_error",
            code="injected_fault",
        )
