"""`prodloop.track(...)`: measure LLM calls an app makes to a provider directly.

    import prodloop

    prodloop.configure(endpoint="http://127.0.0.1:8765", key="…", service="support-bot")

    with prodloop.track(route="chat", model="gpt-4o-mini") as call:
        answer = client.chat.completions.create(...)
        call.usage(input_tokens=answer.usage.prompt_tokens,
                   output_tokens=answer.usage.completion_tokens)

    @prodloop.track(route="summarise")
    async def summarise(text: str) -> str: ...

Each call becomes one request event with the fields the gateway records, sent in
batches to the control plane (POST /api/v1/events) from a background thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from prodloop.sdk.call import Call
from prodloop.sdk.sender import Sender, SenderSettings

log = logging.getLogger("prodloop.sdk")

DEFAULT_ENDPOINT = "http://127.0.0.1:8765"
ANALYTICS_PATH = "/ingest/events"
F = TypeVar("F", bound=Callable[..., Any])

_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "prodloop_call", default=None
)


class Client:
    """What `configure` sets up: where events go and the names they carry."""

    def __init__(
        self, *, service: str, version: str, default_route: str, settings: SenderSettings
    ) -> None:
        self.service = service
        self.version = version
        self.default_route = default_route
        self.sender = Sender(settings)
        self._analytics: Sender | None = None
        self._analytics_lock = threading.Lock()

    @property
    def analytics(self) -> Sender:
        """The sender of product analytics events (`capture`), started on first use."""
        with self._analytics_lock:
            if self._analytics is None:
                settings = dataclasses.replace(self.sender.settings, path=ANALYTICS_PATH)
                self._analytics = Sender(settings)
            return self._analytics

    def record(self, event: dict[str, Any]) -> bool:
        return self.sender.enqueue(event)

    def flush(self, timeout_s: float = 5.0) -> bool:
        is_empty = self.sender.flush(timeout_s)
        if self._analytics is not None:
            is_empty = self._analytics.flush(timeout_s) and is_empty
        return is_empty

    def close(self, timeout_s: float = 5.0) -> bool:
        """Flush both senders, then stop them."""
        is_empty = self.sender.close(timeout_s)
        if self._analytics is not None:
            is_empty = self._analytics.close(timeout_s) and is_empty
        return is_empty

    def stats(self) -> dict[str, int]:
        """Events sent, dropped (buffer full, refused, or unreachable) and still queued."""
        sender = self.sender
        return {"sent": sender.sent, "dropped": sender.dropped, "queued": sender.queued}


_client: Client | None = None
_client_lock = threading.RLock()


def configure(
    endpoint: str | None = None,
    key: str | None = None,
    *,
    service: str | None = None,
    version: str | None = None,
    route: str = "default",
    flush_interval_s: float = 1.0,
    max_batch: int = 500,
    max_buffer: int = 10_000,
    timeout_s: float = 5.0,
    max_retries: int = 3,
) -> Client:
    """Set where events go; endpoint and key default to PRODLOOP_ENDPOINT and
    PRODLOOP_INGEST_KEY, service and version to PRODLOOP_SERVICE and PRODLOOP_VERSION."""
    global _client
    settings = SenderSettings(
        endpoint=endpoint or os.environ.get("PRODLOOP_ENDPOINT") or DEFAULT_ENDPOINT,
        key=key or os.environ.get("PRODLOOP_INGEST_KEY") or None,
        flush_interval_s=max(flush_interval_s, 0.01),
        max_batch=max(max_batch, 1),
        max_buffer=max(max_buffer, 1),
        timeout_s=timeout_s,
        max_retries=max(max_retries, 0),
    )
    client = Client(
        service=service or os.environ.get("PRODLOOP_SERVICE") or "default",
        version=version or os.environ.get("PRODLOOP_VERSION") or "unknown",
        default_route=route,
        settings=settings,
    )
    with _client_lock:
        previous, _client = _client, client
    if previous is not None:
        previous.close(timeout_s=timeout_s)
    return client


def get_client() -> Client:
    """The configured client, configured from the environment on first use."""
    client = _client
    if client is not None:
        return client
    with _client_lock:  # re-entrant: configure() takes it too
        return _client if _client is not None else configure()


def flush(timeout_s: float = 5.0) -> bool:
    """Send every buffered event now; True when nothing is left."""
    return _client.flush(timeout_s) if _client is not None else True


def shutdown(timeout_s: float = 5.0) -> bool:
    """Flush and stop sending; the next tracked call configures afresh from the environment."""
    global _client
    with _client_lock:
        client, _client = _client, None
    return client.close(timeout_s) if client is not None else True


def current_call() -> Call | None:
    """The call being tracked in this context (inside a tracked function), if any."""
    return _current.get()


@overload
def track(route: F, /) -> F: ...


@overload
def track(
    route: str = "",
    model: str | None = None,
    *,
    provider: str | None = None,
    user: str | None = None,
    service: str | None = None,
    version: str | None = None,
    stream: bool = False,
) -> Tracker: ...


def track(
    route: Any = "",
    model: str | None = None,
    *,
    provider: str | None = None,
    user: str | None = None,
    service: str | None = None,
    version: str | None = None,
    stream: bool = False,
) -> Any:
    """Track an LLM call: ``with track(...) as call:``, ``async with``, ``@track(...)``
    or a bare ``@track``. Service and version default to what `configure` set."""
    if callable(route):
        return Tracker({})(route)
    options = {
        "route": route,
        "model": model,
        "provider": provider,
        "user": user,
        "service": service,
        "version": version,
        "is_stream": stream,
    }
    return Tracker(options)


class Tracker:
    """What `track(...)` returns: a context manager (sync or async) and a decorator."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = {
            "route": "", "model": None, "provider": None, "user": None, "service": None,
            "version": None, "is_stream": False, **options,
        }  # fmt: skip
        self._active: list[tuple[Call, contextvars.Token[Call | None]]] = []

    def _start(self) -> Call:
        call = Call(**self._options)
        self._active.append((call, _current.set(call)))
        return call

    def _end(self, exc: BaseException | None) -> None:
        call, token = self._active.pop()
        # Exited in another context than it entered: there is nothing to restore.
        with contextlib.suppress(ValueError):
            _current.reset(token)
        _finish_quietly(call, exc)

    def __enter__(self) -> Call:
        return self._start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    async def __aenter__(self) -> Call:
        return self._start()

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._end(exc)

    def __call__(self, fn: F) -> F:
        options = dict(self._options)
        if not options["route"]:
            options["route"] = getattr(fn, "__name__", "")

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with Tracker(options) as call:
                    result = await fn(*args, **kwargs)
                    _record_result(call, result)
                    return result

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Tracker(options) as call:
                result = fn(*args, **kwargs)
                _record_result(call, result)
                return result

        return cast(F, wrapper)


def _record_result(call: Call, result: Any) -> None:
    try:
        call.record_response(result)
    except Exception:  # an odd return value must not fail the app's call
        log.debug("prodloop: could not read usage from %r", type(result), exc_info=True)


def _finish_quietly(call: Call, exc: BaseException | None) -> None:
    try:
        client = get_client()
        event = call.event(
            exc, service=client.service, version=client.version, route=client.default_route
        )
        client.record(event)
    except Exception:  # telemetry never raises into the app
        log.warning("prodloop: could not record a tracked call", exc_info=True)
