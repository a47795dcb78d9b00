"""GET /metrics: the Prometheus exposition of what the pipeline has seen."""

from __future__ import annotations

from tests.api.support import INGEST_KEY, ControlPlane


def test_metrics_count_ingested_requests(control: ControlPlane) -> None:
    now = control.clock.now()
    base = {"ts": now, "service": "bot", "version": "v1", "route": "chat", "status": 200,
            "model": "gpt-4o-mini", "latency_ms": 120, "input_tokens": 10}  # fmt: skip
    events = [base, base, {**base, "error_class": "app_error", "status": 500}]
    with control.client(token=INGEST_KEY) as http:
        assert http.post("/api/v1/events", json=events).status_code == 202
    assert control.pipeline.flush(10)
    with control.client(token=None) as http:
        text = http.get("/metrics").text
    labels = 'model="gpt-4o-mini",route="chat",service="bot",version="v1"'
    assert f"prodloop_requests_total{{{labels}}} 3.0" in text
    assert f'prodloop_errors_total{{error_class="app_error",{labels}}} 1.0' in text
    token_labels = labels.replace(',version="v1"', ',type="input",version="v1"')
    assert f"prodloop_tokens_total{{{token_labels}}} 30.0" in text
    assert "prodloop_events_written_total 3.0" in text
