"""A local stand-in for Slack, PagerDuty and an Alertmanager webhook receiver.

A threaded HTTP server on a free loopback port records every request and checks each body
against what the service documents, answering as the service would: Slack's incoming
webhooks (200 ``ok``; 400 ``invalid_payload`` / ``invalid_blocks``), PagerDuty's Events API
v2 (202 with ``status: success``; 400 ``invalid event``) and Alertmanager's webhook v4
payload (200; 400 when a field is missing or mistyped). Tests can queue other answers
(429 with Retry-After, 500, 404) per path.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support import serve_http

SLACK_PATH = "/services/T000/B000/XXXX"
PAGERDUTY_PATH = "/v2/enqueue"
WEBHOOK_PATH = "/alertmanager"

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    status: int  # what the recorder answered
    problems: list[str] = field(default_factory=list)


@dataclass
class Reply:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class Recorder:
    """What the server received, and the replies queued for the next requests."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self._queued: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()

    def queue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with these replies, in order."""
        with self._lock:
            self._queued.setdefault(path, deque()).extend(replies)

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received if r.path == path]

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def _next_reply(self, path: str) -> Reply | None:
        with self._lock:
            queued = self._queued.get(path)
            return queued.popleft() if queued else None

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)


# --- the documented shapes ---------------------------------------------------------------


def _text_object(obj: Any, where: str, limit: int, problems: list[str], *, plain: bool) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in (
        ("plain_text",) if plain else ("plain_text", "mrkdwn")
    ):
        problems.append(f"{where}: not a {'plain_text' if plain else 'text'} object")
        return
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}.text: missing")
    elif len(text) > limit:
        problems.append(f"{where}.text: longer than {limit}")


def _is_url(value: Any) -> bool:
    return (
        isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 3000
    )


def check_slack(body: Any) -> list[str]:
    """Slack incoming webhook body: `text` and/or `blocks` within Block Kit's limits."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["invalid_payload"]
    if not isinstance(body.get("text"), str) and "blocks" not in body:
        return ["no_text"]
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["invalid_blocks: at most 50 blocks"]
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            _text_object(block.get("text"), where, 150, problems, plain=True)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                _text_object(block["text"], where, 3000, problems, plain=False)
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"{where}.fields: more than 10")
            for j, item in enumerate(fields):
                _text_object(item, f"{where}.fields[{j}]", 2000, problems, plain=False)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > 25:
                problems.append(f"{where}.elements: 1 to 25 elements")
            for j, element in enumerate(elements):
                spot = f"{where}.elements[{j}]"
                if element.get("type") != "button":
                    problems.append(f"{spot}: only buttons are expected")
                    continue
                _text_object(element.get("text"), spot, 75, problems, plain=True)
                if "url" in element and not _is_url(element["url"]):
                    problems.append(f"{spot}.url: not a URL")
                action_id = element.get("action_id")
                if action_id is not None:
                    if action_id in action_ids:
                        problems.append(f"{spot}.action_id: not unique")
                    action_ids.add(action_id)
                if element.get("style") not in (None, "primary", "danger"):
                    problems.append(f"{spot}.style: primary or danger")
        elif kind == "context":
            elements = block.get("elements", [])
            if not elements or len(elements) > 10:
                problems.append(f"{where}.elements: 1 to 10 elements")
            for j, element in enumerate(elements):
                _text_object(element, f"{where}.elements[{j}]", 3000, problems, plain=False)
        elif kind != "divider":
            problems.append(f"{where}: unexpected block type {kind!r}")
    return [f"invalid_blocks: {p}" for p in problems]


def check_pagerduty(body: Any) -> list[str]:
    """Events API v2 alert event."""
    if not isinstance(body, dict):
        return ["Event object is invalid"]
    problems = []
    if not isinstance(body.get("routing_key"), str) or not body["routing_key"]:
        problems.append("'routing_key' is missing or blank")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        problems.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "'payload' is missing"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            problems.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            problems.append("'payload.summary' is longer than 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            problems.append("'payload.source' is missing or blank")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append("'payload.severity' is invalid")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
            except ValueError:
                problems.append("'payload.timestamp' is not ISO 8601")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict):
            problems.append("'payload.custom_details' must be an object")
        for i, link in enumerate(body.get("links", [])):
            if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                problems.append(f"'links[{i}].href' is missing")
    if len(json.dumps(body)) > 512 * 1024:
        problems.append("the event is larger than 512 KB")
    return problems


