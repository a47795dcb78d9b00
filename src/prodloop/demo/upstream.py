"""A fake OpenAI-compatible upstream with latency, error and token profiles.

Tests, drills, benchmarks and the demo run against it instead of a real provider. It
shapes Chat Completions, Completions, Embeddings, the Responses API (streaming or not)
and the model list in shapes the official `openai` SDK parses. Request headers steer
single shapes, for tests:

- ``x-fake-status: 503`` shapes that status with an OpenAI-style error;
- ``x-fake-latency-ms: 250`` replaces the profile's latency for this answer;
- ``x-fake-chunk-delay-ms: 40`` spaces stream chunks by that much;
- ``x-fake-stall-after-chunks: 2`` stops a stream after that many chunks, open and silent;
- ``x-fake-guardrail: name`` reports that guardrail in the profile's guardrail header;
- ``x-fake-echo-headers: 1`` returns the received headers as JSON in ``x-fake-echo``.

``/v1/_echo`` (any method, any sub-path) shapes with the method, path, query, headers
and body it received, so tests can see exactly what a proxy forwarded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import random
import struct
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from prodloop.demo import shapes

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_Z95 = 1.6448536269514722  # the standard normal's 95th percentile


@dataclass(frozen=True)
class Profile:
    """How the fake upstream behaves: latency, errors, tokens and streaming."""

    name: str
    latency_p50_ms: float = 0.0  # total answer time, lognormal with this median…
    latency_p95_ms: float = 0.0  # …and this 95th percentile
    ttft_ms: float = 0.0  # time to the first content chunk of a stream
    error_rate: float = 0.0  # share of shapes that are 500 or 503
    output_tokens: int = 24
    stream_chunks: int = 8  # content chunks per streamed answer
    model: str | None = None  # answer with this model name instead of echoing the request's
    cached_tokens: int = 0  # reported as cached input tokens (at most the input)
    reasoning_tokens: int = 0
    guardrail_rate: float = 0.0  # share of shapes that report a guardrail trigger
    guardrail_name: str = "upstream_moderation"
    guardrail_header: str = "x-guardrail-triggered"
    embedding_dims: int = 16

    def latency_s(self, rnd: random.Random) -> float:
        """One draw of the total answer time, in seconds."""
        if self.latency_p50_ms <= 0:
            return 0.0
        p95 = max(self.latency_p95_ms, self.latency_p50_ms)
        sigma = math.log(p95 / self.latency_p50_ms) / _Z95
        return math.exp(math.log(self.latency_p50_ms) + sigma * rnd.gauss(0.0, 1.0)) / 1000.0


PROFILES: dict[str, Profile] = {
    "fast": Profile("fast"),
    "realistic": Profile(
        "realistic", latency_p50_ms=400, latency_p95_ms=1500, ttft_ms=200, error_rate=0.005
    ),
    "slow": Profile("slow", latency_p50_ms=1500, latency_p95_ms=3500, ttft_ms=800),
    "flaky": Profile(
        "flaky", latency_p50_ms=300, latency_p95_ms=1200, ttft_ms=150, error_rate=0.05
    ),
    # Quick enough for a demo burst to finish in seconds, with a bit of everything.
    "demo": Profile(
        "demo",
        latency_p50_ms=60,
        latency_p95_ms=250,
        ttft_ms=30,
        error_rate=0.01,
        cached_tokens=8,
        guardrail_rate=0.02,
    ),
}


@dataclass
class UpstreamStats:
    """What the fake upstream saw, for tests."""

    requests: int = 0
    streams_completed: int = 0
    streams_abandoned: int = 0  # the client went away mid-stream
    last_headers: dict[str, str] = field(default_factory=dict)


class _Call:
    """One request as the handlers see it."""

    def __init__(self, scope: Scope, body: bytes, receive: Receive) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.raw_headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        self.body = body
        self.receive = receive
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            parsed = None
        self.json: dict[str, Any] | None = parsed if isinstance(parsed, dict) else None

    def header_float(self, name: str) -> float | None:
        value = self.headers.get(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class UpstreamApp:
    """The fake upstream as a raw ASGI app (fast enough to benchmark a proxy against)."""

    def __init__(self, profile: Profile, rnd: random.Random | None = None) -> None:
        self.profile = profile
        self.rnd = rnd or random.Random()
        self.stats = UpstreamStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        call = _Call(scope, body, receive)
        self.stats.requests += 1
        self.stats.last_headers = call.headers
        await self._dispatch(call, send)

    async def _dispatch(self, call: _Call, send: Send) -> None:
        path, method = call.path, call.method
        if path == "/v1/_echo" or path.startswith("/v1/_echo/"):
            await self._echo(call, send)
            return
        forced = call.header_float("x-fake-status")
        if forced is not None:
            await _error(send, int(forced), f"status {int(forced)} asked by x-fake-status")
            return
        if method == "GET" and path == "/v1/models":
            await self._json(call, send, shapes.model_list(self._model(None)))
            return
        if method == "GET" and path.startswith("/v1/models/"):
            await self._json(call, send, shapes.model_card(path.rsplit("/", 1)[1]))
            return
        handler = _POST_ROUTES.get(path) if method == "POST" else None
        if handler is None:
            await _error(send, 404, f"the fake upstream has no {method} {path}", "not_found")
            return
        if call.json is None:
            await _error(send, 400, "the body is not a JSON object", "invalid_json")
            return
        if self.profile.error_rate > 0 and self.rnd.random() < self.profile.error_rate:
            status = self.rnd.choice((500, 503))
            await _error(send, status, f"fake upstream error (profile '{self.profile.name}')")
            return
        await handler(self, call, send)

    def _model(self, asked: object) -> str:
        if self.profile.model:
            return self.profile.model
        return asked if isinstance(asked, str) and asked else "fake-model"

    def _latency_s(self, call: _Call) -> float:
        forced = call.header_float("x-fake-latency-ms")
        return forced / 1000.0 if forced is not None else self.profile.latency_s(self.rnd)

    def _headers(self, call: _Call, content_type: bytes) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", content_type), (b"x-request-id", uuid.uuid4().hex.encode())]
        profile = self.profile
        guardrail = call.headers.get("x-fake-guardrail")
        reports = profile.guardrail_rate > 0 and self.rnd.random() < profile.guardrail_rate
        if guardrail is None and reports:
            guardrail = profile.guardrail_name
        if guardrail:
            headers.append((profile.guardrail_header.encode(), guardrail.encode()))
        if call.headers.get("x-fake-echo-headers"):
            headers.append((b"x-fake-echo", json.dumps(call.raw_headers).encode()))
        return headers

    async def _json(self, call: _Call, send: Send, payload: dict[str, Any]) -> None:
        latency = self._latency_s(call) if call.method == "POST" else 0.0
        if latency > 0:
            await asyncio.sleep(latency)
        body = orjson.dumps(payload)
        headers = self._headers(call, b"application/json")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _echo(self, call: _Call, send: Send) -> None:
        payload = {
            "method": call.method,
            "path": call.path,
            "query": call.query,
            "headers": call.raw_headers,
            "body": call.body.decode("utf-8", "replace"),
        }
        await self._json(call, send, payload)

    async def _chat(self, call: _Call, send: Send) -> None:
        await self._answer(call, send, "chat")

    async def _completions(self, call: _Call, send: Send) -> None:
        await self._answer(call, send, "completions")

    async def _responses(self, call: _Call, send: Send) -> None:
        await self._answer(call, send, "responses")

    async def _embeddings(self, call: _Call, send: Send) -> None:
        assert call.json is not None
        inputs = call.json.get("input")
        texts = inputs if isinstance(inputs, list) else [inputs]
        dims = int(call.json.get("dimensions") or self.profile.embedding_dims)
        as_base64 = call.json.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            seed = random.Random(str(text))
            vector = [seed.uniform(-1.0, 1.0) for _ in range(dims)]
            embedding: object = (
                base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(shapes.count_tokens(t) for t in texts)
        model = self._model(call.json.get("model"))
        await self._json(call, send, shapes.embeddings(model, data, tokens))

    async def _answer(self, call: _Call, send: Send, kind: str) -> None:
        assert call.json is not None
        request = call.json
        profile = self.profile
        usage = shapes.Usage(
            input_tokens=shapes.prompt_tokens(request),
            output_tokens=profile.output_tokens,
            cached_tokens=profile.cached_tokens,
            reasoning_tokens=profile.reasoning_tokens,
        )
        model = self._model(request.get("model"))
        parts = shapes.pieces(profile.output_tokens, profile.stream_chunks)
        if request.get("stream") is True:
            await self._stream(call, send, kind, model, parts, usage)
            return
        build = {"chat": shapes.chat, "completions": shapes.completion}.get(kind)
        text = "".join(parts)
        payload = build(model, text, usage) if build else shapes.response(model, text, usage)
        await self._json(call, send, payload)

    async def _stream(
        self,
        call: _Call,
        send: Send,
        kind: str,
        model: str,
        pieces: list[str],
        usage: shapes.Usage,
    ) -> None:
        assert call.json is not None
        options = call.json.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events = shapes.stream_events(kind, model, pieces, usage, include_usage=include_usage)
        total_s = self._latency_s(call)
        ttft_s = min(self.profile.ttft_ms / 1000.0, total_s)
        forced_gap = call.header_float("x-fake-chunk-delay-ms")
        gap_s = (
            forced_gap / 1000.0
            if forced_gap is not None
            else (total_s - ttft_s) / max(1, len(pieces) - 1)
        )
        stall_after = call.header_float("x-fake-stall-after-chunks")
        left = asyncio.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(call.receive, left))
        try:
            headers = self._headers(call, b"text/event-stream; charset=utf-8")
            headers.append((b"cache-control", b"no-cache"))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            contents_sent = 0
            for index, (is_content, event) in enumerate(events):
                if stall_after is not None and index >= stall_after:
                    await left.wait()
                if is_content:
                    delay = ttft_s if contents_sent == 0 else gap_s
                    contents_sent += 1
                    if delay > 0:
                        await _sleep_unless(left, delay)
                if left.is_set():
                    self.stats.streams_abandoned += 1
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.stats.streams_completed += 1
        finally:
            watcher.cancel()


_POST_ROUTES: dict[str, Callable[[UpstreamApp, _Call, Send], Awaitable[None]]] = {
    "/v1/chat/completions": UpstreamApp._chat,
    "/v1/completions": UpstreamApp._completions,
    "/v1/responses": UpstreamApp._responses,
    "/v1/embeddings": UpstreamApp._embeddings,
}


async def _watch_disconnect(receive: Receive, left: asyncio.Event) -> None:
    if (await receive())["type"] == "http.disconnect":
        left.set()


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


async def _error(send: Send, status: int, message: str, code: str | None = None) -> None:
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    body = orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_upstream_app(profile: Profile, *, rnd: random.Random | None = None) -> UpstreamApp:
    """The fake upstream as an ASGI app; `rnd` makes latency and errors reproducible."""
    return UpstreamApp(profile, rnd)


def run_upstream(host: str, port: int, profile: Profile) -> None:
    """Serve the fake upstream with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        create_upstream_app(profile),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
    )
