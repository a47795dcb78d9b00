"""Logging in and out, sessions, roles, CSRF and the login rate limit, over HTTP."""

from __future__ import annotations

from sqlalchemy import select

from prodloop.store.schema import service_versions, user_sessions
from prodloop.web.dashboard.login import WRONG_CREDENTIALS
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import PASSWORD, csrf_of, login


def test_pages_redirect_to_login_until_logged_in(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    response = http.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    response = http.get("/services/chat?range=6h")
    assert response.headers["location"] == "/login?next=%2Fservices%2Fchat%3Frange%3D6h"
    assert http.get("/dashboard/data/charts").status_code == 401
    htmx = http.get("/dashboard/partials/slo-cards", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login?next=%2Fdashboard%2Fpartials%2Fslo-cards"


def test_public_routes_stay_outside_the_login(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    assert http.get("/status").status_code == 200
    assert http.get("/healthz").status_code == 200
    assert http.get("/api/v1/slos").status_code == 401  # its own token auth, unchanged


def test_login_sets_a_safe_session_cookie_and_stores_only_its_hash(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    response = login(http, "otto")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("prodloop_session=")
    )
    session_id = cookie.split(";")[0].split("=", 1)[1]
    attributes = cookie.lower()
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # plain HTTP here
    with dashboard.engine.connect() as conn:
        stored = conn.execute(select(user_sessions.c.id_hash)).scalars().all()
    assert session_id not in stored and len(stored) == 1 and len(stored[0]) == 64
    page = http.get("/")
    assert page.status_code == 200
    assert "otto · operator" in page.text


def test_session_cookie_is_secure_over_https(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    http.base_url = "https://testserver"
    response = login(http, "otto")
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("prodloop_session=")
    )
    assert "secure" in cookie.lower()


def test_unknown_user_and_wrong_password_get_the_same_answer(dashboard: Dashboard) -> None:
    wrong_password = login(dashboard.new_client(), "otto", "not the password")
    unknown_user = login(dashboard.new_client(), "nobody", PASSWORD)
    assert wrong_password.status_code == unknown_user.status_code == 401
    for response in (wrong_password, unknown_user):
        assert WRONG_CREDENTIALS in response.text
        assert "prodloop_session=" not in response.headers.get("set-cookie", "")


def test_empty_fields_are_named_beside_the_field(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    token = csrf_of(http.get("/login").text)
    response = http.post("/login", data={"name": "", "password": "", "csrf_token": token})
    assert response.status_code == 422
    assert 'id="name-error">Enter your user name.' in response.text
    assert 'id="password-error">Enter your password.' in response.text


def test_login_without_its_csrf_cookie_is_refused(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    response = http.post("/login", data={"name": "otto", "password": PASSWORD, "csrf_token": "x"})
    assert response.status_code == 403
    assert "prodloop_session=" not in response.headers.get("set-cookie", "")


def test_next_only_leads_to_this_site(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    page = http.get("/login?next=//evil.example/x")
    token = csrf_of(page.text)
    response = http.post(
        "/login",
        data={"name": "otto", "password": PASSWORD, "csrf_token": token, "next": "//evil.example"},
    )
    assert response.headers["location"] == "/"


def test_logout_needs_the_csrf_token_and_ends_the_session(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "vera")
    assert http.post("/logout").status_code == 403
    assert http.get("/").status_code == 200  # still logged in
    token = csrf_of(http.get("/").text)
    response = http.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    with dashboard.engine.connect() as conn:
        assert conn.execute(select(user_sessions)).all() == []
    assert http.get("/").status_code == 303


def _weights(dashboard: Dashboard) -> list[tuple[str, str, float]]:
    with dashboard.engine.connect() as conn:
        rows = conn.execute(
            select(
                service_versions.c.service, service_versions.c.version, service_versions.c.weight
            )
        ).all()
    return sorted(tuple(row) for row in rows)


def test_a_viewer_is_refused_an_operator_action(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "vera")
    page = http.get("/services/chat")
    assert "Roll back" not in page.text  # not offered...
    before = _weights(dashboard)
    response = http.post("/services/chat/rollback", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 403  # ...and refused when asked for anyway
    assert "needs the operator role" in response.text
    assert _weights(dashboard) == before


def test_an_operator_action_needs_the_csrf_token(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "otto")
    page = http.get("/services/chat")
    assert "Roll back" in page.text
    refused = http.post("/services/chat/rollback", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    # With the token the operator gets through; chat has no live deployment to roll back
    # from, so the action fails with a message and changes nothing.
    before = _weights(dashboard)
    response = http.post(
        "/services/chat/rollback",
        data={"csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 409
    assert "has no deployment to roll back from" in response.text
    assert _weights(dashboard) == before


def test_htmx_requests_send_the_csrf_token_as_a_header(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "otto")
    token = csrf_of(http.get("/").text)
    assert f'hx-headers=\'{{"x-csrf-token": "{token}"}}\'' in http.get("/").text
    response = http.post(
        "/services/chat/rollback", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert response.status_code == 409


def test_login_is_rate_limited_per_address_and_per_name(dashboard: Dashboard) -> None:
    http = dashboard.new_client("10.0.0.1")
    for _ in range(5):
        assert login(http, "otto", "wrong password!").status_code == 401
    limited = login(http, "otto", PASSWORD)  # the right password does not skip the limit
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "12"
    assert "Too many attempts" in limited.text
    # The same name from another address is limited too...
    assert login(dashboard.new_client("10.0.0.2"), "otto", PASSWORD).status_code == 429
    # ...while another name from another address is not.
    assert login(dashboard.new_client("10.0.0.3"), "vera").status_code == 303
    dashboard.clock.advance(12)
    assert login(http, "otto", PASSWORD).status_code == 303


def test_pages_send_a_strict_content_security_policy(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    responses = [http.get("/login")]
    login(http, "vera")
    responses += [http.get(path) for path in ("/", "/services/chat", "/account")]
    for response in responses:
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "<script>" not in response.text  # every script is a file
        assert response.headers["x-frame-options"] == "DENY"
