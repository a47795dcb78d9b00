"""Feedback as people read it: one item, a filtered list, and its history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import feedback, feedback_history

State = Literal["new", "triaged", "planned", "shipped", "duplicate", "wont_fix"]
STATES: tuple[State, ...] = ("new", "triaged", "planned", "shipped", "duplicate", "wont_fix")
# States still waiting for someone: a closed item is shipped, a duplicate or won't fix.
OPEN_STATES: tuple[State, ...] = ("new", "triaged", "planned")


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One row of `feedback`. The comment is the text as sent: escape it when showing it."""

    id: int
    created_at: float
    source: str
    trace_id: str | None
    name: str | None
    rating: float | None
    rating_kind: str | None
    is_negative: bool
    category: str | None
    comment: str
    email: str | None
    user_id: str | None
    page: str | None
    service: str | None
    version: str | None
    model: str | None
    flags: str | None
    metadata: dict[str, Any] | None
    state: str
    duplicate_of: int | None
    backlog_id: str | None
    cluster_id: int | None
    is_support: bool
    support_reason: str | None
    support_notified_at: float | None
    updated_at: float

    @property
    def rating_text(self) -> str:
        """The rating as a person says it: thumbs up/down, 4/5, or the raw value."""
        if self.rating is None:
            return "-"
        if self.rating_kind == "thumbs":
            return "up" if self.rating >= 1 else "down"
        if self.rating_kind == "stars":
            return f"{self.rating:g}/5"
        return f"{self.rating:g}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rating_text": self.rating_text}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of an item's state."""

    id: int
    feedback_id: int
    at: float
    actor: str
    from_state: str | None
    to_state: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feedback_item(row: RowMapping) -> FeedbackItem:
    """A `feedback` row as an item."""
    metadata = json.loads(row["metadata"]) if row["metadata"] else None
    return FeedbackItem(
        id=int(row["id"]),
        created_at=float(row["created_at"]),
        source=row["source"],
        trace_id=row["trace_id"],
        name=row["name"],
        rating=row["rating"],
        rating_kind=row["rating_kind"],
        is_negative=bool(row["is_negative"]),
        category=row["category"],
        comment=row["comment"] or "",
        email=row["email"],
        user_id=row["user_id"],
        page=row["page"],
        service=row["service"],
        version=row["version"],
        model=row["model"],
        flags=row["flags"],
        metadata=metadata if isinstance(metadata, dict) else None,
        state=row["state"],
        duplicate_of=row["duplicate_of"],
        backlog_id=row["backlog_id"],
        cluster_id=row["cluster_id"],
        is_support=bool(row["is_support"]),
        support_reason=row["support_reason"],
        support_notified_at=row["support_notified_at"],
        updated_at=float(row["updated_at"]),
    )


def get_feedback(conn: Connection, feedback_id: int, *, field: str = "id") -> FeedbackItem:
    """The item, or NotFoundError naming `field`."""
    row = conn.execute(select(feedback).where(feedback.c.id == feedback_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no feedback {feedback_id}", field=field)
    return feedback_item(row)


def load_feedback(engine: Engine, feedback_id: int, *, field: str = "id") -> FeedbackItem:
    with engine.connect() as conn:
        return get_feedback(conn, feedback_id, field=field)


def check_state(value: str, *, field: str = "state") -> State:
    """A known state, or ValidationError listing them."""
    for state in STATES:
        if value == state:
            return state
    raise ValidationError(f"unknown state '{value}' (use {', '.join(STATES)})", field=field)


def rating_filter(value: str, *, field: str = "rating") -> ColumnElement[bool]:
    """`up` and `down` (thumbs), or a number of stars 1..5."""
    if value == "up":
        return and_(feedback.c.rating_kind == "thumbs", feedback.c.rating >= 1)
    if value == "down":
        return and_(feedback.c.rating_kind == "thumbs", feedback.c.rating < 1)
    if value.isdigit() and 1 <= int(value) <= 5:
        return and_(feedback.c.rating_kind == "stars", feedback.c.rating == int(value))
    raise ValidationError(f"'{value}' is not up, down or a number of stars 1..5", field=field)


def list_feedback(
    engine: Engine,
    *,
    state: str | None = None,
    version: str | None = None,
    rating: str | None = None,
    cluster_id: int | None = None,
    is_support: bool | None = None,
    limit: int = 100,
) -> list[FeedbackItem]:
    """Items, the newest first, filtered by state, version, rating, cluster and support flag."""
    if limit < 1:
        raise ValidationError("must be at least 1", field="limit")
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(feedback.c.state == check_state(state))
    if version is not None:
        conditions.append(feedback.c.version == version)
    if rating is not None:
        conditions.append(rating_filter(rating))
    if cluster_id is not None:
        conditions.append(feedback.c.cluster_id == cluster_id)
    if is_support is not None:
        conditions.append(feedback.c.is_support == is_support)
    query = select(feedback).order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
    if conditions:
        query = query.where(and_(*conditions))
    with engine.connect() as conn:
        return [feedback_item(row) for row in conn.execute(query.limit(limit)).mappings()]


def read_history(conn: Connection, feedback_ids: Sequence[int]) -> list[HistoryEntry]:
    """State changes of these items, oldest first."""
    table = feedback_history
    query = (
        select(table)
        .where(table.c.feedback_id.in_(list(feedback_ids)))
        .order_by(table.c.at, table.c.id)
    )
    return [
        HistoryEntry(
            id=int(row["id"]),
            feedback_id=int(row["feedback_id"]),
            at=float(row["at"]),
            actor=row["actor"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            note=row["note"] or "",
        )
        for row in conn.execute(query).mappings()
    ]
