"""A local stand-in for GitHub's REST API and Linear's GraphQL API.

A threaded HTTP server on a free loopback port records every request, checks it against
what the service documents (path, method, headers, body) and answers as the service
would: GitHub's ``201`` with the created issue and ``GET`` of an issue; Linear's
``issueCreate`` and ``issue(id:)`` results. Tests queue other answers per path — a rate
limit (GitHub: 403 with ``x-ratelimit-remaining: 0``; Linear: 400 with a ``RATELIMITED``
error), a 404 — and set the state an issue reports.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support import serve_http

REPO = "acme/assistant"
GITHUB_ISSUES = f"/repos/{REPO}/issues"
LINEAR_PATH = "/graphql"
GITHUB_TOKEN = "ghp_test0123456789"
LINEAR_KEY = "lin_api_test0123456789"
TEAM_ID = "9cfb482a-81e3-4154-b5b9-2c805e70a02d"

_ISSUE_PATH = re.compile(rf"^{re.escape(GITHUB_ISSUES)}/(\d+)$")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    problems: list[str] = field(default_factory=list)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class TrackerRecorder:
    def __init__(self) -> None:
        self.url = ""
        self.received: list[Received] = []
        self.github_issues: dict[int, dict[str, Any]] = {}
        self.linear_issues: dict[str, dict[str, Any]] = {}
        self._queued: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()

    def queue(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._queued.setdefault(path, deque()).extend(replies)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def problems(self) -> list[str]:
        with self._lock:
            return [p for r in self.received for p in r.problems]

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            queued = self._queued.get(path)
            return queued.popleft() if queued else None

    # --- GitHub ------------------------------------------------------------------------

    def _github(
        self, method: str, path: str, headers: dict[str, str], body: Any, *, store: bool = True
    ) -> tuple[Reply, list[str]]:
        problems = []
        if headers.get("accept") != "application/vnd.github+json":
            problems.append("Accept must be application/vnd.github+json")
        if headers.get("authorization") != f"Bearer {GITHUB_TOKEN}":
            return Reply(401, {"message": "Bad credentials"}), ["Authorization"]
        if headers.get("x-github-api-version") != "2022-11-28":
            problems.append("X-GitHub-Api-Version must be 2022-11-28")
        if method == "POST" and path == GITHUB_ISSUES:
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("title"), str)
                or not body["title"]
            ):
                return Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [{"field": "title", "code": "missing_field"}],
                    },
                ), ["title"]
            for name, kind in (("body", str), ("labels", list)):
                if name in body and not isinstance(body[name], kind):
                    problems.append(f"{name} must be a {kind.__name__}")
            unknown = set(body) - {"title", "body", "labels", "assignees", "milestone", "type"}
            if unknown:
                problems.append(f"unknown fields {sorted(unknown)}")
            number = len(self.github_issues) + 41
            issue = {
                "id": 1000 + number, "number": number, "title": body["title"],
                "body": body.get("body"), "state": "open", "state_reason": None,
                "labels": [{"name": n} for n in body.get("labels", [])],
                "html_url": f"https://github.com/{REPO}/issues/{number}",
                "url": f"https://api.github.com/repos/{REPO}/issues/{number}",
            }  # fmt: skip
            if store:
                self.github_issues[number] = issue
            return Reply(201, issue), problems
        match = _ISSUE_PATH.match(path)
        if method == "GET" and match:
            issue = self.github_issues.get(int(match.group(1)))
            if issue is None:
                return Reply(404, {"message": "Not Found"}), problems
            return Reply(200, issue), problems
        return Reply(404, {"message": "Not Found"}), [f"unexpected {method} {path}"]

    # --- Linear ------------------------------------------------------------------------

    def _linear(
        self, headers: dict[str, str], body: Any, *, store: bool = True
    ) -> tuple[Reply, list[str]]:
        problems = []
        if headers.get("authorization") != LINEAR_KEY:
            return Reply(
                400,
                {
                    "errors": [
                        {
                            "message": "Authentication required",
                            "extensions": {"code": "AUTHENTICATION_ERROR"},
                        }
                    ]
                },
            ), ["Authorization"]
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append("Content-Type must be application/json")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return Reply(400, {"errors": [{"message": "Must provide query string."}]}), ["query"]
        query, variables = body["query"], body.get("variables") or {}
        if "issueCreate" in query:
            data = variables.get("input") if isinstance(variables, dict) else None
            if not isinstance(data, dict):
                return Reply(400, {"errors": [{"message": "input is required"}]}), ["input"]
            for name in ("teamId", "title"):
                if not isinstance(data.get(name), str) or not data[name]:
                    problems.append(f"input.{name} is required")
            if "description" in data and not isinstance(data["description"], str):
                problems.append("input.description must be a string")
            if not re.search(r"issue\s*\{[^}]*\bid\b[^}]*\bidentifier\b[^}]*\burl\b", query):
                problems.append("the mutation must select issue { id identifier url }")
            number = len(self.linear_issues) + 7
            issue_id = f"a1b2c3d4-0000-4000-8000-{number:012d}"
            issue = {"id": issue_id, "identifier": f"ENG-{number}", "title": data.get("title"),
                     "description": data.get("description"),
                     "url": f"https://linear.app/acme/issue/ENG-{number}",
                     "state": {"name": "Todo", "type": "unstarted"}}  # fmt: skip
            if store:
                self.linear_issues[issue_id] = issue
            created = {k: issue[k] for k in ("id", "identifier", "url", "title")}
            return Reply(
                200, {"data": {"issueCreate": {"success": True, "issue": created}}}
            ), problems
        if re.search(r"\bissue\s*\(\s*id\s*:", query):
            wanted = variables.get("id")
            found = self.linear_issues.get(wanted) or next(
                (i for i in self.linear_issues.values() if i["identifier"] == wanted), None
            )
            if found is None:
                return Reply(
                    200,
                    {
                        "data": None,
                        "errors": [
                            {"message": "Entity not found", "extensions": {"code": "INVALID_INPUT"}}
                        ],
                    },
                ), problems
            if not re.search(r"state\s*\{[^}]*\bname\b[^}]*\btype\b", query):
                problems.append("the query must select state { name type }")
            return Reply(
                200,
                {
                    "data": {
                        "issue": {
                            "id": found["id"],
                            "identifier": found["identifier"],
                            "state": found["state"],
                        }
                    }
                },
            ), problems
        return Reply(400, {"errors": [{"message": "unknown operation"}]}), ["unknown operation"]


def _handler(recorder: TrackerRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            queued = recorder._next(self.path)
            # A queued answer (a rate limit, an outage) means the service did nothing.
            store = queued is None
            if self.path == LINEAR_PATH and method == "POST":
                answer, problems = recorder._linear(headers, body, store=store)
            else:
                answer, problems = recorder._github(method, self.path, headers, body, store=store)
            reply = queued or answer
            with recorder._lock:
                recorder.received.append(
                    Received(method, self.path, headers, body, reply.status, problems)
                )
            data = json.dumps(reply.body).encode() if reply.body is not None else b""
            self.send_response(reply.status)
            self.send_header("content-type", "application/json; charset=utf-8")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def tracker_server() -> Iterator[TrackerRecorder]:
    """Start the recorder on a free loopback port; stop it after."""
    recorder = TrackerRecorder()
    with serve_http(_handler(recorder)) as url:
        recorder.url = url
        yield recorder


def backlog_yaml(url: str) -> str:
    """The feedback.backlog section pointing both trackers at the recorder."""
    return f"""
  backlog:
    github:
      repo: {REPO}
      token: "${{T_GITHUB_TOKEN}}"
      api_url: "{url}"
      labels: [feedback, bug]
    linear:
      team_id: "{TEAM_ID}"
      token: "${{T_LINEAR_KEY}}"
      api_url: "{url}{LINEAR_PATH}"
"""


TRACKER_ENV = {"T_GITHUB_TOKEN": GITHUB_TOKEN, "T_LINEAR_KEY": LINEAR_KEY}
