"""slo_status and weekly_record over a real store, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from prodloop.config import parse_config
from prodloop.errors import ValidationError
from prodloop.slo import slo_status, weekly_record, weeks_all_met
from prodloop.store import connect
from prodloop.telemetry.rollups import DAY_S, write_events
from tests.slo.traffic import T0, config_text, event, make_config, minute_aggregate, write_history

IDLE_SERVICE = """
  idle:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
"""


def _fill(engine: Engine) -> None:
    # chat: a clean week (Mon 22 – Mon 29 Dec), then 2.5 % errors since Monday of this week
    write_history(engine, T0 - 10 * DAY_S, T0 - 3 * DAY_S)
    write_history(engine, T0 - 3 * DAY_S, T0, minute=minute_aggregate(120, errors=3))
    # search sends requests through the SDK but is not in the config
    write_events(engine, [event(T0 - 30 - i, "search", latency_ms=2500.0) for i in range(20)])


def test_status_of_every_slo_of_every_service(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    _fill(engine)

    statuses = {(s.service, s.slo): s for s in slo_status(engine, config, T0)}

    assert sorted(statuses) == [
        (service, slo)
        for service in ("chat", "search")
        for slo in ("cost-per-request", "error-rate", "latency-p95", "success-rate")
    ]
    errors = statuses["chat", "error-rate"]
    assert errors.requests == 10 * 1440 * 120
    assert errors.sli == pytest.approx(0.0075)  # 3 of 120 for 3 of 10 days
    assert (errors.indicator, errors.comparator) == ("error_rate", "<=")
    assert errors.error_budget == pytest.approx(17_280)
    assert errors.budget_remaining == pytest.approx(0.25)
    assert errors.is_met is True
    assert errors.burn_rates == {
        "1h": pytest.approx(2.5),
        "6h": pytest.approx(2.5),
        "1d": pytest.approx(2.5),
    }
    assert errors.week_start == T0 - 3 * DAY_S
    assert errors.week_sli == pytest.approx(0.025)
    assert errors.is_met_this_week is False

    success = statuses["chat", "success-rate"]
    assert success.sli == pytest.approx(0.9925)
    assert success.budget_remaining == pytest.approx(-0.5)  # overspent by half
    assert success.to_dict()["budget_remaining_pct"] == pytest.approx(-50)
    assert success.is_met is False and success.burn_rates["1h"] == pytest.approx(5.0)

    cost = statuses["chat", "cost-per-request"]
    assert cost.sli == pytest.approx(0.001)
    assert cost.budget_remaining == pytest.approx(0.5)
    assert cost.is_met_this_week is True

    slow = statuses["search", "latency-p95"]
    assert slow.requests == 20 and slow.sli == pytest.approx(2500, rel=0.01)
    assert slow.budget_remaining == pytest.approx(1 - 20 / (20 * 0.05))
    assert slow.is_met is False and slow.burn_rates["1h"] == pytest.approx(20)


def test_one_service_and_services_without_traffic(store_url: str) -> None:
    engine = connect(store_url)
    _fill(engine)
    text = config_text(store_url).replace("services:\n", "services:" + IDLE_SERVICE, 1)
    config = parse_config(text, environ={})

    idle = slo_status(engine, config, T0, service="idle")
    assert [s.slo for s in idle] == [
        "latency-p95",
        "error-rate",
        "cost-per-request",
        "success-rate",
    ]
    for status in idle:
        body = status.to_dict()
        assert body["requests"] == 0
        assert body["sli"] is body["budget_remaining"] is body["is_met_this_week"] is None
        assert body["burn_rates"] == {"1h": None, "6h": None, "1d": None}
    assert {s.service for s in slo_status(engine, config, T0, service="search")} == {"search"}
    with pytest.raises(ValidationError) as raised:
        slo_status(engine, config, T0, service="nope")
    assert raised.value.field == "service"
    assert "known: chat, idle, search" in raised.value.message


def test_weekly_record_says_which_weeks_were_met(store_url: str) -> None:
    engine = connect(store_url)
    config = make_config(store_url)
    _fill(engine)
    now = T0 + 7 * DAY_S  # Thursday of the following week

    records = {(r.service, r.slo): r for r in weekly_record(engine, config, now, weeks=3)}

    errors = records["chat", "error-rate"]
    assert [w.start for w in errors.weeks] == [T0 - 17 * DAY_S, T0 - 10 * DAY_S, T0 - 3 * DAY_S]
    assert [w.is_met for w in errors.weeks] == [None, True, False]
    assert [w.requests for w in errors.weeks] == [0, 7 * 1440 * 120, 3 * 1440 * 120]
    assert (errors.weeks_met, errors.weeks_with_traffic, errors.met_share) == (1, 2, 0.5)
    assert errors.to_dict()["weeks"][1]["sli"] == 0.0
    assert weeks_all_met(list(records.values()), "chat") == [None, True, False]
    with pytest.raises(ValidationError):
        weekly_record(engine, config, now, weeks=0)
