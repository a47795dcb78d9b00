"""/admin/users: only admins; fields validated beside the field; the last admin stays."""

from __future__ import annotations

from prodloop.web.dashboard.users import list_users
from tests.web.dashboard.conftest import Dashboard
from tests.web.dashboard.support import PASSWORD, csrf_of, login


def _users(dashboard: Dashboard) -> list[tuple[str, str]]:
    return [(u.name, u.role) for u in list_users(dashboard.engine)]


def test_only_admins_manage_users(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "otto")
    page = http.get("/")
    assert 'href="/admin/users"' not in page.text
    assert http.get("/admin/users").status_code == 403
    refused = http.post(
        "/admin/users",
        data={"csrf_token": csrf_of(page.text), "name": "eve", "role": "admin",
              "password": PASSWORD},
    )  # fmt: skip
    assert refused.status_code == 403
    assert ("eve", "admin") not in _users(dashboard)


def test_adding_a_user_validates_each_field(dashboard: Dashboard) -> None:
    http = dashboard.new_client()
    login(http, "ada")
    page = http.get("/admin/users")
    assert page.status_code == 200 and 'href="/admin/users"' in page.text
    token = csrf_of(page.text)
    before = _users(dashboard)
    bad = http.post(
        "/admin/users",
        data={"csrf_token": token, "name": "<b>x</b>", "role": "root", "password": "short"},
    )
    assert bad.status_code == 422
    assert 'id="user-name-error">a user name is 1-128 letters' in bad.text
    assert 'id="user-role-error">unknown role &#39;root&#39;' in bad.text
    assert 'id="user-password-error">a password needs at least 10 characters' in bad.text
    assert 'value="&lt;b&gt;x&lt;/b&gt;"' in bad.text  # the name is kept, escaped
    assert "short" not in bad.text.split("Add a user")[1]  # the password is not sent back
    taken = http.post(
        "/admin/users",
        data={"csrf_token": token, "name": "otto", "role": "viewer", "password": PASSWORD},
    )
    assert taken.status_code == 422 and "user &#39;otto&#39; already exists" in taken.text
    assert _users(dashboard) == before
    added = http.post(
        "/admin/users",
        data={"csrf_token": token, "name": "eve", "role": "operator", "password": PASSWORD},
    )
    assert added.status_code == 303
    assert ("eve", "operator") in _users(dashboard)
    assert login(dashboard.new_client("10.1.1.1"), "eve").status_code == 303


def test_roles_change_at_once_and_the_last_admin_stays(dashboard: Dashboard) -> None:
    admin = dashboard.new_client()
    login(admin, "ada")
    token = csrf_of(admin.get("/admin/users").text)
    viewer = dashboard.new_client("10.1.1.2")
    login(viewer, "vera")
    assert viewer.get("/admin/users").status_code == 403
    promoted = admin.post("/admin/users/vera/role", data={"csrf_token": token, "role": "admin"})
    assert promoted.status_code == 303
    assert viewer.get("/admin/users").status_code == 200  # the same session, the new role
    assert admin.post("/admin/users/vera/remove", data={"csrf_token": token}).status_code == 303
    assert viewer.get("/").status_code == 303  # removed: the session is gone
    last = admin.post("/admin/users/ada/role", data={"csrf_token": token, "role": "viewer"})
    assert last.status_code == 409 and "last admin" in last.text
    gone = admin.post("/admin/users/ada/remove", data={"csrf_token": token})
    assert gone.status_code == 409
    assert ("ada", "admin") in _users(dashboard)
    unknown = admin.post("/admin/users/nobody/role", data={"csrf_token": token, "role": "viewer"})
    assert unknown.status_code == 404
