"""Who is looking at the dashboard: the session cookie, role checks, login rate limits.

Pages take `CurrentUser` (any logged-in user) or `Depends(require_role("operator"))`;
without a session a page answers with a redirect to /login (an htmx request gets an
``HX-Redirect`` instead, so the whole page goes there, not a fragment).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import Depends, Request, Response

from prodloop.api.state import ControlState, get_state
from prodloop.errors import ProdloopError
from prodloop.ratelimit import TokenBucketLimiter
from prodloop.web.dashboard.sessions import SESSION_MAX_AGE_S, session_user
from prodloop.web.dashboard.users import ROLES, User

SESSION_COOKIE = "prodloop_session"
# Five tries, then one every 12 seconds: per client address and, separately, per user
# name, so that neither one address nor many addresses can guess a password quickly.
LOGIN_RATE_PER_S = 1 / 12
LOGIN_BURST = 5


class LoginRequired(ProdloopError):
    """No live session: pages redirect to /login."""

    status_code = 401


class RoleRequired(ProdloopError):
    """Logged in, but the role is too low for this."""

    status_code = 403


@dataclass(frozen=True, slots=True)
class DashboardState:
    """What the dashboard keeps in memory beside the control state."""

    login_by_address: TokenBucketLimiter
    login_by_name: TokenBucketLimiter


def new_dashboard_state() -> DashboardState:
    return DashboardState(
        login_by_address=TokenBucketLimiter(LOGIN_RATE_PER_S, LOGIN_BURST),
        login_by_name=TokenBucketLimiter(LOGIN_RATE_PER_S, LOGIN_BURST),
    )


def dashboard_state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state


def session_id(request: Request) -> str | None:
    value = request.cookies.get(SESSION_COOKIE, "")
    return value if 20 <= len(value) <= 100 else None


async def optional_user(request: Request) -> User | None:
    """The logged-in user, or None; looked up once per request."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    sid = session_id(request)
    user = None
    if sid is not None:
        control = get_state(request)
        user = await anyio.to_thread.run_sync(
            lambda: session_user(control.engine, sid, now=control.clock.now())
        )
    request.state.user = user
    return user


async def current_user(request: Request) -> User:
    """Dependency of every dashboard page and data endpoint."""
    user = await optional_user(request)
    if user is None:
        raise LoginRequired("log in to see the dashboard")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
Control = Annotated[ControlState, Depends(get_state)]


def require_role(role: str) -> Callable[[Request], Awaitable[User]]:
    """A dependency that lets through users holding `role` or a higher one."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(request: Request) -> User:
        user = await current_user(request)
        if not user.can(role):
            raise RoleRequired(f"this needs the {role} role; you are {user.role}")
        return user

    return dependency


def login_url(request: Request) -> str:
    """/login, remembering the page asked for (a path on this site only)."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return "/login" if target == "/" else "/login?next=" + quote(target, safe="")


def cookie_is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure when the request came over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_MAX_AGE_S),
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
        path="/",
    )
