"""Who may do what: API tokens read and write, ingest keys only write."""

from __future__ import annotations

from pathlib import Path

from tests.api.support import API_TOKEN, INGEST_KEY, ControlPlane, running_control_plane

EVENT = {"ts": 1_767_225_500.0, "service": "bot", "version": "v1", "route": "chat",
         "status": 200, "latency_ms": 12.5}  # fmt: skip


def test_reading_slis_needs_an_api_token(control: ControlPlane) -> None:
    with control.client(token=None) as http:
        missing = http.get("/api/v1/slis")
        wrong = http.get("/api/v1/slis", headers={"authorization": "Bearer nope"})
        basic = http.get("/api/v1/slis", headers={"authorization": "Basic dXNlcjpwYXNz"})
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.json()["error"]["field"] == "Authorization"
        assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]


def test_an_ingest_key_cannot_read(control: ControlPlane) -> None:
    with control.client(token=INGEST_KEY) as http:
        response = http.get("/api/v1/slis")
    assert response.status_code == 403
    assert "write-only" in response.json()["error"]["message"]


def test_an_api_token_reads(control: ControlPlane) -> None:
    with control.client(token=API_TOKEN) as http:
        response = http.get("/api/v1/slis")
    assert response.status_code == 200
    body = response.json()
    assert body["end"] == control.clock.now()
    assert body["start"] == control.clock.now() - 3600
    assert [row["requests"] for row in body["rows"]] == [0]


def test_writing_events_takes_an_ingest_key_or_an_api_token(control: ControlPlane) -> None:
    with control.client(token=None) as http:
        assert http.post("/api/v1/events", json=[EVENT]).status_code == 401
        bearer_ingest = http.post(
            "/api/v1/events", json=[EVENT], headers={"authorization": f"Bearer {INGEST_KEY}"}
        )
        header_ingest = http.post(
            "/api/v1/events", json=[EVENT], headers={"x-prodloop-key": INGEST_KEY}
        )
        api_token = http.post(
            "/api/v1/events", json=[EVENT], headers={"authorization": f"Bearer {API_TOKEN}"}
        )
        wrong = http.post("/api/v1/events", json=[EVENT], headers={"x-prodloop-key": "guess"})
    assert [bearer_ingest.status_code, header_ingest.status_code, api_token.status_code] == [
        202
    ] * 3
    assert wrong.status_code == 401
    assert control.slis(service="bot")["rows"][0]["requests"] == 3


def test_otlp_needs_a_key(control: ControlPlane) -> None:
    with control.client(token=None) as http:
        response = http.post(
            "/v1/traces", content=b"{}", headers={"content-type": "application/json"}
        )
    assert response.status_code == 401
    assert response.json()["code"] == 16  # google.rpc UNAUTHENTICATED
    assert response.json()["error"]["field"] == "Authorization"


def test_metrics_health_and_docs_are_open(control: ControlPlane) -> None:
    with control.client(token=None) as http:
        metrics = http.get("/metrics")
        health = http.get("/healthz")
        docs = http.get("/docs")
        schema = http.get("/openapi.json")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert health.json() == {
        "status": "ok",
        "store": "ok",
        "events_written": 0,
        "events_dropped": 0,
    }
    assert docs.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/slis", "/api/v1/events", "/v1/traces", "/metrics", "/healthz"} <= set(paths)


def test_unset_token_variables_leave_reads_refused_with_advice(tmp_path: Path) -> None:
    with running_control_plane(tmp_path, environ={}) as plane, plane.client(token=None) as http:
        response = http.get("/api/v1/slis")
        guessed = http.get("/api/v1/slis", headers={"authorization": "Bearer x"})
    assert response.status_code == 401
    assert "control.api_tokens" in response.json()["error"]["message"]
    assert guessed.status_code == 401
