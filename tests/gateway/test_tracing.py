from __future__ import annotations

from prodloop.gateway.tracing import child_traceparent, new_request_id, parse_traceparent

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parse_valid_and_invalid() -> None:
    assert parse_traceparent(INCOMING) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "01",
    )
    assert parse_traceparent(None) is None
    assert parse_traceparent("garbage") is None
    assert parse_traceparent("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01") is None
    assert parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") is None
    assert parse_traceparent(INCOMING + "-extra") is None  # version 00 has nothing after
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")


def test_child_keeps_trace_and_flags_with_a_new_parent() -> None:
    header, trace_id = child_traceparent(INCOMING)
    parsed = parse_traceparent(header)
    assert parsed is not None
    assert trace_id == parsed[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parsed[1] != "00f067aa0ba902b7"
    assert parsed[2] == "01"


def test_new_trace_when_absent_or_invalid() -> None:
    for incoming in (None, "nonsense"):
        header, trace_id = child_traceparent(incoming)
        parsed = parse_traceparent(header)
        assert parsed is not None and parsed[0] == trace_id and parsed[2] == "01"
    assert child_traceparent(None)[1] != child_traceparent(None)[1]


def test_request_ids_are_unique() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)
