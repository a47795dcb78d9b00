"""/api/v1/faults: runtime fault rules, API token only, validated, stored."""

from __future__ import annotations

from prodloop.gateway.runtime_faults import read_fault_rules
from tests.api.support import INGEST_KEY, ControlPlane


def test_faults_need_an_api_token(control: ControlPlane) -> None:
    for token, status in ((None, 401), ("wrong", 401), (INGEST_KEY, 403)):
        with control.client(token) as http:
            assert http.get("/api/v1/faults").status_code == status
            put = http.put("/api/v1/faults", json=[{"service": "chat", "error_rate": 1.0}])
            assert put.status_code == status
            assert http.delete("/api/v1/faults").status_code == status
    assert read_fault_rules(control.engine) == []


def test_put_get_delete(control: ControlPlane) -> None:
    with control.client() as http:
        assert http.get("/api/v1/faults").json() == {
            "rules": [],
            "gateway_faults_enabled": False,
        }
        rules = [
            {"service": "chat", "version": "v2", "error_rate": 0.5},
            {"service": "chat", "latency_ms": 3000},
        ]
        put = http.put("/api/v1/faults", json=rules)
        assert put.status_code == 200, put.text
        expected = [
            {"service": "chat", "version": "v2", "latency_ms": 0.0, "error_rate": 0.5,
             "error_status": 503, "token_multiplier": 1.0},
            {"service": "chat", "version": None, "latency_ms": 3000.0, "error_rate": 0.0,
             "error_status": 503, "token_multiplier": 1.0},
        ]  # fmt: skip
        assert put.json()["rules"] == expected
        assert http.get("/api/v1/faults").json()["rules"] == expected
        # PUT replaces the whole list.
        http.put("/api/v1/faults", json=[{"service": "chat", "token_multiplier": 3}])
        assert [r.token_multiplier for r in read_fault_rules(control.engine)] == [3.0]
        deleted = http.delete("/api/v1/faults")
        assert deleted.status_code == 200 and deleted.json()["rules"] == []
    assert read_fault_rules(control.engine) == []


def test_bad_rules_are_refused_naming_the_field(control: ControlPlane) -> None:
    with control.client() as http:
        http.put("/api/v1/faults", json=[{"service": "chat", "latency_ms": 10}])
        for body, field in (
            ([{"service": "chat", "error_rate": 2}], "[0].error_rate"),
            ([{"service": "chat"}, {"error_rate": 0.5}], "[1].service"),
            ([{"service": "chat", "error_status": 404}], "[0].error_status"),
            ([{"service": "chat", "colour": "red"}], "[0].colour"),
            ({"service": "chat"}, "body"),
        ):
            response = http.put("/api/v1/faults", json=body)
            assert response.status_code == 422, (body, response.text)
            assert field in response.text, (field, response.text)
    # Nothing half-written: the rule put before is still the only one.
    assert [r.latency_ms for r in read_fault_rules(control.engine)] == [10.0]
