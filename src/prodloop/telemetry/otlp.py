"""OTLP/HTTP trace exports (JSON and protobuf) read as RequestEvents.

Only spans that follow the OpenTelemetry GenAI semantic conventions become events;
every other span in an export is ignored. The JSON reader follows the OTLP/JSON mapping
(lowerCamelCase keys, hex trace ids, 64-bit integers as strings) and also accepts the
proto field names, as the specification asks receivers to.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from prodloop.errors import ValidationError
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.pricing import PriceTable

# A span is a GenAI call when it carries at least one of these.
GENAI_KEYS = frozenset(
    {
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.operation.name",
    }
)
# Newest name first; the older names are still emitted by many instrumentations.
_INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHED_TOKENS = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
_USER = ("user.id", "enduser.id")

# Column widths of request_events: longer values would fail the whole batch write later.
_MAX_LEN = {"service": 128, "version": 128, "route": 256, "model": 256, "provider": 64, "user": 256}
_STATUS_ERROR = Status.StatusCode.STATUS_CODE_ERROR
_STATUS_NAMES = dict(Status.StatusCode.items())


@dataclass(frozen=True, slots=True)
class _Span:
    where: str  # path of the span in the export, for error messages
    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    is_error: bool
    attributes: Mapping[str, Any]


def parse_otlp_json(body: bytes, prices: PriceTable) -> list[RequestEvent]:
    """The GenAI spans of an OTLP/JSON ExportTraceServiceRequest, as events."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"body is not valid JSON: {exc}", field="body") from exc
    return _events(_json_spans(data), prices)


