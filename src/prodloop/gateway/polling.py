"""The loop a gateway uses to keep something it serves by in step with the store.

A poller reads in a worker thread, never on a request's path, and applies what it read
on the event loop. A failed read is counted and logged, and what was applied last stays
in force until a read succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

log = logging.getLogger("prodloop.gateway")

Read = TypeVar("Read")
Applied = TypeVar("Applied")


class StorePoller(ABC, Generic[Read, Applied]):
    """Reads with `read` and applies with `apply` every `interval_s`.

    `subject` names what is read and `kept` what stays in force, for the logs.
    """

    subject = "the store"
    kept = "state"

    def __init__(self, engine: Engine, interval_s: float) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.polls = 0
        self.errors = 0

    @abstractmethod
    def read(self) -> Read:
        """Read from the store; runs in a worker thread."""

    @abstractmethod
    def apply(self, fresh: Read) -> Applied:
        """Apply what `read` returned; runs on the event loop."""

    def prime(self) -> None:
        """Read and apply once, before the gateway serves its first request."""
        try:
            self.apply(self.read())
        except Exception:
            self.errors += 1
            log.exception("reading %s failed; the poll will retry", self.subject)

    async def poll_once(self) -> Applied:
        """Read in a thread and apply here, on the event loop."""
        fresh = await asyncio.to_thread(self.read)
        self.polls += 1
        return self.apply(fresh)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `interval_s` until `stop` is set."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:
                self.errors += 1
                log.exception("reading %s failed; keeping the current %s", self.subject, self.kept)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
