"""Users, sessions, tokens and chart data on both engines (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from prodloop.errors import NotFoundError, ValidationError
from prodloop.store import connect
from prodloop.web.dashboard.charts import chart_data
from prodloop.web.dashboard.sessions import (
    SESSION_LIFETIME_S,
    SESSION_MAX_AGE_S,
    create_session,
    end_session,
    session_user,
)
from prodloop.web.dashboard.tokens import create_token, list_tokens, revoke_token, token_user
from prodloop.web.dashboard.users import add_user, authenticate, set_password
from tests.web.dashboard.support import NOW, PASSWORD, seed


def test_users_sessions_and_tokens(store_url: str) -> None:
    engine = connect(store_url)
    try:
        ada = add_user(engine, "ada", PASSWORD, "admin", now=NOW)
        with pytest.raises(ValidationError, match="already exists"):
            add_user(engine, "ada", PASSWORD, "viewer", now=NOW)
        assert authenticate(engine, "ada", PASSWORD) == ada
        assert authenticate(engine, "ada", PASSWORD + "x") is None
        assert authenticate(engine, "nobody", PASSWORD) is None

        session = create_session(engine, ada, now=NOW)
        assert session_user(engine, session, now=NOW + 10) == ada
        # Idle sessions end; busy ones are kept alive, but not past their maximum age.
        assert session_user(engine, session, now=NOW + SESSION_LIFETIME_S + 1) is None
        busy = create_session(engine, ada, now=NOW)
        at = NOW
        while at + 3600 < NOW + SESSION_MAX_AGE_S:
            at += 3600
            assert session_user(engine, busy, now=at) == ada
        assert session_user(engine, busy, now=NOW + SESSION_MAX_AGE_S) is None
        third = create_session(engine, ada, now=NOW)
        end_session(engine, third)
        assert session_user(engine, third, now=NOW) is None
        fourth = create_session(engine, ada, now=NOW)
        set_password(engine, "ada", "another long password", now=NOW)
        assert session_user(engine, fourth, now=NOW) is None

        token, info = create_token(engine, "ada", label="ci", now=NOW)
        assert token_user(engine, token, now=NOW) == ada
        assert token_user(engine, token + "x", now=NOW) is None
        assert [t.last_used_at for t in list_tokens(engine)] == [NOW]
        revoked = revoke_token(engine, info.id, now=NOW + 5)
        assert revoked.revoked_at == NOW + 5
        assert token_user(engine, token, now=NOW + 6) is None
        with pytest.raises(NotFoundError):
            revoke_token(engine, info.id + 1, now=NOW)
    finally:
        engine.dispose()


def test_chart_data(store_url: str) -> None:
    engine = connect(store_url)
    try:
        seed(engine)
        data = chart_data(engine, "1h", NOW, service="chat")
        assert data.series == ["v1", "v2"] and data.step_s == 60 and len(data.times) == 60
        counts = data.values["guardrail_triggers"][0]
        assert counts[-1] is None and set(counts[:-1]) == {1.0}  # one "pii" a minute on v1
        everything = chart_data(engine, "30d", NOW)
        assert everything.series == ["v1", "v2"]
        assert [m.kind for m in everything.markers] == ["deploy", "flag"]
    finally:
        engine.dispose()
