"""POST /v1/traces as an OpenTelemetry exporter sends it, in JSON and protobuf."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane
from tests.telemetry.test_otlp import CHAT, json_export, json_span, proto_export, proto_span

JSON = {"content-type": "application/json"}
PROTOBUF = {"content-type": "application/x-protobuf"}
# The span helpers stamp spans at 2026-01-01T00:00:00Z, the manual clock's start.
WINDOW = {"start": "2025-12-31T23:00:00Z", "end": "2026-01-01T00:01:00Z"}


def post(plane: ControlPlane, body: bytes, headers: dict[str, str]) -> httpx.Response:
    with plane.client(token=None) as http:
        headers = {**headers, "x-prodloop-key": INGEST_KEY}
        return http.post("/v1/traces", content=body, headers=headers)


def test_json_export_is_answered_in_json_and_counted(control: ControlPlane) -> None:
    body = json_export(
        json_span(CHAT),
        json_span(CHAT, status={"code": 2}),
        json_span({"http.route": "/health"}),
    )
    with control.client(token=INGEST_KEY) as http:
        response = http.post("/v1/traces", content=body, headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    (row,) = control.slis(**WINDOW, group_by="service,version,route,model")["rows"]
    assert row["group"] == {"service": "support-bot", "version": "v7", "route": "gen_ai/chat",
                            "model": "gpt-4o-mini-2024-07-18"}  # fmt: skip
    assert (row["requests"], row["errors"]) == (2, 1)
    assert (row["input_tokens"], row["output_tokens"]) == (2000, 400)
    assert row["latency_ms"]["p50"] == pytest.approx(1250, rel=0.01)


def test_protobuf_export_is_answered_in_protobuf_and_counted(control: ControlPlane) -> None:
    body = proto_export(proto_span(CHAT), proto_span(CHAT, error=True), proto_span(CHAT))
    with control.client(token=INGEST_KEY) as http:
        response = http.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    decoded = ExportTraceServiceResponse.FromString(response.content)
    assert not decoded.HasField("partial_success")
    (row,) = control.slis(**WINDOW, service="support-bot")["rows"]
    assert (row["requests"], row["errors"], row["errors_by_class"]) == (3, 1, {"app_error": 1})


def test_malformed_exports_are_400_in_the_request_encoding(control: ControlPlane) -> None:
    bad_json = post(control, json_export(json_span(CHAT, traceId="zz")), JSON)
    assert bad_json.status_code == 400
    payload = bad_json.json()
    assert payload["code"] == 3
    assert payload["error"]["field"] == "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    bad_proto = post(control, b"\xff\xff\xff", PROTOBUF)
    assert bad_proto.status_code == 400
    assert bad_proto.headers["content-type"] == "application/x-protobuf"
    assert bad_proto.content.startswith(b"\x08\x03\x12")
    assert b"ExportTraceServiceRequest" in bad_proto.content


def test_other_content_types_are_415(control: ControlPlane) -> None:
    response = post(control, b"{}", {"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["field"] == "Content-Type"


def test_oversize_exports_are_413(tmp_path: Path) -> None:
    with running_control_plane(tmp_path, control_yaml="  max_ingest_bytes: 1000") as plane:
        big = json_export(*[json_span(CHAT) for _ in range(5)])
        assert len(big) > 1000
        assert post(plane, big, JSON).status_code == 413
        assert post(plane, json_export(json_span(CHAT)), JSON).status_code == 200


def test_a_full_queue_is_reported_as_partial_success(tmp_path: Path) -> None:
    with running_control_plane(tmp_path, queue_size=1, start_pipeline=False) as plane:
        json_answer = post(plane, json_export(json_span(CHAT), json_span(CHAT)), JSON)
        proto_answer = post(plane, proto_export(proto_span(CHAT)), PROTOBUF)
    assert json_answer.status_code == 200
    partial = orjson.loads(json_answer.content)["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    decoded = ExportTraceServiceResponse.FromString(proto_answer.content)
    assert decoded.partial_success.rejected_spans == 1
