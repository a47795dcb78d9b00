"""GitHub Issues over the REST API: create an issue, read whether it was closed.

``POST /repos/{owner}/{repo}/issues`` with title, body and labels creates one;
``GET /repos/{owner}/{repo}/issues/{number}`` reads its state. A rate-limited answer is a
403 or 429 with ``x-ratelimit-remaining: 0`` (wait until ``x-ratelimit-reset``, Unix
seconds) or with ``retry-after`` (seconds); both are waited out and retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from prodloop.config.feedback import GitHubTracker
from prodloop.errors import ValidationError
from prodloop.feedback.backlog import CreatedIssue, IssueState, TrackerError
from prodloop.feedback.backlog.retry import Sleep, header_float, send_retrying

API_VERSION = "2022-11-28"
PREFIX = "GH-"
TIMEOUT_S = 15.0
SECONDARY_WAIT_S = 60.0  # GitHub's advice for a secondary limit that names no wait


def required_token(ref_value: str | None, env_name: str, field: str) -> str:
    """The tracker's token, or an error naming the environment variable to set."""
    if not ref_value:
        raise ValidationError(f"environment variable {env_name} is not set", field=field)
    return ref_value


def rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds GitHub asks us to wait, or None when the answer is not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    retry_after = header_float(response, "retry-after")
    if retry_after is not None:
        return retry_after
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = header_float(response, "x-ratelimit-reset")
        return max(0.0, reset - now) + 1.0 if reset is not None else SECONDARY_WAIT_S
    if response.status_code == 429:
        return SECONDARY_WAIT_S
    return None  # a plain 403: the token may not do this


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        text = str(data.get("message", ""))
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            text += ": " + "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                     for e in errors)  # fmt: skip
        return text
    return str(data)[:200]


def _failure(response: httpx.Response, doing: str, repo: str) -> TrackerError:
    hints = {
        401: "the token is not valid",
        403: "the token may not do this",
        404: f"no repository {repo}, or the token cannot see it",
        410: f"issues are turned off in {repo}",
    }
    hint = hints.get(response.status_code, _message(response))
    return TrackerError(f"GitHub refused to {doing} ({response.status_code}): {hint}")


class GitHubIssues:
    """A client for one repository's issues."""

    def __init__(
        self,
        tracker: GitHubTracker,
        http: httpx.Client,
        *,
        sleep: Sleep,
        now: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self.token = required_token(
            tracker.token.get(), tracker.token.env_name, "feedback.backlog.github.token"
        )
        self.http = http
        self.sleep = sleep
        self.now = now
        self.base = tracker.api_url.rstrip("/") + f"/repos/{tracker.repo}/issues"

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "prodloop",
        }

    def _send(self, method: str, url: str, body: dict[str, Any] | None = None) -> httpx.Response:
        def once() -> httpx.Response:
            return self.http.request(
                method, url, json=body, headers=self._headers(), timeout=TIMEOUT_S
            )

        return send_retrying(
            once, lambda r: rate_limit_wait(r, self.now()), sleep=self.sleep, service="GitHub"
        )

    def create_issue(self, title: str, body: str) -> CreatedIssue:
        """Open an issue with the configured labels."""
        payload = {"title": title, "body": body, "labels": list(self.tracker.labels)}
        response = self._send("POST", self.base, payload)
        if response.status_code != 201:
            raise _failure(response, "create an issue", self.tracker.repo)
        data = response.json()
        number = int(data["number"])
        return CreatedIssue(
            backlog_id=f"{PREFIX}{number}",
            external_id=str(number),
            url=str(data.get("html_url", "")),
            title=str(data.get("title", title)),
        )

    def issue_state(self, number: str) -> IssueState:
        """open, or closed as shipped (completed) or wont_fix (closed as not planned)."""
        response = self._send("GET", f"{self.base}/{number}")
        if response.status_code != 200:
            raise _failure(response, f"read issue #{number}", self.tracker.repo)
        data = response.json()
        state = str(data.get("state", "open"))
        if state != "closed":
            return IssueState(state, None)
        reason = data.get("state_reason")
        return IssueState(state, "wont_fix" if reason == "not_planned" else "shipped")
