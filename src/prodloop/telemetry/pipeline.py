"""The telemetry pipeline: a bounded in-memory queue drained by one batch-writing thread.

``submit`` is what the gateway calls on its hot path: it never blocks on the writer and
never touches the database. A full queue drops the event, counts it and says so in the
log (at most every few seconds). The writer takes up to ``batch_size`` events at a time,
waiting at most ``flush_interval_s`` for a batch to fill; a batch the store refuses is
retried with backoff, then counted as dropped. ``stop`` writes everything still queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from prodloop.config import TelemetryConfig
from prodloop.errors import ValidationError
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.rollups import write_events

log = logging.getLogger(__name__)

BatchWriter = Callable[[Engine, Sequence[RequestEvent]], None]

DROP_WARNING_INTERVAL_S = 10.0


class Pipeline:
    """Queues request events and writes them to the store in batches (an EventSink)."""

    def __init__(
        self,
        engine: Engine,
        *,
        queue_size: int = 100_000,
        batch_size: int = 2000,
        flush_interval_s: float = 0.5,
        metrics: Metrics | None = None,
        write: BatchWriter = write_events,
        write_attempts: int = 4,
        retry_backoff_s: float = 0.25,
    ) -> None:
        sizes = {
            "queue_size": queue_size,
            "batch_size": batch_size,
            "flush_interval_s": flush_interval_s,
            "write_attempts": write_attempts,
        }
        for name, value in sizes.items():
            if not value > 0:
                raise ValidationError(f"must be greater than 0, not {value}", field=name)
        self.engine = engine
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.metrics = metrics
        self._write = write
        self._write_attempts = write_attempts
        self._retry_backoff_s = retry_backoff_s
        self._cond = threading.Condition()
        self._queue: deque[RequestEvent] = deque()
        # Progress is tracked as running totals: an event accepted as the n-th is written
        # (or given up on) once `_finished` reaches n, which is what flush() waits for.
        self._accepted = 0
        self._taken = 0
        self._finished = 0
        self._flush_target = 0
        self._written = 0
        self._dropped = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_drop_warning = float("-inf")
        self._drops_since_warning = 0

    @classmethod
    def from_config(
        cls, engine: Engine, telemetry_config: TelemetryConfig, metrics: Metrics | None = None
    ) -> Pipeline:
        """A pipeline sized by the telemetry settings."""
        return cls(
            engine,
            queue_size=telemetry_config.queue_size,
            batch_size=telemetry_config.batch_size,
            flush_interval_s=telemetry_config.flush_interval_s,
            metrics=metrics,
        )

    @property
    def dropped(self) -> int:
        """Events lost: refused by a full (or stopped) queue, or refused by the store."""
        return self._dropped

    @property
    def written(self) -> int:
        """Events the store accepted."""
        return self._written

    @property
    def queued(self) -> int:
        """Events waiting in the queue."""
        return len(self._queue)

    @property
    def is_running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the writer thread (once)."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("a stopped pipeline cannot be started again")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="prodloop-telemetry-writer", daemon=True
            )
            self._thread.start()

    def submit(self, event: RequestEvent) -> bool:
        """Queue the event; False when it was dropped (and counted) because the queue is full."""
        with self._cond:
            if self._stopping or len(self._queue) >= self.queue_size:
                return self._drop_submitted()
            self._queue.append(event)
            self._accepted += 1
            depth = len(self._queue)
            # The writer needs waking only to start a batch timer or to write a full batch.
            if depth == 1 or depth == self.batch_size:
                self._cond.notify()
            return True

    def _drop_submitted(self) -> bool:
        """Count an event refused by submit (the lock is held)."""
        self._dropped += 1
        self._drops_since_warning += 1
        if self.metrics is not None:
            self.metrics.record_dropped(1)
        now = time.monotonic()
        if now - self._last_drop_warning >= DROP_WARNING_INTERVAL_S:
            reason = "the pipeline is stopped" if self._stopping else "the queue is full"
            log.warning(
                "dropped %d request events because %s (queue_size=%d, %d dropped in all)",
                self._drops_since_warning, reason, self.queue_size, self._dropped,
            )  # fmt: skip
            self._last_drop_warning = now
            self._drops_since_warning = 0
        return False

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until every event submitted before the call is written (or given up on).

        Returns False if that did not happen within `timeout_s`. Without a writer thread
        (never started), the caller's thread writes the queue itself.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._accepted
            has_writer = self.is_running
            if has_writer:
                self._flush_target = max(self._flush_target, target)
                self._cond.notify_all()
        if not has_writer:
            self._drain_here(target)
        with self._cond:
            while self._finished < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Write everything queued, then end the writer; True when nothing was left behind.

        Events submitted after stop are dropped and counted.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            with self._cond:
                target = self._accepted
            self._drain_here(target)
        else:
            thread.join(timeout_s)
        return not self.is_running and self.queued == 0

    def _drain_here(self, target: int) -> None:
        """Write queued events up to the `target`-th in the calling thread."""
        while True:
            with self._cond:
                if self._taken >= target or not self._queue:
                    return
                batch = self._take()
            self._process(batch)

    def _take(self) -> list[RequestEvent]:
        """Pop the next batch (the lock is held)."""
        size = min(self.batch_size, len(self._queue))
        popleft = self._queue.popleft
        batch = [popleft() for _ in range(size)]
        self._taken += size
        return batch

    def _next_batch(self) -> list[RequestEvent] | None:
        """Wait for a batch worth writing; None once stopping and the queue is empty."""
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            deadline = time.monotonic() + self.flush_interval_s
            while (
                len(self._queue) < self.batch_size
                and not self._stopping
                and self._flush_target <= self._taken
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._take()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._process(batch)

    def _process(self, batch: list[RequestEvent]) -> None:
        """Observe and write one batch, then record how it went; never raises."""
        if self.metrics is not None:
            try:
                for event in batch:
                    self.metrics.observe(event)
            except Exception:  # a bad event must not cost the batch its place in the store
                log.exception("could not update metrics for a batch of %d events", len(batch))
        is_written = self._write_with_retries(batch)
        with self._cond:
            if is_written:
                self._written += len(batch)
            else:
                self._dropped += len(batch)
            self._finished += len(batch)
            self._cond.notify_all()
        if self.metrics is not None:
            if is_written:
                self.metrics.record_written(len(batch))
            else:
                self.metrics.record_dropped(len(batch))

    def _write_with_retries(self, batch: list[RequestEvent]) -> bool:
        for attempt in range(1, self._write_attempts + 1):
            try:
                self._write(self.engine, batch)
                return True
            except Exception as exc:  # any store failure: retry, then count the batch as lost
                if attempt == self._write_attempts:
                    log.error(
                        "dropped %d request events: the store refused them %d times (last: %s)",
                        len(batch), attempt, exc, exc_info=exc,
                    )  # fmt: skip
                    return False
                backoff_s = self._retry_backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "writing %d request events failed (attempt %d of %d), retrying in %.2fs: %s",
                    len(batch), attempt, self._write_attempts, backoff_s, exc,
                )  # fmt: skip
                time.sleep(backoff_s)
        return False  # pragma: no cover - the loop always returns