def check_alertmanager(body: Any) -> list[str]:
    """Alertmanager's webhook v4 payload."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    problems = []
    if body.get("version") != "4":
        problems.append("version must be '4'")
    for name in ("groupKey", "receiver", "externalURL"):
        if not isinstance(body.get(name), str):
            problems.append(f"{name} must be a string")
    if body.get("status") not in ("firing", "resolved"):
        problems.append("status must be firing or resolved")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        value = body.get(name)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append(f"{name} must map strings to strings")
    if not isinstance(body.get("truncatedAlerts", 0), int):
        problems.append("truncatedAlerts must be an integer")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return [*problems, "alerts must be a non-empty list"]
    for i, alert in enumerate(alerts):
        if alert.get("status") not in ("firing", "resolved"):
            problems.append(f"alerts[{i}].status must be firing or resolved")
        for name in ("labels", "annotations"):
            value = alert.get(name)
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                problems.append(f"alerts[{i}].{name} must map strings to strings")
        for name in ("startsAt", "endsAt"):
            if not _RFC3339.match(str(alert.get(name, ""))):
                problems.append(f"alerts[{i}].{name} is not RFC 3339")
        for name in ("generatorURL", "fingerprint"):
            if not isinstance(alert.get(name), str):
                problems.append(f"alerts[{i}].{name} must be a string")
    return problems


def _default_reply(path: str, body: Any) -> Reply:
    if path.startswith("/services/"):
        problems = check_slack(body)
        if problems:
            return Reply(400, problems[0].split(":")[0])
        return Reply(200, "ok", {"content-type": "text/html"})
    if path == PAGERDUTY_PATH:
        problems = check_pagerduty(body)
        if problems:
            answer = {"status": "invalid event", "message": "Event object is invalid"}
            return Reply(400, json.dumps({**answer, "errors": problems}))
        answer = {"status": "success", "message": "Event processed"}
        return Reply(202, json.dumps({**answer, "dedup_key": body.get("dedup_key", "")}))
    if path == WEBHOOK_PATH:
        problems = check_alertmanager(body)
        return Reply(400, "; ".join(problems)) if problems else Reply(200, "")
    return Reply(404, "no such path")


CHECKS: dict[str, Callable[[Any], list[str]]] = {
    SLACK_PATH: check_slack,
    PAGERDUTY_PATH: check_pagerduty,
    WEBHOOK_PATH: check_alertmanager,
}


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server dispatches to
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            check = CHECKS.get(self.path)
            problems = check(body) if check is not None else []
            reply = recorder._next_reply(self.path) or _default_reply(self.path, body)
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorder._record(Received(self.path, headers, body, reply.status, problems))
            data = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the tests read `received`

    return Handler


@contextmanager
def recording_server() -> Iterator[Recorder]:
    """Start the recorder on a free loopback port; stop it after."""
    recorder = Recorder()
    with serve_http(_handler(recorder)) as url:
        recorder.url = url
        yield recorder


# --- alerts as the evaluator writes them, and a config that pages the recorder -------------

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SIGNING_KEY = "test-signing-key-0123456789"
ROUTING_KEY = "R0123456789abcdef0123456789abcdef"  # 32 characters, like PagerDuty's


def environ(url: str) -> dict[str, str]:
    """Secrets the paging config references, pointed at the recorder at `url`."""
    return {
        "T_SLACK_URL": url + SLACK_PATH,
        "T_PD_KEY": ROUTING_KEY,
        "T_WEBHOOK_URL": url + WEBHOOK_PATH,
        "T_SIGNING_KEY": SIGNING_KEY,
        "T_API_TOKEN": "test-api-token",
        "T_INGEST_KEY": "test-ingest-key",
    }


def paging_yaml(url: str, *, routes: str | None = None, extra: str = "") -> str:
    """prodloop.yaml text paging Slack, PagerDuty and a webhook on the recorder."""
    default_routes = """
  routes:
    - match: {service: chat}
      notifiers: [slack, webhook]
      escalation_policy: chat
"""
    return f"""
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:9/v1"}}
alerts:
  dashboard_url: "http://dash.example/d/slo"
paging:
  public_url: "http://prodloop.example"
  signing_key: "${{T_SIGNING_KEY}}"
  retry_backoff: 30s
  retry_max_backoff: 10m
  notifiers:
    slack: {{kind: slack, url: "${{T_SLACK_URL}}", max_attempts: 3}}
    pagerduty:
      kind: pagerduty
      routing_key: "${{T_PD_KEY}}"
      events_url: "{url}{PAGERDUTY_PATH}"
    webhook: {{kind: webhook, url: "${{T_WEBHOOK_URL}}"}}
    console: {{kind: console}}
  people:
    alice: {{notify: [pagerduty], email: alice@example.com}}
    bob: {{notify: [pagerduty, console]}}
  schedules:
    primary: {{rotation: weekly, people: [alice, bob], start: 2025-12-29, handoff: "09:00"}}
  escalation_policies:
    chat:
      repeat: 1
      levels:
        - {{targets: ["schedule:primary"], after: 10m}}
        - {{targets: ["person:bob"], after: 15m}}
{routes if routes is not None else default_routes}
{extra}
"""


def insert_alert(
    engine: Any,
    *,
    slo: str = "error-rate",
    service: str = "chat",
    severity: str = "page",
    state: str = "firing",
    value: float | None = 0.052,
    threshold: float = 0.03,
    at: float = T0,
    kind: str = "threshold",
    summary: str | None = None,
    runbook_url: str | None = "https://runbooks.example/rollback.md",
) -> int:
    """A row of `alerts` shaped as the evaluator writes it; returns its id."""
    from prodloop.alerting.rules import camel, fingerprint
    from prodloop.store.schema import alerts

    alertname = camel(slo) + ("AboveThreshold" if kind == "threshold" else "BudgetBurn")
    labels = {
        "alertname": alertname,
        "service": service,
        "slo": slo,
        "severity": severity,
        "kind": kind,
        "window": "5m",
    }
    with engine.begin() as conn:
        result = conn.execute(
            alerts.insert().values(
                fingerprint=fingerprint(labels),
                alertname=alertname,
                kind=kind,
                severity=severity,
                service=service,
                slo=slo,
                labels=json.dumps(labels, sort_keys=True),
                state=state,
                active_at=at - 300,
                fired_at=at if state != "pending" else None,
                resolved_at=None,
                last_eval_at=at,
                last_true_at=at,
                value=value,
                threshold=threshold,
                summary=summary
                if summary is not None
                else f"{service} {slo}: error rate 5.20% over 5m (threshold 3.00%)",
                runbook_url=runbook_url,
            )
        )
        return int(result.inserted_primary_key[0])


def resolve_alert(engine: Any, alert_id: int, at: float) -> None:
    from prodloop.store.schema import alerts

    with engine.begin() as conn:
        conn.execute(
            alerts.update()
            .where(alerts.c.id == alert_id)
            .values(state="resolved", resolved_at=at, last_eval_at=at)
        )
