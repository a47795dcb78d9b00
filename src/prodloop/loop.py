"""tick(engine, config, now): the one place that runs every evaluator in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from prodloop.alerting.evaluate import AlertTransition, evaluate_alerts
from prodloop.alerting.paging import PagingReport, run_paging
from prodloop.analytics.retention_prune import prune_analytics
from prodloop.config import Config
from prodloop.feedback.tick import run_feedback
from prodloop.incidents.tick import IncidentReport, run_incidents
from prodloop.releases.rollouts import RolloutEvent, advance_rollouts
from prodloop.reviews.tick import run_experiment_watch, run_launch_watch, run_scheduled_reviews
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.rollups import prune


@dataclass(frozen=True)
class TickReport:
    now: float
    pruned: dict[str, int] = field(default_factory=dict)
    alert_transitions: list[AlertTransition] = field(default_factory=list)
    paging: PagingReport = field(default_factory=PagingReport)
    rollouts: list[RolloutEvent] = field(default_factory=list)
    incidents: IncidentReport = field(default_factory=IncidentReport)
    support_notices: int = 0
    reviews: list[str] = field(default_factory=list)


def tick(
    engine: Engine, config: Config, now: float, *, metrics: Metrics | None = None
) -> TickReport:
    """Run every evaluator once for `now`. Later evaluators (SLOs, alerts, rollouts) join here."""
    pruned = prune(engine, config.telemetry, now)
    pruned["analytics_events"] = prune_analytics(engine, config, now)
    alert_transitions = evaluate_alerts(engine, config, now)
    # After the alerts, so a page that fired this tick rolls a canary back; before
    # paging, so a rollback's notice is sent in the same tick.
    rollout_events = advance_rollouts(engine, config, now)
    # After the rollouts, so a canary rolled back for the page is on the timeline; before
    # paging, so an incident's reminder or escalation is sent in the same tick.
    incident_report = run_incidents(engine, config, now)
    # Before paging, so a support notice queued here is delivered in the same tick.
    support_notices = run_feedback(engine, config, now)
    # After the alerts and incidents of this tick, which a GA watch or a review reads.
    review_steps = run_launch_watch(engine, config, now) + run_scheduled_reviews(
        engine, config, now
    )
    review_steps += run_experiment_watch(engine, config, now)
    paging = run_paging(engine, config, now, metrics=metrics)
    return TickReport(
        now=now,
        pruned=pruned,
        alert_transitions=alert_transitions,
        paging=paging,
        rollouts=rollout_events,
        incidents=incident_report,
        support_notices=support_notices,
        reviews=review_steps,
    )
