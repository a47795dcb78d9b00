"""The upstream side: one pooled keep-alive client, the call, and the answer passed back.

Non-streaming JSON answers are read whole (they are small) and metered; Server-Sent
Event streams are forwarded chunk by chunk as they arrive and metered on the way;
anything else is passed through chunk by chunk unmetered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import aiohttp

from prodloop.config import GatewayConfig
from prodloop.gateway.inbound import HOP_BY_HOP
from prodloop.gateway.metering import Exchange, StreamMeter, meter_json_body
from prodloop.gateway.replies import GatewayRefusal, Send, error_body
from prodloop.gateway.sse import SseParser

Receive = Any  # the ASGI receive callable
# JSON answers up to this size are read whole to meter them; bigger ones stream through.
MAX_METERED_BODY = 32 * 1024 * 1024
# Response headers the gateway sets itself.
_DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {b"content-length"}


@dataclass(slots=True)
class UpstreamCall:
    """One request to send upstream, built by the app from the client's."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    strip_usage: bool  # the gateway asked for stream usage the client did not want


class _StreamState:
    __slots__ = ("disconnected", "done", "response")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.disconnected = False
        self.done = False


class Upstream:
    """The gateway's single pooled HTTP client and how it maps upstream failures."""

    def __init__(
        self, gateway: GatewayConfig, *, hosts: int = 1, guardrail_header: str = ""
    ) -> None:
        self._connect_timeout_s = gateway.connect_timeout_s
        self._read_timeout_s = gateway.read_timeout_s
        self._max_connections = gateway.max_connections
        self._hosts = max(1, hosts)
        self._guardrail_header = guardrail_header
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Open the connection pool (idempotent)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._max_connections * self._hosts,
            limit_per_host=self._max_connections,
            keepalive_timeout=30.0,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # sock_read is the silence allowed between bytes, which is what a stream needs.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._connect_timeout_s, sock_read=self._read_timeout_s
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Content-Type"),
            trust_env=False,
        )

    async def close(self) -> None:
        """Close the pool and every connection in it."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def forward(
        self,
        ex: Exchange,
        call: UpstreamCall,
        send: Send,
        receive: Receive,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Send `call` upstream and answer the client from what comes back."""
        response = await self._request(ex, call)
        try:
            status = response.status
            ex.status = status
            if status >= 500:
                ex.error_class = "upstream_5xx"
            elif status >= 400:
                ex.error_class = "upstream_4xx"
            if self._guardrail_header:
                reported = response.headers.get(self._guardrail_header)
                if reported:
                    names = tuple(n.strip() for n in reported.split(",") if n.strip())
                    ex.guardrails = ex.guardrails + names
            content_type = response.headers.get("Content-Type", "")
            headers = [
                h for h in response.raw_headers if h[0].lower() not in _DROPPED_RESPONSE_HEADERS
            ]
            headers.extend(extra_headers)
            if content_type.startswith("text/event-stream"):
                await self._stream(ex, response, call, send, receive, headers)
            elif "json" in content_type and (response.content_length or 0) <= MAX_METERED_BODY:
                await self._whole(ex, response, send, headers)
            else:
                await self._pass_through(ex, response, send, headers)
        finally:
            response.release()

    async def _request(self, ex: Exchange, call: UpstreamCall) -> aiohttp.ClientResponse:
        if self._session is None:
            await self.open()
        assert self._session is not None
        started = perf_counter()
        try:
            for attempt in (1, 2):
                try:
                    return await self._session.request(
                        call.method,
                        call.url,
                        headers=call.headers,
                        data=call.body or None,
                        allow_redirects=False,
                    )
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                    # A pooled connection the upstream had already closed: one retry on a
                    # fresh one (aiohttp retries only idempotent methods by itself).
                    if attempt == 2 or isinstance(exc, aiohttp.ClientConnectorError):
                        raise
            raise AssertionError("unreachable")
        except aiohttp.ConnectionTimeoutError:
            raise GatewayRefusal(
                502,
                f"could not connect to the upstream within {self._connect_timeout_s:g}s",
                error_class="connect_error",
                error_type="server_error",
                code="upstream_connect_timeout",
            ) from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise self._timeout("waiting for the answer") from None
        except aiohttp.ClientConnectorError as exc:
            raise GatewayRefusal(
                502,
                f"could not connect to the upstream at {exc.host}:{exc.port}: {exc.os_error}",
                error_class="connect_error",
                error_type="server_error",
                code="upstream_unreachable",
            ) from None
        except aiohttp.ClientError as exc:
            raise _broken(exc) from None
        finally:
            ex.upstream_wait_s += perf_counter() - started

    def _timeout(self, during: str) -> GatewayRefusal:
        return GatewayRefusal(
            504,
            f"the upstream sent nothing for {self._read_timeout_s:g}s while {during}",
            error_class="timeout",
            error_type="server_error",
            code="upstream_timeout",
        )

    async def _whole(
        self,
        ex: Exchange,
        response: aiohttp.ClientResponse,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        started = perf_counter()
        try:
            body = await response.read()
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise self._timeout("reading the answer") from None
        except aiohttp.ClientError as exc:
            raise _broken(exc) from None
        finally:
            ex.upstream_wait_s += perf_counter() - started
        if body and response.headers.get("Content-Encoding", "identity") == "identity":
            usage, model = meter_json_body(body)
            ex.usage = usage
            if model is not None:
                ex.model = model
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append(_overhead_header(ex))
        ex.response_started = True
        await send({"type": "http.response.start", "status": ex.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _pass_through(
        self,
        ex: Exchange,
        response: aiohttp.ClientResponse,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        if response.content_length is not None:
            headers.append((b"content-length", str(response.content_length).encode()))
        headers.append(_overhead_header(ex))
        ex.response_started = True
        await send({"type": "http.response.start", "status": ex.status, "headers": headers})
        content = response.content
        while True:
            started = perf_counter()
            try:
                chunk = await content.readany()
            except (aiohttp.ServerTimeoutError, TimeoutError):
                ex.error_class = "timeout"
                return  # the response stays incomplete, so the server drops the connection
            except aiohttp.ClientError:
                ex.error_class = "connect_error"
                return
            finally:
                ex.upstream_wait_s += perf_counter() - started
            if not chunk:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _stream(
        self,
        ex: Exchange,
        response: aiohttp.ClientResponse,
        call: UpstreamCall,
        send: Send,
        receive: Receive,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        headers.append(_overhead_header(ex))
        ex.response_started = True
        await send({"type": "http.response.start", "status": ex.status, "headers": headers})
        state = _StreamState(response)
        watcher = asyncio.ensure_future(_watch_disconnect(receive, state))
        meter = StreamMeter(ex.route, strip_usage=call.strip_usage)
        parser = SseParser()
        strip = call.strip_usage
        content = response.content
        failure: GatewayRefusal | None = None
        try:
            while True:
                started = perf_counter()
                try:
                    chunk = await content.readany()
                except (aiohttp.ServerTimeoutError, TimeoutError):
                    failure = self._timeout("streaming the answer")
                    break
                except aiohttp.ClientError as exc:
                    failure = None if state.disconnected else _broken(exc)
                    break
                finally:
                    ex.upstream_wait_s += perf_counter() - started
                if not chunk or state.disconnected:
                    break
                events = parser.feed(chunk)
                if strip:
                    out = b"".join([e.raw for e in events if meter.keep(e)])
                else:
                    for event in events:
                        meter.keep(event)
                    out = chunk
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                    if ex.ttft_s is None and meter.has_content:
                        ex.ttft_s = perf_counter() - ex.started_at
            if state.disconnected:
                ex.status, ex.error_class = 499, "client_disconnect"
                response.close()
                return
            tail = b""
            if failure is not None:
                ex.error_class = failure.error_class
                # An error event makes SDKs raise instead of taking a cut answer as whole.
                # Passed through, half an event may be out already: end it first.
                lead = b"\n\n" if parser.has_partial and not strip else b""
                data = error_body(failure.message, failure.type, failure.code)
                tail = lead + b"event: error\ndata: " + data + b"\n\n"
            else:
                for event in parser.close():
                    if meter.keep(event) and strip:
                        tail += event.raw
            state.done = True
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        finally:
            state.done = True
            watcher.cancel()
            ex.usage = meter.usage
            if meter.model is not None:
                ex.model = meter.model


async def _watch_disconnect(receive: Receive, state: _StreamState) -> None:
    # After the body, receive() only returns when the client leaves (or the answer ends).
    while not state.done:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not state.done:
                state.disconnected = True
                state.response.close()  # wakes the pending upstream read
            return


def _broken(exc: BaseException) -> GatewayRefusal:
    return GatewayRefusal(
        502,
        f"the upstream connection failed: {exc.__class__.__name__}: {exc}",
        error_class="connect_error",
        error_type="server_error",
        code="upstream_connection_failed",
    )


def _overhead_header(ex: Exchange) -> tuple[bytes, bytes]:
    return (b"x-prodloop-overhead-ms", b"%.3f" % (ex.overhead_s(perf_counter()) * 1000.0))
