"""Which role a user's API token needs for each kind of /api/v1 request."""

from __future__ import annotations

import pytest

from prodloop.api.auth import role_needed

EXPECTED = [
    ("GET", "/api/v1/slos", "viewer"),
    ("GET", "/api/v1/flags/new-prompt", "viewer"),
    ("POST", "/ofrep/v1/evaluate/flags", "viewer"),
    ("POST", "/ofrep/v1/evaluate/flags/new-prompt", "viewer"),
    ("POST", "/api/v1/alerts/12/ack", "operator"),
    ("POST", "/api/v1/silences", "operator"),
    ("DELETE", "/api/v1/silences/3", "operator"),
    ("POST", "/api/v1/incidents/4/ack", "operator"),
    ("POST", "/api/v1/incidents/4/mitigate", "operator"),
    ("POST", "/api/v1/incidents/4/updates", "operator"),
    ("POST", "/api/v1/rollouts/chat/pause", "operator"),
    ("POST", "/api/v1/rollouts/chat/abort", "operator"),
    ("POST", "/api/v1/services/chat/rollback", "operator"),
    ("POST", "/api/v1/feedback/9/triage", "operator"),
    ("POST", "/api/v1/feedback/9/close", "operator"),
    ("PUT", "/api/v1/status/components/chat", "operator"),
    ("GET", "/api/v1/experiments/prompt-v2", "viewer"),
    ("GET", "/api/v1/launch/check", "viewer"),
    ("POST", "/api/v1/experiments", "operator"),
    ("POST", "/api/v1/experiments/prompt-v2/conclude", "operator"),
    ("POST", "/api/v1/launch/signoffs", "operator"),
    ("POST", "/api/v1/launch/ga", "admin"),
    ("DELETE", "/api/v1/experiments/prompt-v2", "admin"),
    ("POST", "/api/v1/deployments", "admin"),
    ("PUT", "/api/v1/services/chat/weights", "admin"),
    ("POST", "/api/v1/flags", "admin"),
    ("PATCH", "/api/v1/flags/new-prompt", "admin"),
    ("POST", "/api/v1/flags/new-prompt/kill", "admin"),
    ("PUT", "/api/v1/faults", "admin"),
    ("DELETE", "/api/v1/faults", "admin"),
    ("POST", "/api/v1/status/maintenances", "admin"),
    ("POST", "/api/v1/services/chat/rollback/extra", "admin"),  # unknown: the safe answer
]


@pytest.mark.parametrize(("method", "path", "role"), EXPECTED)
def test_role_needed(method: str, path: str, role: str) -> None:
    assert role_needed(method, path) == role
