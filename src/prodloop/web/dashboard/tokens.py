"""Users' API tokens for /api/v1: shown once, stored as a SHA-256, revocable."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import user_tokens, users
from prodloop.web.dashboard.users import User, digest, get_user

TOKEN_PREFIX = "plt_"  # tells a user's token from a config token without asking the store
_SHOWN_PREFIX_LEN = 12  # "plt_" and 8 characters: enough to tell tokens apart, useless alone
_TOUCH_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is known of a token after it was shown: never the token itself."""

    id: int
    user: str
    name: str
    prefix: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=int(row.id),
        user=row.user_name,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def create_token(
    engine: Engine, user_name: str, *, label: str, now: float
) -> tuple[str, TokenInfo]:
    """A new token for a user: (the token, to show once; what is kept of it)."""
    if len(label) > 128:
        raise ValidationError("a token name has at most 128 characters", field="name")
    user = get_user(engine, user_name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = token[:_SHOWN_PREFIX_LEN]
    with engine.begin() as conn:
        result = conn.execute(
            user_tokens.insert().values(
                user_id=user.id,
                name=label,
                token_hash=digest(token),
                prefix=prefix,
                created_at=now,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        token_id = int(key[0])
    return token, TokenInfo(token_id, user.name, label, prefix, now, None, None)


def _listing() -> Any:
    return select(user_tokens, users.c.name.label("user_name")).join(
        users, users.c.id == user_tokens.c.user_id
    )


def list_tokens(engine: Engine, *, user_name: str | None = None) -> list[TokenInfo]:
    query = _listing().order_by(user_tokens.c.id)
    if user_name is not None:
        query = query.where(users.c.id == get_user(engine, user_name).id)
    with engine.connect() as conn:
        return [_info(row) for row in conn.execute(query)]


def revoke_token(
    engine: Engine, token_id: int, *, now: float, user_name: str | None = None
) -> TokenInfo:
    """Revoke a token by id (only among `user_name`'s tokens when given)."""
    query = _listing().where(user_tokens.c.id == token_id)
    if user_name is not None:
        query = query.where(users.c.name == user_name)
    with engine.begin() as conn:
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no token with id {token_id}", field="id")
        if row.revoked_at is None:
            conn.execute(
                update(user_tokens).where(user_tokens.c.id == token_id).values(revoked_at=now)
            )
    info = _info(row)
    return info if info.revoked_at is not None else replace(info, revoked_at=now)


def token_user(engine: Engine, token: str, *, now: float) -> User | None:
    """The user an active token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_hash = digest(token)
    query = (
        select(
            user_tokens.c.last_used_at,
            user_tokens.c.revoked_at,
            users.c.id.label("user_id"),
            users.c.name,
            users.c.role,
            users.c.created_at,
        )
        .join(users, users.c.id == user_tokens.c.user_id)
        .where(user_tokens.c.token_hash == token_hash)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY_S:
        with engine.begin() as conn:
            conn.execute(
                update(user_tokens)
                .where(user_tokens.c.token_hash == token_hash)
                .values(last_used_at=now)
            )
    return User(id=int(row.user_id), name=row.name, role=row.role, created_at=row.created_at)
