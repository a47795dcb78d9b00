"""Dashboard users: names, argon2-hashed passwords and roles (viewer < operator < admin)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import user_sessions, user_tokens, users

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD_LEN = 10
MAX_PASSWORD_LEN = 1024  # argon2 takes any length; this bounds the work one login can ask for
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")

# Module-level so that tests can swap in cheaper parameters; verification reads the
# parameters from each stored hash, so hashes made with either verify with either.
hasher = PasswordHasher()
# Verified against when the name is unknown, so that an unknown user and a wrong password
# take the same time and get the same answer.
_DUMMY_HASH: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    created_at: float

    def can(self, role: str) -> bool:
        """Whether this user holds `role` or a higher one."""
        return role_allows(self.role, role)


def role_allows(held: str, needed: str) -> bool:
    """viewer < operator < admin: a role includes the rights of those below it."""
    return ROLES.index(held) >= ROLES.index(needed)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (session id, API token): what the store keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str, *, field: str = "role") -> str:
    if role not in ROLES:
        raise ValidationError(
            f"unknown role '{role}' (choose from {', '.join(ROLES)})", field=field
        )
    return role


def check_name(name: str, *, field: str = "name") -> str:
    if not _NAME.fullmatch(name):
        raise ValidationError(
            "a user name is 1-128 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit",
            field=field,
        )
    return name


def check_password(password: str, *, field: str = "password") -> str:
    if len(password) < MIN_PASSWORD_LEN:
        raise ValidationError(
            f"a password needs at least {MIN_PASSWORD_LEN} characters", field=field
        )
    if len(password) > MAX_PASSWORD_LEN:
        raise ValidationError(f"a password has at most {MAX_PASSWORD_LEN} characters", field=field)
    return password


def _user(row: Any) -> User:
    return User(id=int(row.id), name=row.name, role=row.role, created_at=row.created_at)


def add_user(engine: Engine, name: str, password: str, role: str, *, now: float) -> User:
    """Create a user; a name already taken is a ValidationError."""
    check_name(name)
    check_role(role)
    password_hash = hasher.hash(check_password(password))
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(users).values(
                    name=name,
                    password_hash=password_hash,
                    role=role,
                    created_at=now,
                    updated_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            user_id = int(key[0])
    except IntegrityError as exc:
        raise ValidationError(f"user '{name}' already exists", field="name") from exc
    return User(id=user_id, name=name, role=role, created_at=now)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(users).order_by(users.c.name)).all()
    return [_user(row) for row in rows]


def get_user(engine: Engine, name: str) -> User:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user named '{name}'", field="name")
    return _user(row)


def user_by_id(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def count_admins(engine: Engine) -> int:
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(users).where(users.c.role == "admin")
        ).scalar_one()
    return int(count)


def remove_user(engine: Engine, name: str) -> User:
    """Delete a user with their sessions and API tokens."""
    user = get_user(engine, name)
    with engine.begin() as conn:
        conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user.id))
        conn.execute(delete(user_tokens).where(user_tokens.c.user_id == user.id))
        conn.execute(delete(users).where(users.c.id == user.id))
    return user


def set_role(engine: Engine, name: str, role: str, *, now: float) -> User:
    """Change a user's role; it applies to their sessions and tokens at once."""
    check_role(role)
    user = get_user(engine, name)
    with engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(role=role, updated_at=now))
    return User(id=user.id, name=user.name, role=role, created_at=user.created_at)


def set_password(engine: Engine, name: str, password: str, *, now: float) -> User:
    """Replace a user's password and end their sessions."""
    user = get_user(engine, name)
    password_hash = hasher.hash(check_password(password))
    with engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(password_hash=password_hash, updated_at=now)
        )
        conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user.id))
    return user


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hasher.hash("not a password anyone has")
    return _DUMMY_HASH


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    """The user whose name and password these are, or None (whichever of the two is wrong)."""
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name)).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    try:
        hasher.verify(stored, password[:MAX_PASSWORD_LEN])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return None if row is None else _user(row)
