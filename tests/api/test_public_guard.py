"""What every public route checks first: CORS allowlist, rate limits, body size."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodloop.clock import ManualClock
from prodloop.store.schema import analytics_events, feedback
from tests.api.public_support import NO_LIMITS, public_client, rows
from tests.api.support import INGEST_KEY, ControlPlane, running_control_plane

KEY = {"x-prodloop-key": INGEST_KEY}
APP = "https://app.example.com"
EVENT = {"event": "e", "distinct_id": "a"}


@pytest.fixture(scope="module")
def cors_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    yaml = (
        NO_LIMITS
        + f"""    allowed_origins: ["{APP}"]
    max_body_bytes: 2000
"""
    )
    tmp: Path = tmp_path_factory.mktemp("cors")
    with running_control_plane(tmp, control_yaml=yaml, clock=ManualClock()) as plane:
        yield plane


@pytest.mark.parametrize(
    "path", ["/ingest/feedback", "/ingest/events", "/batch/", "/e", "/2/httpapi",
             "/api/public/scores"],
)  # fmt: skip
def test_preflight_of_an_allowed_origin(cors_plane: ControlPlane, path: str) -> None:
    headers = {"origin": APP, "access-control-request-method": "POST",
               "access-control-request-headers": "content-type, x-prodloop-key"}  # fmt: skip
    with public_client(cors_plane) as http:
        response = http.options(path, headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"]
    assert "x-prodloop-key" in allowed and "content-type" in allowed
    assert response.headers["vary"] == "Origin"


def test_origins_not_on_the_list(cors_plane: ControlPlane) -> None:
    before = len(rows(cors_plane.engine, feedback))
    with public_client(cors_plane) as http:
        preflight = http.options(
            "/ingest/feedback",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert preflight.status_code == 403
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.json()["error"]["field"] == "Origin"
        odd_header = http.options(
            "/ingest/feedback",
            headers={"origin": APP, "access-control-request-headers": "x-secret"},
        )
        assert odd_header.status_code == 403
        # A simple request (no preflight, as sendBeacon sends) is refused and not stored.
        sent = http.post(
            "/ingest/feedback",
            content=b'{"rating": "up", "key": "%s"}' % INGEST_KEY.encode(),
            headers={"origin": "https://evil.example", "content-type": "text/plain"},
        )
        assert sent.status_code == 403
    assert len(rows(cors_plane.engine, feedback)) == before


def test_answers_and_errors_carry_cors_headers(cors_plane: ControlPlane) -> None:
    with public_client(cors_plane) as http:
        ok = http.post("/ingest/feedback", json={"rating": "up"}, headers={**KEY, "origin": APP})
        bad = http.post("/ingest/feedback", json={"rating": 9}, headers={**KEY, "origin": APP})
        backend = http.post("/ingest/feedback", json={"rating": "up"}, headers=KEY)
        other_host = cors_plane.url.replace("127.0.0.1", "localhost")
        same = http.post("/ingest/feedback", json={"rating": "up"},
                         headers={**KEY, "origin": cors_plane.url})  # fmt: skip
        elsewhere = http.post("/ingest/feedback", json={"rating": "up"},
                              headers={**KEY, "origin": other_host})  # fmt: skip
    assert (ok.status_code, ok.headers["access-control-allow-origin"]) == (201, APP)
    # A browser can only read why it failed when the error has the header too.
    assert (bad.status_code, bad.headers["access-control-allow-origin"]) == (400, APP)
    assert backend.status_code == 201 and "access-control-allow-origin" not in backend.headers
    # prodloop's own pages are the same origin: no allowlist entry needed.
    assert same.status_code == 201 and "access-control-allow-origin" not in same.headers
    assert elsewhere.status_code == 403


def test_any_origin_when_configured(tmp_path: Path) -> None:
    yaml = 'feedback:\n  public:\n    allowed_origins: ["*"]\n'
    with running_control_plane(tmp_path, control_yaml=yaml) as plane, public_client(plane) as http:
        response = http.post(
            "/ingest/events", json=[EVENT], headers={**KEY, "origin": "https://any.example"}
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://any.example"


def test_body_size_limits(cors_plane: ControlPlane) -> None:
    big = b'{"comment": "' + b"x" * 3000 + b'"}'
    # A small gzip body that inflates past the limit is caught while inflating.
    bomb = gzip.compress(b'{"comment": "' + b"x" * 1_000_000 + b'"}')
    assert len(bomb) < 2000
    with public_client(cors_plane) as http:
        plain = http.post("/ingest/feedback", content=big, headers=KEY)
        zipped = http.post(
            "/ingest/feedback", content=bomb, headers={**KEY, "content-encoding": "gzip"}
        )
        posthog = http.post("/e/", content=bomb, params={"compression": "gzip-js"})
    assert [r.status_code for r in (plain, zipped, posthog)] == [413, 413, 413]
    assert plain.json()["error"]["field"] == "body"


def test_per_ip_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    clock = ManualClock()
    yaml = "feedback:\n  public:\n    per_ip_limit: {requests_per_s: 1, burst: 2}\n"
    with (
        running_control_plane(tmp_path, control_yaml=yaml, clock=clock) as plane,
        public_client(plane) as http,
    ):
        codes = [http.post("/ingest/events", json=[EVENT], headers=KEY).status_code
                 for _ in range(3)]  # fmt: skip
        assert codes == [200, 200, 429]
        limited = http.post("/ingest/events", json=[EVENT], headers=KEY)
        assert limited.headers["retry-after"] == "1"
        assert "per_ip_limit" in limited.json()["error"]["message"]
        # Even without a key: abuse is turned away before anything else is done.
        assert http.post("/ingest/feedback", json={}).status_code == 429
        # Another client address has its own bucket (this test server is uvicorn with its
        # defaults, which takes the client address from X-Forwarded-For sent by loopback).
        other = {**KEY, "x-forwarded-for": "203.0.113.7"}
        assert http.post("/ingest/events", json=[EVENT], headers=other).status_code == 200
        clock.advance(1.0)
        assert http.post("/ingest/events", json=[EVENT], headers=KEY).status_code == 200
    assert len(rows(plane.engine, analytics_events)) == 4


def test_per_key_limit(tmp_path: Path) -> None:
    clock = ManualClock()
    yaml = """  ingest_limit: {requests_per_s: 1, burst: 2}
feedback:
  public:
    per_ip_limit: {requests_per_s: 0}
"""
    with (
        running_control_plane(tmp_path, control_yaml=yaml, clock=clock) as plane,
        public_client(plane) as http,
    ):
        codes = [
            http.post("/ingest/feedback", json={"rating": "up"}, headers=KEY).status_code,
            http.post("/batch/", json={"api_key": INGEST_KEY, "batch": [EVENT]}).status_code,
            http.post("/2/httpapi", json={"api_key": INGEST_KEY, "events": []}).status_code,
        ]
        assert codes == [201, 200, 429]
        limited = http.post("/2/httpapi", json={"api_key": INGEST_KEY, "events": []})
        assert limited.json()["code"] == 429 and limited.headers["retry-after"] == "1"
        assert "ingest_limit" in limited.json()["error"]
        clock.advance(1.0)
        assert http.post("/ingest/events", json=[EVENT], headers=KEY).status_code == 200
