from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from prodloop.errors import ValidationError
from prodloop.telemetry.otlp import (
    export_response,
    parse_otlp_json,
    parse_otlp_protobuf,
    status_body,
)
from prodloop.telemetry.pricing import PriceTable

PRICES = PriceTable()
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
TRACE_ID = "5b8efff798038103d269b633813fc60c"


def json_attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def json_span(attrs: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID,
        "spanId": "eee19b7ec3c1b174",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 1_250_000_000),
        "attributes": [json_attr(k, v) for k, v in attrs.items()],
        "status": {},
    }
    span.update(overrides)
    return span


def json_export(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    resource = resource or {"service.name": "support-bot", "service.version": "v7"}
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [json_attr(k, v) for k, v in resource.items()]},
                    "scopeSpans": [{"scope": {"name": "openai"}, "spans": list(spans)}],
                }
            ]
        }
    )


CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 200,
}


def test_json_genai_span_becomes_an_event() -> None:
    plain = json_span({"http.request.method": "GET"}, spanId="aaaaaaaaaaaaaaaa")
    (event,) = parse_otlp_json(json_export(json_span(CHAT), plain), PRICES)
    assert event.ts == pytest.approx(1_767_225_600.0)
    assert event.latency_ms == pytest.approx(1250.0)
    assert event.service == "support-bot"
    assert event.version == "v7"
    assert event.route == "gen_ai/chat"
    assert event.model == "gpt-4o-mini-2024-07-18"
    assert event.provider == "openai"
    assert (event.input_tokens, event.output_tokens) == (1000, 200)
    assert event.trace_id == TRACE_ID
    assert event.request_id == "eee19b7ec3c1b174"
    assert event.status == 200
    assert event.error_class is None
    assert event.source == "otlp"
    # gpt-4o-mini: $0.15 / M input, $0.60 / M output
    assert event.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)


def test_json_error_status_or_error_type_is_an_app_error() -> None:
    by_status = json_span(CHAT, status={"code": 2, "message": "boom"})
    by_name = json_span(CHAT, status={"code": "STATUS_CODE_ERROR"})
    by_type = json_span({**CHAT, "error.type": "timeout"})
    events = parse_otlp_json(json_export(by_status, by_name, by_type), PRICES)
    assert [(e.status, e.error_class) for e in events] == [(500, "app_error")] * 3


def test_json_defaults_and_older_names() -> None:
    attrs = {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-haiku",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 5,
    }
    body = json_export(json_span(attrs), resource={"service.name": "bot"})
    (event,) = parse_otlp_json(body, PRICES)
    assert event.version == "unknown"
    assert event.route == "gen_ai/unknown"
    assert event.provider == "anthropic"
    assert event.model == "claude-3-haiku"
    assert (event.input_tokens, event.output_tokens) == (10, 5)


def test_json_accepts_proto_field_names_and_unknown_model_has_no_cost() -> None:
    body = orjson.dumps(
        {
            "resource_spans": [
                {
                    "scope_spans": [
                        {
                            "spans": [
                                {
                                    "trace_id": TRACE_ID.upper(),
                                    "start_time_unix_nano": START_NS,
                                    "end_time_unix_nano": START_NS + 5_000_000,
                                    "attributes": [json_attr("gen_ai.request.model", "my-llm")],
                                }
                            ]
                        }
                    ]
                }
            ]
        }
    )
    (event,) = parse_otlp_json(body, PRICES)
    assert event.trace_id == TRACE_ID
    assert event.latency_ms == pytest.approx(5.0)
    assert event.service == "unknown_service"
    assert event.cost_usd is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"resourceSpans": {}}', "resourceSpans"),
        (
            json_export(json_span(CHAT, traceId="xyz")),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId",
        ),
        (
            json_export(json_span(CHAT, endTimeUnixNano=str(START_NS - 1))),
            "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano",
        ),
        (
            json_export(json_span(CHAT, startTimeUnixNano="soon")),
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
        ),
        (
            json_export(json_span({**CHAT, "gen_ai.usage.input_tokens": "many"})),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[gen_ai.usage.input_tokens]",
        ),
        (
            json_export(json_span({**CHAT, "gen_ai.usage.input_tokens": -3})),
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[gen_ai.usage.input_tokens]",
        ),
        (
            json_export(json_span(CHAT), resource={"service.name": "s" * 200}),
            "resource",
        ),
    ],
)
def test_json_malformed_payloads_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_otlp_json(body, PRICES)
    assert info.value.field == field
    assert info.value.status_code == 422


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def proto_export(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    resource = resource or {"service.name": "support-bot", "service.version": "v7"}
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[kv(k, v) for k, v in resource.items()]),
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )
    return bytes(request.SerializeToString())


def proto_span(
    attrs: dict[str, Any], *, error: bool = False, duration_ns: int = 800_000_000
) -> Span:
    return Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex("eee19b7ec3c1b174"),
        name="chat",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + duration_ns,
        attributes=[kv(k, v) for k, v in attrs.items()],
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )


def test_protobuf_genai_spans_become_events() -> None:
    body = proto_export(
        proto_span(CHAT),
        proto_span({**CHAT, "gen_ai.usage.cache_read.input_tokens": 400}, error=True),
        proto_span({"db.system": "postgresql"}),
    )
    ok, failed = parse_otlp_protobuf(body, PRICES)
    assert (ok.service, ok.version, ok.route) == ("support-bot", "v7", "gen_ai/chat")
    assert ok.latency_ms == pytest.approx(800.0)
    assert ok.trace_id == TRACE_ID
    assert (ok.status, ok.error_class) == (200, None)
    assert (failed.status, failed.error_class) == (500, "app_error")
    assert failed.cached_tokens == 400
    expected = (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6
    assert failed.cost_usd == pytest.approx(expected)


def test_protobuf_garbage_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        parse_otlp_protobuf(b"\xff\xff\xff\xff", PRICES)
    assert info.value.field == "body"


def test_protobuf_short_trace_id_is_rejected() -> None:
    span = proto_span(CHAT)
    span.trace_id = b"\x01\x02"
    with pytest.raises(ValidationError) as info:
        parse_otlp_protobuf(proto_export(span), PRICES)
    assert info.value.field == "resourceSpans[0].scopeSpans[0].spans[0].traceId"


def test_export_response_in_both_encodings() -> None:
    assert export_response(is_protobuf=False) == b"{}"
    partial = orjson.loads(export_response(is_protobuf=False, rejected_spans=3, message="full"))
    assert partial == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "full"}}
    decoded = ExportTraceServiceResponse.FromString(
        export_response(is_protobuf=True, rejected_spans=3, message="full")
    )
    assert decoded.partial_success.rejected_spans == 3
    assert decoded.partial_success.error_message == "full"
    assert export_response(is_protobuf=True) == b""


def test_status_body_is_a_google_rpc_status() -> None:
    # field 1 (code) varint 3, field 2 (message) length-delimited
    assert status_body(3, "bad") == b"\x08\x03\x12\x03bad"
    long = status_body(300, "x" * 200)
    assert long[:3] == b"\x08\xac\x02"
    assert long[3:6] == b"\x12\xc8\x01"
