"""What every notifier shares: the message model, value formatting and one HTTP POST."""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

Action = Literal["firing", "repeat", "escalation", "acknowledged", "resolved"]
ACTIONS: tuple[Action, ...] = ("firing", "repeat", "escalation", "acknowledged", "resolved")
# Actions that ask someone to act now (a page), as opposed to updates about a page.
PAGE_ACTIONS: frozenset[str] = frozenset({"firing", "repeat", "escalation"})

# Units an alert's value and threshold are shown in.
Unit = Literal["ms", "ratio", "usd", "burn", ""]

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert occurrence as notifications show it (a row of the `alerts` table)."""

    id: int
    fingerprint: str
    alertname: str
    service: str
    severity: str
    state: str  # pending | firing | resolved
    labels: Mapping[str, str]  # alertname, service, severity and slo included
    summary: str
    value: float | None
    threshold: float
    started_at: float  # when it fired (or became active, for a pending alert)
    slo: str | None = None
    unit: Unit = ""
    runbook_url: str | None = None
    dashboard_url: str | None = None  # pointed at this alert's service and SLO
    resolved_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    ack_url: str | None = None  # signed acknowledge link; None when links are not signed

    @property
    def title(self) -> str:
        return f"{self.alertname} on {self.service}"

    @property
    def headline(self) -> str:
        """The alert in one line: its summary, or its value against its threshold."""
        return self.summary or f"{self.title}: {self.condition}"

    @property
    def condition(self) -> str:
        """The value against its threshold, e.g. ``5.20% > 3.00%``."""
        return f"{format_value(self.value, self.unit)} > {format_value(self.threshold, self.unit)}"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about a group of alerts, to one notifier."""

    action: Action
    receiver: str  # notifier name
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[AlertView, ...]
    dashboard_url: str
    public_url: str
    now: float
    paged: tuple[str, ...] = ()  # people paged by this message
    escalation_level: int | None = None  # 1-based level of an escalation page

    @property
    def status(self) -> Literal["firing", "resolved"]:
        """Alertmanager's status: firing while any alert of the message still fires."""
        return "firing" if any(a.state != "resolved" for a in self.alerts) else "resolved"


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt."""

    status_code: int | None  # None: no HTTP answer (network error, timeout, console)
    error: str | None = None
    retry_after_s: float | None = None  # from a 429's Retry-After
    is_permanent: bool = False  # a failure retrying cannot fix (a missing secret)

    @property
    def is_sent(self) -> bool:
        if self.error is not None:
            return False
        return self.status_code is None or 200 <= self.status_code < 300

    @property
    def is_retryable(self) -> bool:
        """Network errors, 429 and 5xx are retried; other 4xx never are."""
        if self.is_sent or self.is_permanent:
            return False
        code = self.status_code
        return code is None or code == 429 or code >= 500


def dashboard_for(n: Notification, alert: AlertView) -> str:
    """The alert's own dashboard link, else the message's."""
    return alert.dashboard_url or n.dashboard_url


def format_value(value: float | None, unit: Unit) -> str:
    """A value as people read it: 2.61s, 850ms, 5.20%, $0.0031, 14.4×."""
    if value is None or not math.isfinite(value):
        return "no data"
    if unit == "ms":
        return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "usd":
        return f"${value:.4f}"
    if unit == "burn":
        return f"{value:.1f}×"
    return f"{value:g}"


def rfc3339(ts: float) -> str:
    """UTC RFC 3339 time with a Z, milliseconds only when there are some."""
    when = datetime.fromtimestamp(ts, UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_http_url(text: str | None) -> bool:
    """Whether `text` is an absolute http(s) URL (the only links Slack and PagerDuty take)."""
    return bool(text) and str(text).startswith(("http://", "https://"))


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def post_json(
    http: httpx.Client,
    url: str,
    body: Mapping[str, Any],
    *,
    timeout_s: float,
    now: float,
) -> SendResult:
    """POST `body` as JSON; never raises, and the URL (a secret) never reaches the error."""
    try:
        response = http.post(url, json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        detail = str(exc).replace(url, "<url>") or type(exc).__name__
        return SendResult(None, f"{type(exc).__name__}: {detail}")
    code = response.status_code
    if 200 <= code < 300:
        return SendResult(code)
    text = " ".join(response.text.split())
    error = f"HTTP {code}" + (f": {truncate(text, 200)}" if text else "")
    retry_after = (
        parse_retry_after(response.headers.get("retry-after"), now) if code == 429 else None
    )
    return SendResult(code, error, retry_after_s=retry_after)
