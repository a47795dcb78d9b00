"""Silences: mute notifications for alerts whose labels match, for a window, with a reason.

As in Alertmanager, a silenced alert still fires and is recorded; nobody is paged for it
while the silence lasts. If it still fires when the silence ends, it is paged then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import silences

SilenceStatus = Literal["pending", "active", "expired"]
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence: label matchers, a window, and who set it and why."""

    id: int
    matchers: Mapping[str, str]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str
    created_at: float
    expired_at: float | None

    def status(self, now: float) -> SilenceStatus:
        """pending before it starts, active while it lasts, expired after (or when lifted)."""
        if self.expired_at is not None or now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def is_active(self, now: float) -> bool:
        return self.status(now) == "active"

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every matcher equals the alert's label of that name."""
        return all(labels.get(name) == value for name, value in self.matchers.items())

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": dict(self.matchers),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expired_at": self.expired_at,
            "status": self.status(now),
        }


def parse_matchers(texts: Sequence[str], *, field: str = "match") -> dict[str, str]:
    """{"service": "chat"} from ["service=chat"]; a malformed matcher names itself."""
    matchers: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValidationError(f"'{text}' is not a matcher (use label=value)", field=field)
        if not _LABEL_NAME.match(name):
            raise ValidationError(f"'{name}' is not a label name", field=field)
        if name in matchers and matchers[name] != value:
            raise ValidationError(f"label '{name}' is matched twice", field=field)
        matchers[name] = value
    return validate_matchers(matchers, field=field)


def validate_matchers(matchers: Mapping[str, str], *, field: str = "matchers") -> dict[str, str]:
    """At least one matcher, each a label name and a non-empty value."""
    if not matchers:
        raise ValidationError("give at least one matcher, e.g. service=chat", field=field)
    for name, value in matchers.items():
        if not _LABEL_NAME.match(name):
            raise ValidationError(f"'{name}' is not a label name", field=field)
        if not isinstance(value, str) or not value:
            raise ValidationError(f"the value of '{name}' must be a non-empty string", field=field)
    return dict(matchers)


def _silence(row: RowMapping) -> Silence:
    return Silence(
        id=int(row["id"]),
        matchers=json.loads(row["matchers"]),
        starts_at=float(row["starts_at"]),
        ends_at=float(row["ends_at"]),
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=float(row["created_at"]),
        expired_at=row["expired_at"],
    )


def create_silence(
    engine: Engine,
    *,
    matchers: Mapping[str, str],
    ends_at: float,
    reason: str,
    created_by: str,
    now: float,
    starts_at: float | None = None,
) -> Silence:
    """Store a silence from `starts_at` (default now) to `ends_at`."""
    checked = validate_matchers(matchers)
    start = now if starts_at is None else starts_at
    if ends_at <= start:
        raise ValidationError("the silence must end after it starts", field="ends_at")
    if ends_at <= now:
        raise ValidationError("the silence would already be over", field="ends_at")
    if not reason.strip():
        raise ValidationError("say why alerts are silenced", field="reason")
    if not created_by.strip() or len(created_by) > 128:
        raise ValidationError("say who silences (at most 128 characters)", field="created_by")
    with engine.begin() as conn:
        result = conn.execute(
            insert(silences).values(
                matchers=json.dumps(checked, sort_keys=True),
                starts_at=start,
                ends_at=ends_at,
                reason=reason.strip(),
                created_by=created_by.strip(),
                created_at=now,
                expired_at=None,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return get_silence(conn, int(key[0]))


def get_silence(conn: Connection, silence_id: int) -> Silence:
    """One silence by id, or NotFoundError naming it."""
    row = conn.execute(select(silences).where(silences.c.id == silence_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no silence {silence_id}", field="id")
    return _silence(row)


def expire_silence(engine: Engine, silence_id: int, now: float) -> Silence:
    """Lift a silence now; lifting one that is over already changes nothing."""
    with engine.begin() as conn:
        silence = get_silence(conn, silence_id)
        if silence.status(now) == "expired":
            return silence
        conn.execute(update(silences).where(silences.c.id == silence_id).values(expired_at=now))
        return get_silence(conn, silence_id)


def list_silences(engine: Engine, now: float, *, include_expired: bool = False) -> list[Silence]:
    """Silences that are active or pending (and expired ones when asked), newest first."""
    query = select(silences).order_by(silences.c.id.desc())
    if not include_expired:
        query = query.where(and_(silences.c.expired_at.is_(None), silences.c.ends_at > now))
    with engine.connect() as conn:
        return [_silence(row) for row in conn.execute(query).mappings()]


def active_silences(conn: Connection, now: float) -> list[Silence]:
    """Silences in force at `now`."""
    query = select(silences).where(
        and_(
            silences.c.starts_at <= now,
            silences.c.ends_at > now,
            or_(silences.c.expired_at.is_(None), silences.c.expired_at > now),
        )
    )
    return [_silence(row) for row in conn.execute(query).mappings()]


def silencing(candidates: Iterable[Silence], labels: Mapping[str, str]) -> Silence | None:
    """The first silence whose matchers all match `labels`."""
    for silence in candidates:
        if silence.matches(labels):
            return silence
    return None
