"""Fuzz the gateway's public surface: whatever a client sends, never a 5xx of prodloop's own.

The upstream here is healthy, so any 5xx would be the gateway failing on a client's input.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import CHAT_KEY, GLOBAL_KEY, Gateway

FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
CHATTY = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.text(max_size=30), st.integers(), st.none()),
        "messages": st.one_of(
            st.lists(
                st.dictionaries(st.sampled_from(["role", "content", "name"]), JSON), max_size=3
            ),
            JSON,
        ),
        "stream": st.one_of(st.booleans(), st.text(max_size=5), st.none()),
        "stream_options": JSON,
        "max_tokens": st.one_of(st.integers(), st.text(max_size=5), FLOATS),
        "user": JSON,
        "input": JSON,
        "prompt": JSON,
    },
)
PATHS = st.sampled_from(
    [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/models",
        "/s/chat/v1/chat/completions",
        "/s/nope/v1/chat/completions",
        "/v1/%2e%2e/x",
        "/",
        "/v1/",
    ]
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_not_our_failure(status: int, body: bytes) -> None:
    assert status < 500, body[:300]
    if status >= 400:
        error = json.loads(body)["error"]
        assert error["message"]  # every refusal says what is wrong


@FUZZ
@given(path=PATHS, body=CHATTY, key=st.sampled_from([GLOBAL_KEY, CHAT_KEY, "wrong", None]))
def test_json_bodies_never_fail_the_gateway(
    gateway: Gateway, path: str, body: dict, key: str | None
) -> None:
    response = gateway.post(path, body, key=key)
    _assert_not_our_failure(response.status_code, response.content)


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ),
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
)
def test_raw_bytes_never_fail_the_gateway(
    gateway: Gateway, raw: bytes, content_type: str, method: str
) -> None:
    headers = {"authorization": f"Bearer {GLOBAL_KEY}"}
    if content_type:
        headers["content-type"] = content_type
    response = gateway.http.request(
        method, f"{gateway.url}/v1/chat/completions", content=raw, headers=headers
    )
    _assert_not_our_failure(response.status_code, response.content)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "content-length",
                "traceparent",
                "x-prodloop-user",
                "api-key",
                "authorization",
                "x-api-key",
            ]
        ),
        # HTTP clients refuse values with surrounding white space before sending them.
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(
            str.strip
        ),
        max_size=4,
    )
)
def test_odd_headers_never_fail_the_gateway(gateway: Gateway, headers: dict[str, str]) -> None:
    headers.setdefault("authorization", f"Bearer {GLOBAL_KEY}")
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    try:
        response = gateway.http.post(
            f"{gateway.url}/v1/chat/completions", content=body, headers=headers
        )
    except Exception:
        # A content-length that lies about the body makes the client itself refuse to send
        # (httpx or h11 raise before the gateway sees anything); nothing else may fail.
        if "content-length" not in {k.lower() for k in headers}:
            raise
        return
    _assert_not_our_failure(response.status_code, response.content)
