"""Login sessions: a random id in an HttpOnly cookie, its SHA-256 in the store."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from prodloop.store.schema import user_sessions, users
from prodloop.web.dashboard.users import User, digest

SESSION_LIFETIME_S = 12 * 3600.0  # idle time after which a session ends
SESSION_MAX_AGE_S = 7 * 86400.0  # a session ends this long after login, however busy
_TOUCH_EVERY_S = 60.0  # last_seen_at is written at most this often per session


def create_session(engine: Engine, user: User, *, now: float) -> str:
    """Start a session for `user`; returns the id for the cookie (never stored as such)."""
    session_id = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(user_sessions).where(user_sessions.c.expires_at <= now))
        conn.execute(
            user_sessions.insert().values(
                id_hash=digest(session_id),
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME_S,
            )
        )
    return session_id


def session_user(engine: Engine, session_id: str, *, now: float) -> User | None:
    """The user of a live session, sliding its idle expiry forward; None when it is over."""
    id_hash = digest(session_id)
    query = (
        select(user_sessions, users.c.name, users.c.role, users.c.created_at.label("user_created"))
        .join(users, users.c.id == user_sessions.c.user_id)
        .where(user_sessions.c.id_hash == id_hash)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or row.expires_at <= now or now - row.created_at >= SESSION_MAX_AGE_S:
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY_S:
        with engine.begin() as conn:
            conn.execute(
                update(user_sessions)
                .where(user_sessions.c.id_hash == id_hash)
                .values(last_seen_at=now, expires_at=now + SESSION_LIFETIME_S)
            )
    return User(id=int(row.user_id), name=row.name, role=row.role, created_at=row.user_created)


def end_session(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(user_sessions).where(user_sessions.c.id_hash == digest(session_id)))