def parse_otlp_protobuf(body: bytes, prices: PriceTable) -> list[RequestEvent]:
    """The GenAI spans of a protobuf ExportTraceServiceRequest, as events."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise ValidationError(
            f"body is not a protobuf ExportTraceServiceRequest: {exc}", field="body"
        ) from exc
    return _events(_proto_spans(request), prices)


def export_response(*, is_protobuf: bool, rejected_spans: int = 0, message: str = "") -> bytes:
    """An ExportTraceServiceResponse, with partial success when spans were rejected."""
    if is_protobuf:
        response = ExportTraceServiceResponse()
        if rejected_spans or message:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=rejected_spans, error_message=message)
            )
        return bytes(response.SerializeToString())
    if not (rejected_spans or message):
        return b"{}"
    partial = {"rejectedSpans": str(rejected_spans), "errorMessage": message}
    return orjson.dumps({"partialSuccess": partial})


def status_body(code: int, message: str) -> bytes:
    """A protobuf google.rpc.Status, the body OTLP/HTTP asks for on errors.

    Encoded by hand: the message has two scalar fields and the googleapis protos are
    not a dependency.
    """
    text = message.encode("utf-8")
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    if text:
        out += b"\x12" + _varint(len(text)) + text
    return bytes(out)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# -- events ---------------------------------------------------------------------------


def _events(
    spans: Iterator[tuple[Mapping[str, Any], _Span]], prices: PriceTable
) -> list[RequestEvent]:
    events: list[RequestEvent] = []
    for resource, span in spans:
        if not GENAI_KEYS.intersection(span.attributes):
            continue
        events.append(_to_event(resource, span, prices))
    return events


def _to_event(resource: Mapping[str, Any], span: _Span, prices: PriceTable) -> RequestEvent:
    attrs = span.attributes
    if span.start_ns <= 0:
        raise ValidationError("span has no start time", field=f"{span.where}.startTimeUnixNano")
    if span.end_ns < span.start_ns:
        raise ValidationError("span ends before it starts", field=f"{span.where}.endTimeUnixNano")
    operation = _text(attrs, ("gen_ai.operation.name",), span.where) or "unknown"
    model = _text(attrs, ("gen_ai.response.model",), span.where) or _text(
        attrs, ("gen_ai.request.model",), span.where
    )
    input_tokens = _count(attrs, _INPUT_TOKENS, span.where)
    output_tokens = _count(attrs, _OUTPUT_TOKENS, span.where)
    cached_tokens = _count(attrs, _CACHED_TOKENS, span.where)
    is_error = span.is_error or attrs.get("error.type") not in (None, "")
    fields = {
        "service": _text(resource, ("service.name",), "resource") or "unknown_service",
        "version": _text(resource, ("service.version",), "resource") or "unknown",
        "route": f"gen_ai/{operation}",
        "model": model,
        "provider": _text(attrs, _PROVIDER, span.where),
        "user": _text(attrs, _USER, span.where),
    }
    for name, value in fields.items():
        if value is not None and len(value) > _MAX_LEN[name]:
            where = "resource" if name in ("service", "version") else span.where
            raise ValidationError(f"{name} is longer than {_MAX_LEN[name]} characters", field=where)
    response_id = _text(attrs, ("gen_ai.response.id",), span.where)
    return RequestEvent(
        ts=span.start_ns / 1e9,
        service=fields["service"] or "",
        version=fields["version"] or "",
        route=fields["route"] or "",
        status=500 if is_error else 200,
        latency_ms=(span.end_ns - span.start_ns) / 1e6,
        request_id=(response_id or span.span_id)[:64],
        trace_id=span.trace_id,
        model=model,
        provider=fields["provider"],
        error_class="app_error" if is_error else None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=cached_tokens,
        cost_usd=prices.cost(model, input_tokens, output_tokens, cached_tokens),
        user=fields["user"],
        source="otlp",
    )


def _text(attrs: Mapping[str, Any], keys: tuple[str, ...], where: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError("must be a string", field=f"{where}.attributes[{key}]")
        return str(value)
    return None


def _count(attrs: Mapping[str, Any], keys: tuple[str, ...], where: str) -> int:
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        field = f"{where}.attributes[{key}]"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be an integer token count", field=field)
        if value < 0:
            raise ValidationError("must not be negative", field=field)
        return value
    return 0


# -- protobuf ---------------------------------------------------------------------------


def _proto_spans(
    request: ExportTraceServiceRequest,
) -> Iterator[tuple[Mapping[str, Any], _Span]]:
    for r, resource_spans in enumerate(request.resource_spans):
        resource = _proto_attributes(resource_spans.resource.attributes)
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, span in enumerate(scope_spans.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                trace_id = bytes(span.trace_id)
                if len(trace_id) not in (0, 16):
                    raise ValidationError("trace id must be 16 bytes", field=f"{where}.traceId")
                yield (
                    resource,
                    _Span(
                        where=where,
                        trace_id=trace_id.hex(),
                        span_id=bytes(span.span_id).hex(),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        is_error=span.status.code == _STATUS_ERROR,
                        attributes=_proto_attributes(span.attributes),
                    ),
                )


def _proto_attributes(pairs: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        result[pair.key] = _proto_value(pair.value)
    return result


def _proto_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_proto_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _proto_attributes(value.kvlist_value.values)
    return getattr(value, kind)


# -- JSON -------------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("must be an object", field=where)
    return value


def _array(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("must be an array", field=where)
    return value


def _json_spans(data: Any) -> Iterator[tuple[Mapping[str, Any], _Span]]:
    root = _object(data, "body")
    for r, rs in enumerate(_array(_get(root, "resourceSpans", "resource_spans"), "resourceSpans")):
        rwhere = f"resourceSpans[{r}]"
        rs = _object(rs, rwhere)
        resource_obj = _object(rs.get("resource"), f"{rwhere}.resource")
        resource = _json_attributes(resource_obj.get("attributes"), f"{rwhere}.resource")
        scopes = _get(rs, "scopeSpans", "scope_spans")
        if scopes is None:  # the name before OTLP 1.0
            scopes = _get(rs, "instrumentationLibrarySpans", "instrumentation_library_spans")
        for s, ss in enumerate(_array(scopes, f"{rwhere}.scopeSpans")):
            swhere = f"{rwhere}.scopeSpans[{s}]"
            ss = _object(ss, swhere)
            for i, span in enumerate(_array(ss.get("spans"), f"{swhere}.spans")):
                yield (
                    resource,
                    _json_span(_object(span, f"{swhere}.spans[{i}]"), f"{swhere}.spans[{i}]"),
                )


def _json_span(span: Mapping[str, Any], where: str) -> _Span:
    status = _object(span.get("status"), f"{where}.status")
    code = status.get("code", 0)
    if isinstance(code, str):
        code = _STATUS_NAMES.get(code, code)
    if isinstance(code, bool) or not isinstance(code, int):
        raise ValidationError("must be a status code (0, 1 or 2)", field=f"{where}.status.code")
    return _Span(
        where=where,
        trace_id=_hex_id(_get(span, "traceId", "trace_id"), 16, f"{where}.traceId"),
        span_id=_hex_id(_get(span, "spanId", "span_id"), 8, f"{where}.spanId"),
        start_ns=_int64(
            _get(span, "startTimeUnixNano", "start_time_unix_nano"), f"{where}.startTimeUnixNano"
        ),
        end_ns=_int64(
            _get(span, "endTimeUnixNano", "end_time_unix_nano"), f"{where}.endTimeUnixNano"
        ),
        is_error=code == _STATUS_ERROR,
        attributes=_json_attributes(span.get("attributes"), where),
    )


def _hex_id(value: Any, size: int, where: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) != size * 2:
        raise ValidationError(f"must be {size * 2} hex characters", field=where)
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise ValidationError(f"must be {size * 2} hex characters", field=where) from exc
    return value.lower()


def _int64(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValidationError("must be an unsigned integer (as a string)", field=where)


def _json_attributes(value: Any, where: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for i, pair in enumerate(_array(value, f"{where}.attributes")):
        pwhere = f"{where}.attributes[{i}]"
        pair = _object(pair, pwhere)
        key = pair.get("key")
        if not isinstance(key, str):
            raise ValidationError("attribute has no string key", field=f"{pwhere}.key")
        result[key] = _json_value(pair.get("value"), f"{pwhere}.value")
    return result


def _json_value(value: Any, where: str) -> Any:
    obj = _object(value, where)
    if not obj:
        return None
    if "stringValue" in obj or "string_value" in obj:
        text = _get(obj, "stringValue", "string_value")
        if not isinstance(text, str):
            raise ValidationError("stringValue must be a string", field=where)
        return text
    if "boolValue" in obj or "bool_value" in obj:
        flag = _get(obj, "boolValue", "bool_value")
        if not isinstance(flag, bool):
            raise ValidationError("boolValue must be true or false", field=where)
        return flag
    if "intValue" in obj or "int_value" in obj:
        number = _get(obj, "intValue", "int_value")
        if isinstance(number, str):
            try:
                return int(number)
            except ValueError as exc:
                raise ValidationError("intValue must be an integer", field=where) from exc
        if isinstance(number, int) and not isinstance(number, bool):
            return number
        raise ValidationError("intValue must be an integer", field=where)
    if "doubleValue" in obj or "double_value" in obj:
        return _double(_get(obj, "doubleValue", "double_value"), where)
    if "arrayValue" in obj or "array_value" in obj:
        array = _object(_get(obj, "arrayValue", "array_value"), where)
        return [
            _json_value(v, f"{where}[{i}]")
            for i, v in enumerate(_array(array.get("values"), where))
        ]
    if "kvlistValue" in obj or "kvlist_value" in obj:
        kvlist = _object(_get(obj, "kvlistValue", "kvlist_value"), where)
        return _json_attributes(kvlist.get("values"), where)
    if "bytesValue" in obj or "bytes_value" in obj:
        return _get(obj, "bytesValue", "bytes_value")  # base64 text; never a GenAI field
    raise ValidationError("attribute value has no known type", field=where)


def _double(value: Any, where: str) -> float:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValidationError("doubleValue must be a number", field=where)
