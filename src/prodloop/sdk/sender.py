"""Batches of events sent to the control plane from a background thread.

Telemetry must never hurt the app: the buffer is bounded (a full buffer drops and
counts), sends happen off the caller's thread, failures are retried with backoff and
then counted, and nothing here raises into the app.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

log = logging.getLogger("prodloop.sdk")

EVENTS_PATH = "/api/v1/events"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 10.0


@dataclass(frozen=True, slots=True)
class SenderSettings:
    endpoint: str  # base URL of the control plane, or the full events URL
    key: str | None
    flush_interval_s: float = 1.0
    max_batch: int = 500
    max_buffer: int = 10_000
    timeout_s: float = 5.0
    max_retries: int = 3
    backoff_s: float = 0.25
    path: str = EVENTS_PATH  # where the batches go: request events, or analytics events

    @property
    def events_url(self) -> str:
        base = self.endpoint.rstrip("/")
        return base if base.endswith(self.path) else base + self.path


class Sender:
    """A bounded buffer and the daemon thread that empties it in batches."""

    def __init__(self, settings: SenderSettings) -> None:
        self.settings = settings
        self.sent = 0  # events the control plane accepted
        self.dropped = 0  # events lost: buffer full, rejected, or retries exhausted
        self.failed_batches = 0
        self._buffer: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()  # guards the buffer and counters
        self._send_lock = threading.Lock()  # one batch in flight at a time
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._client: httpx.Client | None = None
        self._warned = False
        _live_senders.add(self)

    @property
    def queued(self) -> int:
        return len(self._buffer)

    def enqueue(self, event: dict[str, Any]) -> bool:
        """Buffer one event; False (and counted) when the buffer is full or closed."""
        with self._lock:
            if self._closed or len(self._buffer) >= self.settings.max_buffer:
                self.dropped += 1
                return False
            self._buffer.append(event)
            is_full_batch = len(self._buffer) >= self.settings.max_batch
        self._ensure_thread()
        if is_full_batch:
            self._wake.set()
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Send everything buffered now, from this thread; True when the buffer emptied.

        Taking the send lock first also waits for a batch the thread has in flight.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._send_lock.acquire(timeout=remaining):
                return False
            try:
                if not self._buffer:
                    return True
                self._send_one_batch(deadline)
            finally:
                self._send_lock.release()

    def close(self, timeout_s: float = 5.0) -> bool:
        """Flush, then refuse new events and stop the thread."""
        emptied = self.flush(timeout_s)
        with self._lock:
            self._closed = True
            lost = len(self._buffer)
            self._buffer.clear()
            self.dropped += lost
        self._wake.set()
        if self._client is not None:
            self._client.close()
        return emptied

    # -- the background thread -------------------------------------------------------

    def _ensure_thread(self) -> None:
        # After a fork the child has the buffer but not the thread (nor a usable client).
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                self._client = None
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="prodloop-sdk", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.settings.flush_interval_s)
            self._wake.clear()
            while self._buffer and not self._closed:
                with self._send_lock:
                    self._send_one_batch(None)

    def _take_batch(self) -> list[dict[str, Any]]:
        with self._lock:
            size = min(len(self._buffer), self.settings.max_batch)
            return [self._buffer.popleft() for _ in range(size)]

    def _send_one_batch(self, deadline: float | None) -> None:
        batch = self._take_batch()
        if not batch:
            return
        try:
            is_sent = self._post(batch, deadline)
        except Exception:  # a bug here must not reach the app; counted below
            log.exception("prodloop: sending telemetry failed")
            is_sent = False
        with self._lock:
            if is_sent:
                self.sent += len(batch)
            else:
                self.dropped += len(batch)
                self.failed_batches += 1

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = {"content-type": "application/json", "user-agent": "prodloop-sdk"}
            if self.settings.key:
                headers["authorization"] = f"Bearer {self.settings.key}"
            self._client = httpx.Client(timeout=self.settings.timeout_s, headers=headers)
        return self._client

    def _post(self, batch: list[dict[str, Any]], deadline: float | None) -> bool:
        body = orjson.dumps(batch)
        settings = self.settings
        for attempt in range(settings.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._http().post(settings.events_url, content=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return True
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUSES:
                    self._warn_once(f"the control plane refused {len(batch)} events ({problem})")
                    return False
                retry_after = _retry_after(response)
            if attempt == settings.max_retries:
                break
            pause = retry_after or settings.backoff_s * 2**attempt * (0.5 + random.random())
            pause = min(pause, _MAX_BACKOFF_S)
            if deadline is not None and time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        self._warn_once(f"could not send {len(batch)} events to {settings.events_url} ({problem})")
        return False

    def _warn_once(self, message: str) -> None:
        # One line per process: a dead endpoint must not flood the app's logs.
        if not self._warned:
            self._warned = True
            log.warning("prodloop: %s; telemetry is being dropped and counted", message)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


_live_senders: weakref.WeakSet[Sender] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for sender in list(_live_senders):
        try:
            sender.flush(timeout_s=2.0)
        except Exception:  # never fail an app's shutdown over telemetry
            log.debug("prodloop: flush at exit failed", exc_info=True)
