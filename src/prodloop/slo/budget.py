"""Error budgets and burn rates: plain arithmetic over what an SLO counts in a window.

Every SLO kind is reduced to the same two numbers per window, a `Tally`:

* ratio: eligible = requests; bad = server errors (``bad: errors``) or every request that
  did not succeed (``bad: failures``).
* latency: eligible = requests; bad = requests slower than ``threshold_ms`` (from the
  latency histogram, within its 1 % error).
* rate: eligible = requests; bad = requests on which a guardrail triggered.
* average: eligible = requests with a known cost; "bad" = the cost they add up to (USD).

and to one allowed share: ``1 − objective`` for the first three, ``target`` for averages.
Then, with share = bad ÷ eligible:

* error budget = allowed share × eligible (bad events allowed; for averages, the spend
  allowed at the target, in USD);
* budget remaining = 1 − bad ÷ budget (1 untouched, 0 spent, below 0 overspent; for
  averages 1 − average ÷ target);
* burn rate = share ÷ allowed share (1 spends the budget exactly over the window; for
  averages average ÷ target);
* met = share ≤ allowed share, i.e. budget remaining ≥ 0.

A window without eligible events has no share: every figure is None, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

from prodloop.config import Slo
from prodloop.telemetry.rollups import Aggregate

# Float noise in (1 − objective) × eligible must not turn an exactly spent budget into a
# missed SLO.
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Tally:
    """What one SLO counts over one window."""

    eligible: int  # events the SLO is held over (average: requests with a known cost)
    bad: float  # bad events; average: the total of the averaged quantity

    @property
    def share(self) -> float | None:
        """Bad share (average: the average itself); None without eligible events."""
        return self.bad / self.eligible if self.eligible > 0 else None


def tally(slo: Slo, aggregate: Aggregate) -> Tally:
    """Count an SLO's eligible and bad events in an aggregate of requests."""
    if slo.kind == "average":
        return Tally(eligible=aggregate.cost_known, bad=aggregate.cost_usd)
    if slo.kind == "latency":
        assert slo.threshold_ms is not None
        return Tally(aggregate.count, aggregate.latency_hist.count_above(slo.threshold_ms))
    if slo.kind == "rate":
        return Tally(aggregate.count, aggregate.guardrail_requests)
    bad = aggregate.errors if slo.bad == "errors" else aggregate.count - aggregate.successes
    return Tally(aggregate.count, bad)


def allowed_share(slo: Slo) -> float:
    """Share of eligible events that may be bad: 1 − objective, or an average's target."""
    if slo.kind == "average":
        assert slo.target is not None
        return slo.target
    objective = slo.good_objective
    assert objective is not None
    return 1.0 - objective


def error_budget(slo: Slo, counted: Tally) -> float | None:
    """Bad events the window may hold (average: allowed spend); None without events."""
    if counted.eligible <= 0:
        return None
    return allowed_share(slo) * counted.eligible


def budget_remaining(slo: Slo, counted: Tally) -> float | None:
    """Share of the error budget left: 1 untouched, 0 spent, negative when overspent."""
    burn = burn_rate(slo, counted)
    return None if burn is None else 1.0 - burn


def burn_rate(slo: Slo, counted: Tally) -> float | None:
    """How fast the budget burns: bad share ÷ allowed share (1 = exactly on budget)."""
    share = counted.share
    return None if share is None else share / allowed_share(slo)


def is_met(slo: Slo, counted: Tally) -> bool | None:
    """Whether the window is within its error budget; None without events."""
    if counted.eligible <= 0:
        return None
    allowed = allowed_share(slo) * counted.eligible
    return counted.bad <= allowed * (1.0 + _TOLERANCE)
