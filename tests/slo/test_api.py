"""GET /api/v1/slos through the real HTTP app: same data as the CLI, token auth, 422s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodloop.clock import ManualClock
from prodloop.telemetry.rollups import DAY_S
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane
from tests.slo.traffic import T0, minute_aggregate, write_history


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path, clock=ManualClock(T0)) as plane:
        write_history(plane.engine, T0 - 2 * DAY_S, T0, minute=minute_aggregate(120, errors=3))
        yield plane


def test_slos_for_every_service(plane: ControlPlane) -> None:
    with plane.client() as http:
        response = http.get("/api/v1/slos")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["now"] == T0
    by_slo = {(row["service"], row["slo"]): row for row in body["slos"]}
    assert set(by_slo) == {
        ("chat", "latency-p95"),
        ("chat", "error-rate"),
        ("chat", "cost-per-request"),
        ("chat", "success-rate"),
    }
    errors = by_slo["chat", "error-rate"]
    assert errors["sli"] == pytest.approx(0.025)
    assert errors["target"] == pytest.approx(0.01)
    assert errors["budget_remaining_pct"] == pytest.approx(-150)
    assert errors["burn_rates"] == {
        "1h": pytest.approx(2.5),
        "6h": pytest.approx(2.5),
        "1d": pytest.approx(2.5),
    }
    assert errors["week_start"] == T0 - 3 * DAY_S
    assert errors["is_met_this_week"] is False
    assert by_slo["chat", "cost-per-request"]["objective"] is None


def test_one_service(plane: ControlPlane) -> None:
    with plane.client() as http:
        rows = http.get("/api/v1/slos", params={"service": "chat"}).json()["slos"]
    assert [row["slo"] for row in rows] == [
        "latency-p95", "error-rate", "cost-per-request", "success-rate",
    ]  # fmt: skip


@pytest.mark.parametrize("service", ["nope", "", "x" * 129])
def test_bad_service_is_422_naming_it(plane: ControlPlane, service: str) -> None:
    with plane.client() as http:
        response = http.get("/api/v1/slos", params={"service": service})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "service"


def test_reading_needs_an_api_token(plane: ControlPlane) -> None:
    with plane.client(token=None) as http:
        assert http.get("/api/v1/slos").status_code == 401
    with plane.client(token=INGEST_KEY) as http:
        assert http.get("/api/v1/slos").status_code == 403
