"""W3C Trace Context: continue the caller's trace, or start one, with the gateway's own span."""

from __future__ import annotations

import random
import re

# version-traceid-parentid-flags, lowercase hex, per https://www.w3.org/TR/trace-context/
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_SAMPLED = "01"

# Ids only need to be unique, not unguessable, and this is far cheaper than os.urandom.
_ids = random.Random()


def new_trace_id() -> str:
    """A random, non-zero 16-byte trace id as 32 hex digits."""
    return f"{_ids.getrandbits(128) | 1:032x}"


def new_span_id() -> str:
    """A random, non-zero 8-byte span id as 16 hex digits."""
    return f"{_ids.getrandbits(64) | 1:016x}"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent span id, flags) of a valid traceparent header, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    # Version ff is forbidden; version 00 allows nothing after the flags.
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def child_traceparent(incoming: str | None) -> tuple[str, str]:
    """The traceparent to send upstream and its trace id.

    The caller's trace continues with the gateway's span as the new parent; without a
    valid caller trace, a new sampled trace starts here.
    """
    parsed = parse_traceparent(incoming)
    if parsed is None:
        trace_id, flags = new_trace_id(), _SAMPLED
    else:
        trace_id, _, flags = parsed
    return f"00-{trace_id}-{new_span_id()}-{flags}", trace_id


def new_request_id() -> str:
    """A request id for the x-prodloop-request-id header and the event."""
    return f"req_{_ids.getrandbits(96):024x}"
