"""Bearer tokens: API tokens read and write; ingest keys only write.

Besides the config's tokens (full rights), a dashboard user's own API token (`plt_…`) is
accepted with that user's role: a viewer reads, an operator also acts (ack, silence,
roll back, rollout actions, incident steps, feedback triage, a status page component's
state, experiments, launch sign-offs), an admin does everything else too (deploys,
weights, flags, faults, maintenance, declaring GA).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from prodloop.api.errors import ForbiddenError
from prodloop.config import ControlConfig
from prodloop.errors import AuthError
from prodloop.web.dashboard.tokens import TOKEN_PREFIX, token_user
from prodloop.web.dashboard.users import role_allows

INGEST_KEY_HEADER = "x-prodloop-key"

# auto_error=False: a missing token is answered by prodloop's own 401, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="an API token (control.api_tokens)")
_ingest_header = APIKeyHeader(
    name=INGEST_KEY_HEADER, auto_error=False, description="an ingest key (control.ingest_keys)"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the config entry of their token, and whether they may read."""

    name: str  # e.g. "control.ingest_keys[0]" or a user's name; never the secret itself
    can_read: bool
    role: str = "admin"  # config tokens have every right; a user's token has the user's


class Keys:
    """The control plane's tokens, resolved from their environment references."""

    def __init__(self, control: ControlConfig) -> None:
        self._entries: list[tuple[bytes, Principal]] = []
        for i, ref in enumerate(control.api_tokens):
            if value := ref.get():
                self._entries.append((value.encode(), Principal(f"control.api_tokens[{i}]", True)))
        for i, ref in enumerate(control.ingest_keys):
            if value := ref.get():
                principal = Principal(f"control.ingest_keys[{i}]", False)
                self._entries.append((value.encode(), principal))

    @property
    def has_api_tokens(self) -> bool:
        return any(principal.can_read for _, principal in self._entries)

    def identify(self, secret: str) -> Principal | None:
        """The principal a secret belongs to; every entry is compared, in constant time."""
        given = secret.encode()
        found: Principal | None = None
        for value, principal in self._entries:
            if hmac.compare_digest(value, given) and found is None:
                found = principal
        return found


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_reader(keys: Keys, token: str | None) -> Principal:
    """An API token, or AuthError (401) / ForbiddenError (403)."""
    if token is None:
        if not keys.has_api_tokens:
            raise AuthError(
                "no API token is configured: add one to control.api_tokens", field="Authorization"
            )
        raise AuthError(
            "send an API token as 'Authorization: Bearer <token>'", field="Authorization"
        )
    principal = keys.identify(token)
    if principal is None:
        raise AuthError("the token is not valid", field="Authorization")
    if not principal.can_read:
        raise ForbiddenError("ingest keys are write-only; reading needs an API token")
    return principal


def authenticate_writer(keys: Keys, request: Request) -> Principal:
    """An ingest key or API token, from 'Authorization: Bearer' or x-prodloop-key."""
    token = bearer_token(request) or request.headers.get(INGEST_KEY_HEADER) or None
    if token is None:
        raise AuthError(
            f"send an ingest key as 'Authorization: Bearer <key>' or '{INGEST_KEY_HEADER}'",
            field="Authorization",
        )
    principal = keys.identify(token)
    if principal is None:
        raise AuthError("the key is not valid", field="Authorization")
    return principal


def _keys(request: Request) -> Keys:
    keys: Keys = request.app.state.control.keys
    return keys


# Writes a user's token may make with the operator role; every other write needs admin.
_OPERATOR_WRITES = re.compile(
    r"/api/v1/(alerts/[^/]+/ack|silences(/[^/]+)?|incidents/[^/]+/[a-z_-]+"
    r"|rollouts/[^/]+/[a-z_-]+|services/[^/]+/rollback|feedback(/.*)?"
    r"|status/components/[^/]+|experiments(/[^/]+/conclude)?|launch/signoffs)"
)
# POSTs that only read (OpenFeature evaluation).
_READING_POSTS = re.compile(r"/ofrep/v1/evaluate/flags(/[^/]+)?")


def role_needed(method: str, path: str) -> str:
    """The least role a user's token needs for a request to /api/v1 (or OFREP)."""
    if method in ("GET", "HEAD", "OPTIONS") or _READING_POSTS.fullmatch(path):
        return "viewer"
    if _OPERATOR_WRITES.fullmatch(path):
        return "operator"
    return "admin"


async def _user_principal(request: Request, token: str) -> Principal | None:
    control = request.app.state.control
    user = await anyio.to_thread.run_sync(
        lambda: token_user(control.engine, token, now=control.clock.now())
    )
    if user is None:
        return None
    needed = role_needed(request.method, request.url.path)
    if not role_allows(user.role, needed):
        raise ForbiddenError(f"the {user.role} role cannot do this; it needs {needed}")
    return Principal(user.name, True, user.role)


async def require_reader(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Dependency of every /api/v1 route: a config API token, or a user's token and role."""
    token = bearer_token(request)
    keys = _keys(request)
    if token is not None and token.startswith(TOKEN_PREFIX) and keys.identify(token) is None:
        principal = await _user_principal(request, token)
        if principal is not None:
            return principal
    return authenticate_reader(keys, token)


async def require_writer(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _ingest_key: Annotated[str | None, Depends(_ingest_header)],
) -> Principal:
    """Dependency of the ingest routes."""
    return authenticate_writer(_keys(request), request)
