"""What users say and do: `feedback(...)` and `capture(...)` from a backend.

    from prodloop.sdk import capture, feedback

    feedback(trace_id=request_id, rating="down", comment="wrong invoice total")
    capture("checkout_completed", distinct_id=user.id, properties={"plan": "pro"})

`feedback` posts at once (feedback is rare and the caller may want its id) with an
idempotency key, so its retries never store it twice. `capture` is buffered and sent in
batches to /ingest/events from the background thread, like tracked calls. Neither raises
into the app: a failure is logged once and answered with None / False.
"""

from __future__ import annotations

import logging
import random
import time
import uuid as uuid_module
from typing import Any

import httpx

from prodloop.sdk.track import get_client

log = logging.getLogger("prodloop.sdk")

FEEDBACK_PATH = "/ingest/feedback"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def feedback(
    *,
    trace_id: str | None = None,
    rating: str | int | None = None,
    comment: str | None = None,
    category: str | None = None,
    email: str | None = None,
    user_id: str | None = None,
    page: str | None = None,
    metadata: dict[str, Any] | None = None,
    id: str | None = None,  # the endpoint's name for the idempotency key
) -> int | None:
    """Send one piece of feedback ("up"/"down" or 1..5 stars, and/or a comment) about the
    request `trace_id`; the stored feedback's id, or None when it could not be stored."""
    body: dict[str, Any] = {"id": id or uuid_module.uuid4().hex, "source": "sdk"}
    optional = {
        "trace_id": trace_id, "rating": rating, "comment": comment, "category": category,
        "email": email, "user_id": user_id, "page": page, "metadata": metadata,
    }  # fmt: skip
    body.update({name: value for name, value in optional.items() if value is not None})
    try:
        return _post_feedback(body)
    except Exception:  # feedback must never break the app that sends it
        log.warning("prodloop: could not send feedback", exc_info=True)
        return None


def _post_feedback(body: dict[str, Any]) -> int | None:
    settings = get_client().sender.settings
    url = settings.endpoint.rstrip("/") + FEEDBACK_PATH
    headers = {"user-agent": "prodloop-sdk"}
    if settings.key:
        headers["x-prodloop-key"] = settings.key
    problem = ""
    with httpx.Client(timeout=settings.timeout_s, headers=headers) as http:
        for attempt in range(settings.max_retries + 1):
            try:
                response = http.post(url, json=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 300:
                    return int(response.json()["id"])
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRY_STATUSES:
                    break
            if attempt < settings.max_retries:
                time.sleep(min(settings.backoff_s * 2**attempt * (0.5 + random.random()), 10.0))
    log.warning("prodloop: feedback was not stored (%s)", problem)
    return None


def capture(
    event: str,
    distinct_id: str,
    properties: dict[str, Any] | None = None,
    *,
    timestamp: float | None = None,
    uuid: str | None = None,
    path: str | None = None,
    session_id: str | None = None,
) -> bool:
    """Queue one analytics event (Unix-seconds `timestamp`, now by default); False when
    the buffer is full. A `uuid` makes the event idempotent across retries and resends."""
    item: dict[str, Any] = {
        "event": event,
        "distinct_id": distinct_id,
        "timestamp": time.time() if timestamp is None else timestamp,
        "uuid": uuid or str(uuid_module.uuid4()),
    }
    optional = {"properties": properties, "path": path, "session_id": session_id}
    item.update({name: value for name, value in optional.items() if value is not None})
    try:
        return get_client().analytics.enqueue(item)
    except Exception:  # telemetry never raises into the app
        log.warning("prodloop: could not queue an analytics event", exc_info=True)
        return False
