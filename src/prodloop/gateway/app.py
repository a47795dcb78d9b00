"""The gateway's ASGI application: one metered, guarded, routed hop to the upstream.

Everything a request needs is precomputed when the app is created (key and service
tables, compiled guardrails, prices, fault plans), so the hot path is dictionary
lookups, one orjson parse of the body and the upstream call.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

import orjson

from prodloop.clock import Clock, SystemClock
from prodloop.config import Config
from prodloop.gateway.faults import FaultInjector
from prodloop.gateway.flags import GatewayFlags
from prodloop.gateway.guardrails import Guardrails
from prodloop.gateway.inbound import Inbound, read_headers
from prodloop.gateway.limits import rate_limited, read_body
from prodloop.gateway.metering import USAGE_OPTION_ROUTES, Exchange
from prodloop.gateway.proxy import Upstream, UpstreamCall
from prodloop.gateway.replies import (
    JSON_CONTENT_TYPE,
    GatewayRefusal,
    Send,
    error_body,
    send_bytes,
)
from prodloop.gateway.routes import RouteLabels
from prodloop.gateway.routing import Directory, ServiceTarget, split_service_prefix
from prodloop.gateway.tracing import child_traceparent, new_request_id
from prodloop.ratelimit import TokenBucketLimiter
from prodloop.telemetry.events import EventSink
from prodloop.telemetry.pricing import PriceTable

log = logging.getLogger("prodloop.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Any]
RESERVED_PREFIX = "/_prodloop/"
HEALTH_PATH = "/_prodloop/healthz"
METRICS_PATH = "/_prodloop/metrics"
METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MAX_USER_CHARS = 256
_MAX_MODEL_CHARS = 200
UNKNOWN_SERVICE = "unknown"


class GatewayApp:
    """The data plane as a raw ASGI app (see create_gateway_app)."""

    def __init__(
        self,
        config: Config,
        sink: EventSink,
        *,
        clock: Clock | None = None,
        metrics_render: Callable[[], bytes] | None = None,
        rnd: random.Random | None = None,
    ) -> None:
        gateway = config.gateway
        self.config = config
        self.directory = Directory(config)
        self.gateway_errors = 0  # prodloop's own failures (500), for tests and /healthz
        self.sink_errors = 0
        self._sink = sink
        self._clock = clock or SystemClock()
        self._metrics_render = metrics_render
        self._rnd = rnd or random.Random()
        self._routes = RouteLabels()
        self._guardrails = Guardrails(config.guardrails, config.services)
        self.faults = FaultInjector(config.faults, self._rnd)
        self._key_limiter = TokenBucketLimiter.from_config(gateway.per_key_limit)
        self._user_limiter = TokenBucketLimiter.from_config(gateway.per_user_limit)
        self._prices = PriceTable(config.pricing)
        self._max_body = gateway.max_body_bytes
        hosts = {
            urlsplit(version.upstream).netloc
            for service in config.services.values()
            for version in service.versions.values()
        }
        self.upstream = Upstream(
            gateway, hosts=len(hosts), guardrail_header=gateway.guardrail_header.lower()
        )
        # None when no flags are configured, so requests pay nothing for the feature.
        self.flags = GatewayFlags(gateway.flag_header, gateway.flags) if gateway.flags else None

    def set_weights(self, service: str, weights: dict[str, float]) -> None:
        """Change how a service's traffic splits between its versions (canaries)."""
        self.directory.services[service].set_weights(weights)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"].startswith(RESERVED_PREFIX):
                await self._reserved(scope, send)
            else:
                await self._exchange(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.upstream.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _reserved(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path == HEALTH_PATH:
            body = orjson.dumps(
                {
                    "status": "ok",
                    "services": {
                        name: {"weights": target.weights}
                        for name, target in self.directory.services.items()
                    },
                    "gateway_errors": self.gateway_errors,
                }
            )
            await send_bytes(send, 200, body, (), JSON_CONTENT_TYPE[1])
        elif path == METRICS_PATH and self._metrics_render is not None:
            rendered = self._metrics_render()
            data = rendered.encode() if isinstance(rendered, str) else rendered
            await send_bytes(send, 200, data, (), METRICS_CONTENT_TYPE)
        else:
            body = error_body(f"no such gateway endpoint: {path}", "not_found_error", "not_found")
            await send_bytes(send, 404, body, (), JSON_CONTENT_TYPE[1])

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = Exchange(ts=self._clock.now(), started_at=perf_counter(), request_id=new_request_id())
        try:
            await self._handle(ex, scope, receive, send)
        except GatewayRefusal as refusal:
            ex.status, ex.error_class = refusal.status_code, refusal.error_class
            if not ex.response_started:
                await self._refuse(ex, refusal, send)
        except Exception:
            # A bug in the gateway: answered and counted, and logged since it is not traffic.
            self.gateway_errors += 1
            log.exception("gateway error on %s %s", scope.get("method"), scope.get("path"))
            ex.status, ex.error_class = 500, "gateway_error"
            if not ex.response_started:
                crash = GatewayRefusal(
                    500,
                    f"prodloop gateway error (request {ex.request_id})",
                    error_class="gateway_error",
                    error_type="server_error",
                    code="gateway_error",
                )
                await self._refuse(ex, crash, send)
        finally:
            ex.finished_at = perf_counter()
            try:
                self._sink.submit(ex.to_event(self._prices, ex.finished_at))
            except Exception:
                self.sink_errors += 1
                log.exception("the event sink refused an event")

    async def _handle(self, ex: Exchange, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        named, rest = split_service_prefix(path)
        # Paths are forwarded relative to the version's /v1 base, with or without "/v1".
        relative = rest.startswith("/v1/") or rest == "/v1"
        ex.route = self._routes(rest if relative else "/v1" + rest)
        if named is None:
            ex.service = self.directory.default or UNKNOWN_SERVICE
        else:  # a name the client typed becomes a label only once it is known to be real
            ex.service = named if named in self.directory.services else UNKNOWN_SERVICE
        inbound = read_headers(scope["headers"])
        traceparent, ex.trace_id = child_traceparent(inbound.traceparent)
        target, path = self.directory.resolve(inbound.key, path)
        ex.service = target.name

        now = self._clock.now()
        if self._key_limiter is not None:
            key = inbound.key or _client_address(scope)
            wait_s = self._key_limiter.acquire(key, now)
            if wait_s > 0:
                raise rate_limited("gateway key", wait_s)

        method: str = scope["method"]
        body = await read_body(receive, inbound.content_length, self._max_body)
        payload = _parse_payload(body, inbound, method)
        user = inbound.user
        if payload is not None:
            if user is None:
                value = payload.get("user") or payload.get("safety_identifier")
                user = value if isinstance(value, str) and value else None
            model = payload.get("model")
            if isinstance(model, str):
                ex.model = model[:_MAX_MODEL_CHARS]
        if user is not None:
            ex.user = user = user[:_MAX_USER_CHARS]
            if self._user_limiter is not None:
                wait_s = self._user_limiter.acquire(user, now)
                if wait_s > 0:
                    raise rate_limited("user", wait_s)

        version = target.choose(user, self._rnd)
        ex.version, ex.provider = version.name, version.provider

        if payload is not None and self._guardrails.applies_to(target.name):
            self._check_guardrails(ex, target, payload)

        if self.faults:
            plan = self.faults.plan_for(target.name, version.name)
            if plan is not None:
                if plan.latency_s > 0:
                    started = perf_counter()
                    await asyncio.sleep(plan.latency_s)
                    ex.upstream_wait_s += perf_counter() - started
                ex.token_multiplier = plan.token_multiplier
                injected = self.faults.injected_error(plan, target.name, version.name)
                if injected is not None:
                    raise injected

        strip_usage = False
        if payload is not None and payload.get("stream") is True:
            ex.is_stream = True
            if ex.route in USAGE_OPTION_ROUTES:
                options = payload.get("stream_options")
                if not (isinstance(options, dict) and options.get("include_usage")):
                    # Ask for usage so the stream can be metered; the extra chunk is
                    # taken out again before it reaches a client that did not ask.
                    extra = options if isinstance(options, dict) else {}
                    payload["stream_options"] = {**extra, "include_usage": True}
                    body = orjson.dumps(payload)
                    strip_usage = True

        raw_path = scope.get("raw_path")
        forward_path = split_service_prefix(raw_path.decode("latin-1"))[1] if raw_path else path
        query = scope.get("query_string", b"").decode("latin-1")
        headers = inbound.forward
        if self.flags is not None:
            ex.flags = self.flags.header_value(user, target.name, version.name, ex.model or None)
            headers = self.flags.forward_headers(headers, ex.flags)
        headers.extend(version.headers)
        headers.append(("traceparent", traceparent))
        headers.append(("Accept-Encoding", "identity"))  # so answers can be metered
        call = UpstreamCall(
            method, version.url_for(forward_path, query), headers, body, strip_usage
        )
        extra_headers = [
            (b"x-prodloop-request-id", ex.request_id.encode()),
            (b"x-prodloop-service", target.name.encode()),
            (b"x-prodloop-version", version.name.encode()),
        ]
        await self.upstream.forward(ex, call, send, receive, extra_headers)

    def _check_guardrails(
        self, ex: Exchange, target: ServiceTarget, payload: dict[str, Any]
    ) -> None:
        hits = self._guardrails.check(target.name, payload)
        if not hits:
            return
        ex.guardrails = tuple(hit.name for hit in hits)
        for hit in hits:
            if hit.action == "block":
                raise GatewayRefusal(
                    400,
                    f"request blocked by guardrail '{hit.name}': {hit.reason}",
                    error_class="guardrail_blocked",
                    code="guardrail_blocked",
                )

    async def _refuse(self, ex: Exchange, refusal: GatewayRefusal, send: Send) -> None:
        headers = [
            (b"x-prodloop-request-id", ex.request_id.encode()),
            (b"x-prodloop-service", ex.service.encode()),
            *refusal.headers,
        ]
        if ex.version:
            headers.append((b"x-prodloop-version", ex.version.encode()))
        overhead_ms = ex.overhead_s(perf_counter()) * 1000.0
        headers.append((b"x-prodloop-overhead-ms", b"%.3f" % overhead_ms))
        ex.response_started = True
        await send_bytes(send, refusal.status_code, refusal.body(), headers, JSON_CONTENT_TYPE[1])


def _parse_payload(body: bytes, inbound: Inbound, method: str) -> dict[str, Any] | None:
    """The JSON body as a dict; None when there is none. Bad JSON declared as JSON is a 400."""
    if not body:
        return None
    if inbound.is_json:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise GatewayRefusal(
                400,
                f"the request body is not valid JSON: {exc}",
                error_class="bad_request",
                code="invalid_json",
            ) from None
    elif not inbound.content_type and method in _BODY_METHODS and body[:1] == b"{":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # not declared as JSON, so the upstream may know what it is
    else:
        return None
    return parsed if isinstance(parsed, dict) else None


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"


def create_gateway_app(
    config: Config,
    sink: EventSink,
    *,
    clock: Clock | None = None,
    metrics_render: Callable[[], bytes] | None = None,
    rnd: random.Random | None = None,
) -> GatewayApp:
    """The gateway as an ASGI app; its lifespan opens and closes the upstream pool.

    Every proxied request leaves exactly one RequestEvent with `sink.submit`. `clock`
    stamps events and drives the rate limiters; `metrics_render` serves
    /_prodloop/metrics; `rnd` decides weighted routing and injected faults.
    """
    return GatewayApp(config, sink, clock=clock, metrics_render=metrics_render, rnd=rnd)
