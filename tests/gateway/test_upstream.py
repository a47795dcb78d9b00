"""The fake upstream on its own: profiles, OpenAI shapes the SDK parses, test controls."""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Iterator

import httpx
import openai
import pytest

from prodloop.demo.upstream import PROFILES, Profile, create_upstream_app
from tests.gateway.conftest import Upstream
from tests.gateway.servers import serve

MESSAGES = [{"role": "user", "content": "Hello, fake upstream."}]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_profiles_latency_distributions() -> None:
    rnd = random.Random(11)
    assert PROFILES["fast"].latency_s(rnd) == 0.0
    realistic = [PROFILES["realistic"].latency_s(rnd) for _ in range(20_000)]
    assert _quantile(realistic, 0.5) == pytest.approx(0.400, rel=0.05)
    assert _quantile(realistic, 0.95) == pytest.approx(1.500, rel=0.08)
    slow = [PROFILES["slow"].latency_s(rnd) for _ in range(20_000)]
    assert _quantile(slow, 0.95) > 2.5
    assert PROFILES["realistic"].error_rate == 0.005 and PROFILES["flaky"].error_rate == 0.05


@pytest.fixture(scope="module")
def flaky() -> Iterator[Upstream]:
    profile = Profile("half-broken", error_rate=0.5, guardrail_rate=0.5)
    app = create_upstream_app(profile, rnd=random.Random(5))
    with serve(app) as url:
        yield Upstream(url, app)


def _client(upstream: Upstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{upstream.url}/v1", api_key="unused", max_retries=0)


def test_sdk_parses_every_answer(upstream: Upstream) -> None:
    client = _client(upstream)
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert chat.object == "chat.completion" and chat.usage and chat.usage.completion_tokens == 24
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    chunks = list(
        client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert client.completions.create(model="m", prompt="hi").choices[0].text
    response = client.responses.create(model="m", input="hi")
    assert response.output_text and response.usage and response.usage.output_tokens == 24
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.usage is not None
    assert next(m.id for m in client.models.list()) == "fake-model"
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"


def test_embeddings_as_floats_and_base64(upstream: Upstream, http: httpx.Client) -> None:
    client = _client(upstream)
    floats = client.embeddings.create(model="e", input="same", encoding_format="float")
    decoded = client.embeddings.create(model="e", input="same")  # the SDK asks for base64
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)
    raw = http.post(
        f"{upstream.url}/v1/embeddings",
        json={"model": "e", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 4},
    ).json()
    vector = struct.unpack("<4f", base64.b64decode(raw["data"][1]["embedding"]))
    assert len(vector) == 4 and raw["usage"]["prompt_tokens"] == 2


def test_error_rate_and_guardrail_rate(flaky: Upstream, http: httpx.Client) -> None:
    statuses = []
    triggers = 0
    for _ in range(200):
        response = http.post(f"{flaky.url}/v1/chat/completions", json={"messages": MESSAGES})
        statuses.append(response.status_code)
        triggers += "x-guardrail-triggered" in response.headers
        if response.status_code != 200:
            assert response.json()["error"]["type"] == "server_error"
    errors = sum(s in (500, 503) for s in statuses)
    assert set(statuses) <= {200, 500, 503}
    assert 70 <= errors <= 130 and 30 <= triggers <= 80


def test_controls_and_echo(upstream: Upstream, http: httpx.Client) -> None:
    forced = http.post(
        f"{upstream.url}/v1/chat/completions",
        json={"messages": MESSAGES},
        headers={"x-fake-status": "429"},
    )
    assert forced.status_code == 429 and "x-fake-status" in forced.json()["error"]["message"]
    echoed = http.post(
        f"{upstream.url}/v1/chat/completions",
        json={"messages": MESSAGES},
        headers={"x-fake-echo-headers": "1", "x-marker": "m1"},
    )
    assert ["x-marker", "m1"] in httpx.Response(200, content=echoed.headers["x-fake-echo"]).json()
    echo = http.delete(f"{upstream.url}/v1/_echo/files/f1?x=1").json()
    assert (echo["method"], echo["path"], echo["query"]) == ("DELETE", "/v1/_echo/files/f1", "x=1")
    assert http.get(f"{upstream.url}/v1/nothing").status_code == 404
