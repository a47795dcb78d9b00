"""What the gateway forwards, and how it fails: over real sockets, with httpx and the SDK."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import orjson
import pytest

from tests.gateway.conftest import (
    CHAT_KEY,
    GLOBAL_KEY,
    PROVIDER_KEY,
    SEARCH_KEY,
    Gateway,
    MakeGateway,
    Upstream,
)
from tests.gateway.servers import wait_until

MESSAGES = [{"role": "user", "content": "hello"}]
CHAT = {"model": "gpt-4o-mini", "messages": MESSAGES}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_forwarded_headers_and_path(fresh: Gateway) -> None:
    response = fresh.http.post(
        f"{fresh.url}/s/chat/v1/_echo/deep/path?a=1&b=two%20words",
        content=b'{"x": 1}',
        headers={
            "authorization": f"Bearer {GLOBAL_KEY}",
            "api-key": "client-azure-key",
            "x-api-key": "client-other-key",
            "x-prodloop-user": "alice",
            "traceparent": TRACEPARENT,
            "content-type": "application/json",
            "x-custom": "kept",
            "proxy-authorization": "hop",
        },
    )
    assert response.status_code == 200
    echo = response.json()
    headers = {name: value for name, value in echo["headers"]}
    assert echo["path"] == "/v1/_echo/deep/path" and echo["query"] == "a=1&b=two%20words"
    assert echo["body"] == '{"x": 1}'
    assert headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert GLOBAL_KEY not in str(echo["headers"])
    for never in ("api-key", "x-api-key", "x-prodloop-user", "proxy-authorization"):
        assert never not in headers
    assert headers["x-custom"] == "kept" and headers["x-team"] == "llm"
    trace_id, parent = headers["traceparent"].split("-")[1:3]
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and parent != "00f067aa0ba902b7"
    event = fresh.sink.last()
    assert event.trace_id == trace_id and event.user == "alice"
    assert event.route == "/v1/_echo/deep/path"


def test_trace_is_created_and_provider_key_omitted_when_absent(fresh: Gateway) -> None:
    response = fresh.http.get(f"{fresh.url}/v1/_echo", headers={"x-api-key": SEARCH_KEY})
    assert response.headers["x-prodloop-service"] == "search"
    headers = {name: value for name, value in response.json()["headers"]}
    assert "authorization" not in headers  # the search version has no provider key
    assert headers["traceparent"].split("-")[1] == fresh.sink.last().trace_id


def test_any_method_and_path_passes_through(fresh: Gateway) -> None:
    auth = {"authorization": f"Bearer {GLOBAL_KEY}"}
    response = fresh.http.delete(f"{fresh.url}/v1/_echo/files/file-abc123", headers=auth)
    assert response.json()["method"] == "DELETE"
    assert response.json()["path"] == "/v1/_echo/files/file-abc123"
    event = fresh.sink.last()
    assert (event.route, event.status, event.model) == ("/v1/_echo/files/{id}", 200, None)


def test_unknown_service_names_never_become_labels(fresh: Gateway) -> None:
    auth = {"authorization": f"Bearer {GLOBAL_KEY}"}
    response = fresh.http.get(f"{fresh.url}/s/evil%0d%0aset-cookie:x/v1/models", headers=auth)
    assert response.status_code == 404
    assert "set-cookie" not in response.headers
    assert fresh.sink.last().service == "unknown"


def test_user_from_body_is_recorded(fresh: Gateway) -> None:
    fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="bob")
    assert fresh.sink.last().user == "bob"


@pytest.mark.parametrize(
    ("key", "path", "status", "words"),
    [
        (None, "/v1/chat/completions", 401, "no gateway key"),
        ("not-a-key", "/v1/chat/completions", 401, "not valid"),
        (CHAT_KEY, "/s/search/v1/chat/completions", 403, "belongs to service 'chat'"),
        (GLOBAL_KEY, "/s/nowhere/v1/chat/completions", 404, "'nowhere'"),
    ],
)
def test_refused_requests(
    fresh: Gateway, upstream: Upstream, key: str | None, path: str, status: int, words: str
) -> None:
    before = upstream.app.stats.requests
    response = fresh.post(path, CHAT, key)
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"] and error["code"] and error["type"]
    event = fresh.sink.last()
    assert event.status == status and event.error_class in ("unauthorized", "bad_request")
    assert event.cost_usd == 0.0  # refused before the upstream: nothing was generated
    assert upstream.app.stats.requests == before


def test_sdk_sees_authentication_error(fresh: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        fresh.client("wrong").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_invalid_json_is_a_400(fresh: Gateway) -> None:
    response = fresh.http.post(
        f"{fresh.url}/v1/chat/completions",
        content=b'{"model": "gpt-4o-mini", "messages": [',
        headers={"authorization": f"Bearer {GLOBAL_KEY}", "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    assert fresh.sink.last().error_class == "bad_request"


def test_connect_error_is_502(fresh: Gateway) -> None:
    response = fresh.post("/s/dead/v1/chat/completions", CHAT)
    assert response.status_code == 502
    assert "could not connect to the upstream" in response.json()["error"]["message"]
    event = fresh.sink.last()
    assert (event.status, event.error_class, event.service) == (502, "connect_error", "dead")


def test_upstream_errors_pass_through(fresh: Gateway) -> None:
    client = fresh.client()
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-fake-status": "500"}
        )
    assert failed.value.status_code == 500
    event = fresh.sink.last()
    assert (event.status, event.error_class, event.is_error) == (500, "upstream_5xx", True)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-fake-status": "404"}
        )
    event = fresh.sink.wait_for(2)[-1]
    assert (event.status, event.error_class, event.is_error) == (404, "upstream_4xx", False)


@contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_silent_upstream_is_504(make_gateway: MakeGateway) -> None:
    with _silent_server() as port:
        gw = make_gateway(
            gateway={"read_timeout_s": 0.3},
            services={"chat": {"versions": {"v1": {"upstream": f"http://127.0.0.1:{port}/v1"}}}},
        )
        response = gw.post("/v1/chat/completions", CHAT)
    assert response.status_code == 504
    assert "sent nothing for 0.3s" in response.json()["error"]["message"]
    event = gw.sink.last()
    assert (event.status, event.error_class) == (504, "timeout")
    assert event.latency_ms >= 300


def test_stream_that_goes_silent_ends_with_an_error_event(make_gateway: MakeGateway) -> None:
    gw = make_gateway(gateway={"read_timeout_s": 0.3})
    stream = gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        extra_headers={"x-fake-stall-after-chunks": "3"},
    )
    received = []
    with pytest.raises(openai.APIError, match="sent nothing"):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    event = gw.sink.last()
    assert (event.status, event.error_class) == (200, "timeout")


def test_client_disconnect_mid_stream(fresh: Gateway, upstream: Upstream) -> None:
    abandoned = upstream.app.stats.streams_abandoned
    body = {**CHAT, "stream": True}
    headers = {"authorization": f"Bearer {GLOBAL_KEY}", "x-fake-stall-after-chunks": "3"}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{fresh.url}/v1/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.status_code == 200
        first = next(r.iter_raw())
        assert first.startswith(b"data: ")
    # Leaving the block closed the connection mid-stream.
    event = fresh.sink.last()
    assert (event.status, event.error_class, event.is_stream) == (499, "client_disconnect", True)
    assert event.cost_usd is None  # tokens were generated that nobody reported
    wait_until(lambda: upstream.app.stats.streams_abandoned > abandoned)


def test_oversize_body_is_413(make_gateway: MakeGateway, upstream: Upstream) -> None:
    gw = make_gateway(gateway={"max_body_bytes": 1000})
    before = upstream.app.stats.requests
    big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 2000}]}
    response = gw.post("/v1/chat/completions", big)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["error"]["message"]

    def chunked() -> Iterator[bytes]:
        payload = orjson.dumps(big)
        for i in range(0, len(payload), 300):
            yield payload[i : i + 300]

    response = gw.http.post(
        f"{gw.url}/v1/chat/completions",
        content=chunked(),
        headers={"authorization": f"Bearer {GLOBAL_KEY}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    events = gw.sink.wait_for(2)
    assert [(e.status, e.error_class) for e in events] == [(413, "too_large")] * 2
    assert upstream.app.stats.requests == before
    assert gw.post("/v1/chat/completions", CHAT).status_code == 200


def test_rate_limits_per_key_and_per_user(make_gateway: MakeGateway) -> None:
    gw = make_gateway(
        gateway={
            "per_key_limit": {"requests_per_s": 1, "burst": 3},
            "per_user_limit": {"requests_per_s": 0.5, "burst": 1},
        }
    )
    assert gw.post("/v1/chat/completions", {**CHAT, "user": "u1"}).status_code == 200
    refused = gw.post("/v1/chat/completions", {**CHAT, "user": "u1"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
    assert "user" in refused.json()["error"]["message"]
    assert gw.post("/v1/chat/completions", {**CHAT, "user": "u2"}).status_code == 200
    refused = gw.post("/v1/chat/completions", CHAT)  # the key's burst of 3 is spent
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "gateway key" in refused.json()["error"]["message"]
    assert gw.post("/v1/chat/completions", CHAT, CHAT_KEY).status_code == 200  # another key
    with pytest.raises(openai.RateLimitError):
        gw.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    gw.clock.advance(2.0)  # type: ignore[attr-defined]
    assert gw.post("/v1/chat/completions", {**CHAT, "user": "u1"}).status_code == 200
    classes = [e.error_class for e in gw.sink.wait_for(7)]
    assert classes.count("rate_limited") == 3


GUARDRAILS = [
    {
        "name": "no-project-x",
        "kind": "blocked_pattern",
        "pattern": "(?i)project x",
        "action": "block",
    },
    {"name": "pii", "kind": "pii", "action": "flag"},
    {
        "name": "max-out",
        "kind": "max_tokens",
        "limit": 500,
        "action": "block",
        "services": ["search"],
    },
]


def test_guardrails_block_and_flag(make_gateway: MakeGateway, upstream: Upstream) -> None:
    gw = make_gateway(guardrails=GUARDRAILS)
    client = gw.client()
    before = upstream.app.stats.requests
    with pytest.raises(openai.BadRequestError) as blocked:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me about Project X"}]
        )
    assert "guardrail 'no-project-x'" in str(blocked.value)
    assert upstream.app.stats.requests == before
    event = gw.sink.last()
    assert (event.status, event.error_class, event.guardrails) == (
        400,
        "guardrail_blocked",
        ("no-project-x",),
    )
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "mail me at jane@example.com"}],
        max_tokens=900,  # over max-out, which only applies to search
    )
    event = gw.sink.wait_for(2)[-1]
    assert (event.status, event.error_class, event.guardrails) == (200, None, ("pii",))
    with pytest.raises(openai.BadRequestError, match="max-out"):
        gw.client(SEARCH_KEY).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=900
        )


def test_upstream_reported_guardrails(fresh: Gateway) -> None:
    fresh.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={"x-fake-guardrail": "toxicity, self-harm"},
    )
    assert fresh.sink.last().guardrails == ("toxicity", "self-harm")


class _Dice:
    """A random source that returns the given rolls, for exact fault injection."""

    def __init__(self, *rolls: float) -> None:
        self.rolls = list(rolls)

    def random(self) -> float:
        return self.rolls.pop(0)


def test_fault_injection(make_gateway: MakeGateway, upstream: Upstream) -> None:
    faults = {
        "enabled": True,
        "rules": [
            {"service": "chat", "version": "v1", "error_rate": 0.5, "error_status": 503},
            {"service": "chat", "latency_ms": 1000},  # shadowed for v1 by the rule above
            {"service": "search", "latency_ms": 150, "token_multiplier": 3.0},
        ],
    }
    gw = make_gateway(faults=faults, rnd=_Dice(0.2, 0.7))
    before = upstream.app.stats.requests
    response = gw.post("/v1/chat/completions", CHAT)
    assert response.status_code == 503
    assert "fault injected" in response.json()["error"]["message"]
    assert upstream.app.stats.requests == before
    assert gw.post("/v1/chat/completions", CHAT).status_code == 200  # rolled 0.7 ≥ 0.5
    events = gw.sink.wait_for(2)
    assert [(e.status, e.error_class) for e in events] == [(503, "injected_fault"), (200, None)]
    assert events[1].latency_ms < 1000
    gw.post("/v1/chat/completions", CHAT, SEARCH_KEY)
    event = gw.sink.wait_for(3)[-1]
    assert event.output_tokens == 30  # 10 tokens reported, tripled
    assert event.latency_ms >= 150
    assert event.overhead_ms is not None and event.overhead_ms < 100  # injected wait excluded


def test_faults_stay_off_unless_enabled(make_gateway: MakeGateway) -> None:
    rules = [{"service": "chat", "error_rate": 1.0}]
    gw = make_gateway(faults={"enabled": False, "rules": rules})
    assert gw.post("/v1/chat/completions", CHAT).status_code == 200


def test_weighted_sticky_routing(fresh: Gateway) -> None:
    fresh.app.set_weights("chat", {"v1": 50, "v2": 50})
    try:
        seen: dict[str, set[str]] = {}
        for i in range(40):
            for _ in range(2):
                response = fresh.post("/v1/models", None, **{"x-prodloop-user": f"user-{i}"})
                seen.setdefault(f"user-{i}", set()).add(response.headers["x-prodloop-version"])
        assert all(len(versions) == 1 for versions in seen.values())
        counts = [sum(v == {name} for v in seen.values()) for name in ("v1", "v2")]
        assert min(counts) >= 8
    finally:
        fresh.app.set_weights("chat", {"v1": 1})


def test_reserved_endpoints(make_gateway: MakeGateway) -> None:
    gw = make_gateway()
    health = gw.http.get(f"{gw.url}/_prodloop/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["services"]["chat"]["weights"] == {"v1": 1.0}
    metrics = gw.http.get(f"{gw.url}/_prodloop/metrics")
    assert metrics.text == "# prodloop metrics\n"
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert gw.http.get(f"{gw.url}/_prodloop/nope").status_code == 404
    assert gw.sink.events == []  # the gateway's own endpoints are not LLM traffic
