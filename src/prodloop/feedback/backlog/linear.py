"""Linear over its GraphQL API: ``issueCreate`` to create an issue, ``issue`` to read it.

A personal API key goes in the ``Authorization`` header as is. Linear answers a
rate-limited request with HTTP 400 and an error whose ``extensions.code`` is
``RATELIMITED``; the wait comes from ``retry-after`` or ``X-RateLimit-Requests-Reset``
(Unix milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from prodloop.config.feedback import LinearTracker
from prodloop.feedback.backlog import CreatedIssue, IssueState, TrackerError
from prodloop.feedback.backlog.github import required_token
from prodloop.feedback.backlog.retry import Sleep, header_float, send_retrying

PREFIX = "LIN-"
TIMEOUT_S = 15.0
DEFAULT_WAIT_S = 30.0

CREATE_ISSUE = """
mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) {
    success
    issue { id identifier url title }
  }
}
""".strip()

ISSUE_STATE = """
query IssueState($id: String!) {
  issue(id: $id) {
    id
    identifier
    state { name type }
  }
}
""".strip()

# Linear's workflow state types, and what a finished issue means for its feedback.
OUTCOME_BY_STATE_TYPE = {"completed": "shipped", "canceled": "wont_fix"}


def _error_codes(response: httpx.Response) -> list[str]:
    try:
        data = response.json()
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    codes = []
    for error in errors if isinstance(errors, list) else []:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            codes.append(extensions["code"])
    return codes


def rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds Linear asks us to wait, or None when the answer is not a rate limit."""
    if response.status_code == 429 or "RATELIMITED" in _error_codes(response):
        retry_after = header_float(response, "retry-after")
        if retry_after is not None:
            return retry_after
        reset_ms = header_float(response, "x-ratelimit-requests-reset")
        if reset_ms is not None:
            return max(0.0, reset_ms / 1000.0 - now) + 1.0
        return DEFAULT_WAIT_S
    return None


def _errors_text(data: Any) -> str:
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)


class LinearIssues:
    """A client for one Linear team's issues."""

    def __init__(
        self,
        tracker: LinearTracker,
        http: httpx.Client,
        *,
        sleep: Sleep,
        now: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self.key = required_token(
            tracker.token.get(), tracker.token.env_name, "feedback.backlog.linear.token"
        )
        self.http = http
        self.sleep = sleep
        self.now = now

    def _query(self, query: str, variables: dict[str, Any], doing: str) -> dict[str, Any]:
        def once() -> httpx.Response:
            return self.http.post(
                self.tracker.api_url,
                json={"query": query, "variables": variables},
                headers={"Authorization": self.key, "Content-Type": "application/json"},
                timeout=TIMEOUT_S,
            )

        response = send_retrying(
            once, lambda r: rate_limit_wait(r, self.now()), sleep=self.sleep, service="Linear"
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        problems = _errors_text(data)
        if response.status_code != 200 or problems or not isinstance(data, dict):
            detail = problems or response.text[:200]
            raise TrackerError(f"Linear refused to {doing} ({response.status_code}): {detail}")
        result = data.get("data")
        if not isinstance(result, dict):
            raise TrackerError(f"Linear answered no data when asked to {doing}")
        return result

    def create_issue(self, title: str, description: str) -> CreatedIssue:
        """Create an issue in the configured team."""
        variables = {
            "input": {"teamId": self.tracker.team_id, "title": title, "description": description}
        }
        data = self._query(CREATE_ISSUE, variables, "create an issue")
        created = data.get("issueCreate") or {}
        issue = created.get("issue") if isinstance(created, dict) else None
        if not created.get("success") or not isinstance(issue, dict):
            raise TrackerError("Linear did not create the issue (success: false)")
        identifier = str(issue["identifier"])
        return CreatedIssue(
            backlog_id=f"{PREFIX}{identifier}",
            external_id=str(issue["id"]),
            url=str(issue.get("url", "")),
            title=str(issue.get("title", title)),
        )

    def issue_state(self, issue_id: str) -> IssueState:
        """The workflow state's name; completed means shipped, canceled won't fix."""
        data = self._query(ISSUE_STATE, {"id": issue_id}, f"read issue {issue_id}")
        issue = data.get("issue")
        if not isinstance(issue, dict) or not isinstance(issue.get("state"), dict):
            raise TrackerError(f"Linear has no issue {issue_id}")
        state = issue["state"]
        return IssueState(str(state.get("name", "")), OUTCOME_BY_STATE_TYPE.get(state.get("type")))
