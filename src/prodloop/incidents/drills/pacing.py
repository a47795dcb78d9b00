"""A drill's clock: simulated time that can be paced to run N times faster than real time."""

from __future__ import annotations

import time
from collections.abc import Callable

from prodloop.clock import ManualClock


class PacedClock(ManualClock):
    """A manual clock; with `speed` > 0, `advance` waits until real time has caught up.

    Simulated and real time are then one linear map (`sim_at`, `real_at`), which is how
    a person's acknowledgement, stamped in real time, lands on the drill's timeline.
    """

    def __init__(
        self,
        start: float,
        speed: float = 0.0,
        *,
        real: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(start)
        self.speed = speed
        self._real = real
        self._sleep = sleep
        self._sim0 = start
        self._real0 = real()

    @property
    def is_paced(self) -> bool:
        return self.speed > 0

    def sim_at(self, real: float) -> float:
        """The simulated time matching a real (Unix) time; only meaningful when paced."""
        return self._sim0 + (real - self._real0) * self.speed

    def real_at(self, sim: float) -> float:
        """The real (Unix) time a simulated time is reached at; only meaningful when paced."""
        return self._real0 + (sim - self._sim0) / self.speed

    def advance(self, seconds: float) -> float:
        now = super().advance(seconds)
        if self.is_paced:
            wait_s = self.real_at(now) - self._real()
            if wait_s > 0:
                self._sleep(wait_s)
        return now
