"""DORA figures from deployments and incidents: exact values for a generated week."""

from __future__ import annotations

import pytest

from prodloop.reviews.dora import dora
from prodloop.store import connect
from tests.reviews.support_review import W47_MONDAY, W48_MONDAY, config_for, write_delivery

WEEK_S = 7 * 86400.0


def test_dora_of_a_week_with_a_rolled_back_canary_and_an_incident(store_url: str) -> None:
    engine = connect(store_url)
    config = config_for(store_url)
    write_delivery(engine)

    week = dora(engine, config, W48_MONDAY, W48_MONDAY + WEEK_S)
    # Live this week: v1 (merged 20 min before going live) and v2 (40 min); v3 rolled back.
    assert week.deployments == 2
    assert week.deploys_per_day == pytest.approx(2 / 7)
    assert (week.lead_time_median_s, week.lead_time_max_s) == (1800.0, 2400.0)
    assert (week.changes, week.failed_changes) == (3, 1)
    assert week.change_failure_rate == pytest.approx(1 / 3)
    # Detected 14:04, mitigated 14:30: restored in 26 minutes.
    assert (week.restores, week.time_to_restore_median_s) == (1, 1560.0)

    last = dora(engine, config, W47_MONDAY, W48_MONDAY)
    assert (last.deployments, last.lead_time_median_s, last.changes) == (1, 3600.0, 1)
    assert (last.change_failure_rate, last.time_to_restore_median_s) == (0.0, None)
    engine.dispose()


def test_dora_of_an_empty_week_has_no_figures_and_no_division_by_zero() -> None:
    engine = connect("sqlite://")
    empty = dora(engine, config_for("sqlite://"), W48_MONDAY, W48_MONDAY + WEEK_S)
    assert (empty.deployments, empty.deploys_per_day, empty.changes) == (0, 0.0, 0)
    assert empty.lead_time_median_s is None and empty.change_failure_rate is None
    assert empty.time_to_restore_median_s is None
