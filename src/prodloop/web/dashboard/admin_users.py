"""/admin/users: admins add users, change roles and remove users (as `prodloop users` does)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from prodloop.errors import ProdloopError
from prodloop.web.dashboard.auth import Control, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.users import (
    ROLES,
    User,
    add_user,
    check_name,
    check_password,
    check_role,
    count_admins,
    list_users,
    remove_user,
    set_role,
)

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Users", "/admin/users", order=95, role="admin"))
Admin = Annotated[User, Depends(require_role("admin"))]


def _page(
    request: Request,
    control: Control,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    message: str = "",
) -> Response:
    return render(
        request,
        "admin_users.html",
        {
            "users": list_users(control.engine),
            "roles": ROLES,
            "errors": errors or {},
            "form": form or {"name": "", "role": "viewer"},
            "message": message,
        },
        status_code=status_code,
    )


@router.get("/admin/users")
def users_page(request: Request, _admin: Admin, control: Control) -> Response:
    return _page(request, control)


@router.post("/admin/users", dependencies=[Depends(verify_csrf)])
async def post_user(request: Request, _admin: Admin, control: Control) -> Response:
    data = await request.form()
    form = {name: str(data.get(name) or "") for name in ("name", "role", "password")}
    errors: dict[str, str] = {}
    for field, check in (("name", check_name), ("role", check_role), ("password", check_password)):
        try:
            check(form[field])
        except ProdloopError as exc:
            errors[field] = exc.message
    if not errors:
        try:
            add_user(
                control.engine, form["name"], form["password"], form["role"],
                now=control.clock.now(),
            )  # fmt: skip
        except ProdloopError as exc:
            errors[exc.field or "name"] = exc.message
    del form["password"]  # never sent back to the browser
    if errors:
        return _page(request, control, status_code=422, errors=errors, form=form)
    return RedirectResponse("/admin/users", status_code=303)


def _refuse_last_admin(control: Control, user_name: str, new_role: str | None) -> str | None:
    """Why a change would leave nobody able to manage users, or None."""
    users = {u.name: u for u in list_users(control.engine)}
    target = users.get(user_name)
    if target is None or target.role != "admin" or new_role == "admin":
        return None
    if count_admins(control.engine) <= 1:
        return f"{user_name} is the last admin: make someone else admin first"
    return None


@router.post("/admin/users/{name}/role", dependencies=[Depends(verify_csrf)])
async def post_role(request: Request, _admin: Admin, control: Control, name: str) -> Response:
    role = str((await request.form()).get("role") or "")
    try:
        check_role(role)
        refused = _refuse_last_admin(control, name, role)
        if refused:
            return _page(request, control, status_code=409, message=refused)
        set_role(control.engine, name, role, now=control.clock.now())
    except ProdloopError as exc:
        return _page(request, control, status_code=exc.status_code, message=exc.message)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{name}/remove", dependencies=[Depends(verify_csrf)])
def post_remove(request: Request, _admin: Admin, control: Control, name: str) -> Response:
    refused = _refuse_last_admin(control, name, None)
    if refused:
        return _page(request, control, status_code=409, message=refused)
    try:
        remove_user(control.engine, name)
    except ProdloopError as exc:
        return _page(request, control, status_code=exc.status_code, message=exc.message)
    return RedirectResponse("/admin/users", status_code=303)
