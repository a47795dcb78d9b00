"""Rendering dashboard pages: one Jinja environment (autoescaped), the navigation, and the
security headers every page gets (a strict CSP: no inline script or style anywhere)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from prodloop.web.dashboard.csrf import CSRF_FIELD, CSRF_HEADER, csrf_token
from prodloop.web.dashboard.users import User, role_allows

STATIC_PREFIX = "/dashboard/static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the dashboard's header, shown to users holding `role` or higher."""

    label: str
    href: str
    order: int = 100
    role: str = "viewer"


_NAV: list[NavItem] = []


def register_nav(item: NavItem) -> NavItem:
    """Add a page to the header navigation (idempotent: a re-import adds nothing)."""
    if all(existing.href != item.href for existing in _NAV):
        _NAV.append(item)
        _NAV.sort(key=lambda nav: (nav.order, nav.label))
    return item


def nav_for(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in _NAV if role_allows(user.role, item.role)]


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


env = Environment(
    loader=PackageLoader("prodloop.web.dashboard", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters.update(pct=_pct, ms=_ms, usd=_usd, num=_num, when=_when, clock=_clock)
env.globals.update(static=STATIC_PREFIX, csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page or fragment, with the user, the CSRF token and the navigation in its context."""
    user: User | None = getattr(request.state, "user", None)
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "csrf_token": csrf_token(request),
        "nav": nav_for(user),
        "path": request.url.path,
    }
    values.update(context or {})
    body = env.get_template(template).render(values)
    return HTMLResponse(
        body, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
