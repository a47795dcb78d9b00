"""CSRF tokens: every form carries one, and htmx sends it as a header.

A logged-in browser's token is an HMAC of its session id, so it needs no storage and
changes with every login. The login form, before any session exists, uses a double-submit
cookie instead: a random value both in a cookie and in the form, which another site can
neither read nor set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from prodloop.errors import ProdloopError
from prodloop.web.dashboard.auth import session_id

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_CSRF_COOKIE = "prodloop_login_csrf"


class CsrfError(ProdloopError):
    status_code = 403


def csrf_token(request: Request) -> str:
    """The token forms of this session must send back ("" without a session)."""
    sid = session_id(request)
    if sid is None:
        return ""
    return hmac.new(sid.encode(), b"prodloop-csrf", hashlib.sha256).hexdigest()


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


async def verify_csrf(request: Request) -> None:
    """Dependency of every dashboard POST: the session's token, from a header or the form."""
    expected = csrf_token(request)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfError("the form has expired or did not come from this site: reload the page")


def check_login_csrf(request: Request, form_value: object) -> None:
    """The login form's double-submit check."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = form_value if isinstance(form_value, str) else ""
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfError("the login form has expired: reload the page and try again")
