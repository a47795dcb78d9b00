from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from prodloop.clock import Clock, ManualClock
from prodloop.config import Config, SecretRef
from prodloop.demo.upstream import PROFILES, Profile, UpstreamApp, create_upstream_app
from prodloop.gateway import GatewayApp, create_gateway_app
from tests.gateway.servers import RecordingSink, closed_port, serve

GLOBAL_KEY = "gw-global-key"
CHAT_KEY = "gw-chat-key"
SEARCH_KEY = "gw-search-key"
PROVIDER_KEY = "sk-provider-secret"
# The "rich" upstream reports every kind of token and answers with a dated model name.
RICH = Profile(
    "rich",
    output_tokens=10,
    stream_chunks=5,
    cached_tokens=6,
    reasoning_tokens=4,
    model="gpt-4o-mini-2024-07-18",
)


def secret(value: str) -> SecretRef:
    return SecretRef(ref="${TEST_SECRET}", value=value)


@dataclass
class Upstream:
    url: str
    app: UpstreamApp


@dataclass
class Gateway:
    url: str
    app: GatewayApp
    sink: RecordingSink
    clock: Clock
    http: httpx.Client

    def post(
        self, path: str, body: object, key: str | None = GLOBAL_KEY, **headers: str
    ) -> httpx.Response:
        """POST JSON through the gateway with a gateway key (None sends no key)."""
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        return self.http.post(f"{self.url}{path}", json=body, headers=headers)

    def client(self, key: str = GLOBAL_KEY, **options: Any) -> openai.OpenAI:
        """The official SDK pointed at the gateway (no retries, so every call is one)."""
        options.setdefault("base_url", f"{self.url}/v1")
        return openai.OpenAI(api_key=key, max_retries=0, **options)


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the tests' raw calls (a new client per call is slow)."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    app = create_upstream_app(PROFILES["fast"])
    with serve(app) as url:
        yield Upstream(url, app)


@pytest.fixture(scope="session")
def rich_upstream() -> Iterator[Upstream]:
    app = create_upstream_app(RICH)
    with serve(app) as url:
        yield Upstream(url, app)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gateway_config(upstream: Upstream, rich: Upstream, **extra: Any) -> Config:
    """Services: chat (default; v1 and v2), search (the rich upstream) and dead (no one home)."""
    chat_version = {
        "upstream": f"{upstream.url}/v1",
        "api_key": secret(PROVIDER_KEY),
        "headers": {"x-team": "llm"},
    }
    data: dict[str, Any] = {
        "gateway": {"keys": [secret(GLOBAL_KEY)], "default_service": "chat"},
        "services": {
            "chat": {
                "stable": "v1",
                "keys": [secret(CHAT_KEY)],
                "versions": {"v1": chat_version, "v2": chat_version},
            },
            "search": {
                "stable": "s1",
                "keys": [secret(SEARCH_KEY)],
                "versions": {"s1": {"upstream": f"{rich.url}/v1"}},
            },
            "dead": {
                "stable": "v1",
                "versions": {"v1": {"upstream": f"http://127.0.0.1:{closed_port()}/v1"}},
            },
        },
    }
    return Config.model_validate(_merge(data, extra))


MakeGateway = Callable[..., Gateway]


@pytest.fixture
def make_gateway(
    upstream: Upstream, rich_upstream: Upstream, http: httpx.Client
) -> Iterator[MakeGateway]:
    """Start a gateway with config overrides; each runs on its own port until the test ends."""
    with ExitStack() as stack:

        def make(rnd: random.Random | None = None, **extra: Any) -> Gateway:
            config = gateway_config(upstream, rich_upstream, **extra)
            sink = RecordingSink()
            clock = ManualClock()
            app = create_gateway_app(
                config, sink, clock=clock, metrics_render=lambda: b"# prodloop metrics\n", rnd=rnd
            )
            url = stack.enter_context(serve(app))
            return Gateway(url, app, sink, clock, http)

        yield make


@pytest.fixture(scope="module")
def gateway(upstream: Upstream, rich_upstream: Upstream, http: httpx.Client) -> Iterator[Gateway]:
    """A gateway with the default test config, shared by a module's tests."""
    config = gateway_config(upstream, rich_upstream)
    sink = RecordingSink()
    clock = ManualClock()
    app = create_gateway_app(config, sink, clock=clock)
    with serve(app) as url:
        yield Gateway(url, app, sink, clock, http)


@pytest.fixture
def fresh(gateway: Gateway) -> Gateway:
    """The shared gateway with its recorded events cleared."""
    gateway.sink.clear()
    return gateway
