"""/login and /logout. An unknown user and a wrong password get the same answer; attempts
are rate limited per client address and per user name."""

from __future__ import annotations

import math
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from prodloop.web.dashboard.auth import (
    SESSION_COOKIE,
    Control,
    dashboard_state,
    optional_user,
    session_id,
    set_session_cookie,
)
from prodloop.web.dashboard.csrf import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    CsrfError,
    check_login_csrf,
    new_login_token,
    verify_csrf,
)
from prodloop.web.dashboard.sessions import create_session, end_session
from prodloop.web.dashboard.templating import render
from prodloop.web.dashboard.users import MAX_PASSWORD_LEN, User, authenticate

router = APIRouter(include_in_schema=False)

WRONG_CREDENTIALS = "Wrong user name or password."


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another origin."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _login_page(
    request: Request,
    *,
    status_code: int = 200,
    message: str = "",
    name: str = "",
    errors: dict[str, str] | None = None,
    next_path: str = "/",
) -> Response:
    token = new_login_token()
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "message": message,
            "name": name,
            "errors": errors or {},
            "next": next_path,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/login",
    )
    return response


@router.get("/login")
async def login_form(
    request: Request, user: Annotated[User | None, Depends(optional_user)], next: str = "/"
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login")
async def login(request: Request, control: Control) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or "/"))
    try:
        check_login_csrf(request, form.get(CSRF_FIELD))
    except CsrfError as exc:
        return _login_page(
            request, status_code=403, message=exc.message, name=name, next_path=next_path
        )
    errors = {}
    if not name:
        errors["name"] = "Enter your user name."
    elif len(name) > 128:
        errors["name"] = "A user name has at most 128 characters."
    if not password:
        errors["password"] = "Enter your password."
    elif len(password) > MAX_PASSWORD_LEN:
        errors["password"] = f"A password has at most {MAX_PASSWORD_LEN} characters."
    if errors:
        return _login_page(request, status_code=422, name=name, errors=errors, next_path=next_path)
    limits = dashboard_state(request)
    now = control.clock.now()
    wait_s = max(
        limits.login_by_address.acquire(client_address(request), now),
        limits.login_by_name.acquire(name.lower(), now),
    )
    if wait_s > 0:
        response = _login_page(
            request,
            status_code=429,
            message=f"Too many attempts. Try again in {math.ceil(wait_s)} s.",
            name=name,
            next_path=next_path,
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
        return response
    user = await anyio.to_thread.run_sync(lambda: authenticate(control.engine, name, password))
    if user is None:
        return _login_page(
            request, status_code=401, message=WRONG_CREDENTIALS, name=name, next_path=next_path
        )
    new_session = await anyio.to_thread.run_sync(
        lambda: create_session(control.engine, user, now=now)
    )
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, new_session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
async def logout(request: Request, control: Control) -> Response:
    sid = session_id(request)
    if sid is not None:
        await anyio.to_thread.run_sync(lambda: end_session(control.engine, sid))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
