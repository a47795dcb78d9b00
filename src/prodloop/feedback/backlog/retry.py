"""Honour a tracker's rate limit: wait as long as it says, a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from prodloop.feedback.backlog import TrackerError

MAX_ATTEMPTS = 3
MAX_WAIT_S = 60.0  # longer than this and the caller is told when to try again instead

Sleep = Callable[[float], None]


def send_retrying(
    send: Callable[[], httpx.Response],
    wait_for: Callable[[httpx.Response], float | None],
    *,
    sleep: Sleep,
    service: str,
    max_attempts: int = MAX_ATTEMPTS,
    max_wait_s: float = MAX_WAIT_S,
) -> httpx.Response:
    """Send; while the answer is a rate limit (`wait_for` gives seconds), wait and resend."""
    for attempt in range(1, max_attempts + 1):
        try:
            response = send()
        except httpx.HTTPError as exc:
            raise TrackerError(f"{service} did not answer: {exc}") from exc
        wait_s = wait_for(response)
        if wait_s is None:
            return response
        if wait_s > max_wait_s:
            raise TrackerError(
                f"{service}'s rate limit is exhausted for {wait_s:.0f}s more; try again then"
            )
        if attempt == max_attempts:
            break
        sleep(max(0.0, wait_s))
    raise TrackerError(f"{service} is still rate limiting after {max_attempts} attempts")


def header_float(response: httpx.Response, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
