"""A user's API tokens: made on /account (shown once), used on /api/v1 with the user's role,
revoked; only their hash is stored."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from prodloop.store.schema import user_tokens
from prodloop.web.dashboard.tokens import create_token
from tests.api.support import API_TOKEN
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import NOW, csrf_of, login


def _token_for(dashboard: Dashboard, name: str) -> str:
    token, _ = create_token(dashboard.engine, name, label="test", now=NOW)
    return token


def _api(dashboard: Dashboard, token: str) -> TestClient:
    return TestClient(dashboard.client.app, headers={"authorization": f"Bearer {token}"})


def test_a_token_is_shown_once_and_stored_as_a_hash(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "vera")
    page = http.get("/account")
    refused = http.post("/account/tokens", data={"csrf_token": csrf_of(page.text), "name": ""})
    assert refused.status_code == 422
    assert 'id="token-name-error">Name the token' in refused.text
    created = http.post("/account/tokens", data={"csrf_token": csrf_of(page.text), "name": "ci"})
    assert created.status_code == 201
    token = re.search(r'<code class="token">(plt_[\w-]+)</code>', created.text)
    assert token is not None
    secret = token.group(1)
    again = http.get("/account").text
    assert secret not in again
    assert secret[:12] + "…" in again
    with dashboard.engine.connect() as conn:
        stored = conn.execute(select(user_tokens)).mappings().one()
    assert secret not in {str(v) for v in stored.values()}
    assert len(stored["token_hash"]) == 64
    assert _api(dashboard, secret).get("/api/v1/slos").status_code == 200


def test_tokens_act_with_their_users_role(dashboard: Dashboard) -> None:
    viewer = _api(dashboard, _token_for(dashboard, "vera"))
    operator = _api(dashboard, _token_for(dashboard, "otto"))
    admin = _api(dashboard, _token_for(dashboard, "ada"))
    for client in (viewer, operator, admin):
        assert client.get("/api/v1/slos").status_code == 200
    refused = viewer.post("/api/v1/services/chat/rollback")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "the viewer role cannot do this; it needs operator"
    # An operator may roll back (chat has nothing to roll back from: 409, not 403)...
    assert operator.post("/api/v1/services/chat/rollback").status_code == 409
    # ...but not change runtime faults, which is an admin's.
    assert operator.delete("/api/v1/faults").status_code == 403
    assert admin.delete("/api/v1/faults").status_code == 200
    # OpenFeature evaluation is a POST that only reads.
    assert viewer.post("/ofrep/v1/evaluate/flags", json={"context": {}}).status_code != 403


def test_config_tokens_keep_full_rights(dashboard: Dashboard) -> None:
    config_token = _api(dashboard, API_TOKEN)
    assert config_token.delete("/api/v1/faults").status_code == 200
    assert _api(dashboard, "plt_not-a-token").get("/api/v1/slos").status_code == 401


def test_a_revoked_token_stops_working(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "otto")
    token, info = create_token(dashboard.engine, "otto", label="laptop", now=NOW)
    api = _api(dashboard, token)
    assert api.get("/api/v1/slos").status_code == 200
    page = http.get("/account").text
    # Another user's token id is not found among mine.
    other, other_info = create_token(dashboard.engine, "vera", label="x", now=NOW)
    csrf = csrf_of(page)
    missing = http.post(f"/account/tokens/{other_info.id}/revoke", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert _api(dashboard, other).get("/api/v1/slos").status_code == 200
    revoked = http.post(f"/account/tokens/{info.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert api.get("/api/v1/slos").status_code == 401
    assert "revoked" in http.get("/account").text
