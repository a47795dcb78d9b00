"""Puts the dashboard on the control plane: its pages, static files and error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from prodloop.errors import ProdloopError
from prodloop.web.dashboard import (
    account,
    admin_users,
    alerts_page,
    analytics_page,
    docs_page,
    feedback_page,
    flags_page,
    incidents_page,
    login,
    overview,
    releases_page,
    service,
)
from prodloop.web.dashboard.auth import (
    LoginRequired,
    RoleRequired,
    login_url,
    new_dashboard_state,
)
from prodloop.web.dashboard.csrf import CsrfError
from prodloop.web.dashboard.templating import STATIC_PREFIX, render

# Every page module has a `router`; a new page is a module added here.
PAGE_MODULES = (
    login,
    overview,
    service,
    releases_page,
    flags_page,
    alerts_page,
    incidents_page,
    feedback_page,
    analytics_page,
    docs_page,
    account,
    admin_users,
)
DATA_PREFIX = "/dashboard/data/"


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = login_url(request)
    if request.url.path.startswith(DATA_PREFIX):
        return JSONResponse({"error": {"message": exc.message, "field": None}}, status_code=401)
    if _is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if request.method != "GET":
        return render(
            request, "error.html", {"title": "Log in", "message": exc.message}, status_code=401
        )
    return RedirectResponse(target, status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProdloopError)
    if request.url.path.startswith(DATA_PREFIX):
        return JSONResponse(
            {"error": {"message": exc.message, "field": None}}, status_code=exc.status_code
        )
    if _is_htmx(request):
        return render(
            request,
            "_message.html",
            {"ok": False, "message": exc.message},
            status_code=exc.status_code,
        )
    return render(
        request,
        "error.html",
        {"title": "Not allowed", "message": exc.message},
        status_code=exc.status_code,
    )


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at / on `app` (whose state already holds the ControlState)."""
    app.state.dashboard = new_dashboard_state()
    for module in PAGE_MODULES:
        app.include_router(module.router)
    app.mount(
        STATIC_PREFIX,
        StaticFiles(directory=Path(__file__).with_name("static")),
        name="dashboard-static",
    )
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RoleRequired, _refused)
    app.add_exception_handler(CsrfError, _refused)
