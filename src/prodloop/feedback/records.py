"""Feedback as users send it: validated into `FeedbackIn`, stored once, joined to its request.

Two shapes come in: prodloop's own (`rating` up/down or 1..5, `comment`, `category` …)
and a Langfuse-style score (`name`, `value`, `dataType`, `traceId`). Either becomes one
`feedback` row; a retry with the same idempotency key stores nothing new. Comments are
stored exactly as sent: escaping is the job of whatever displays them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.store.schema import feedback, feedback_history, request_events

CATEGORIES = ("bug", "idea", "answer_quality", "other")
SOURCES = ("widget", "api", "score", "sdk")
MAX_METADATA_BYTES = 16 * 1024
_FIELDS = frozenset(
    {"id", "trace_id", "rating", "comment", "category", "email", "user_id", "page",
     "metadata", "source", "key"}
)  # fmt: skip
_SCORE_FIELDS = frozenset(
    {"id", "name", "value", "dataType", "traceId", "comment", "observationId", "sessionId",
     "configId", "environment", "metadata", "key"}
)  # fmt: skip
_SCORE_MARKS = ("value", "traceId", "dataType")
_SCORE_CONTEXT = ("observationId", "sessionId", "configId", "environment")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Categorical score values that read as a complaint.
_NEGATIVE_WORDS = frozenset(
    {"bad", "negative", "down", "thumbs_down", "thumbsdown", "incorrect", "wrong", "no", "false",
     "unhelpful", "not_helpful"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedbackIn:
    """One validated piece of feedback, before it is stored."""

    source: str  # widget | api | score | sdk
    rating: float | None = None  # thumbs: 1 up / 0 down; stars: 1..5; a score's number
    rating_kind: str | None = None  # thumbs | stars | numeric | category
    comment: str = ""
    client_id: str | None = None
    trace_id: str | None = None
    name: str | None = None
    category: str | None = None
    email: str | None = None
    user_id: str | None = None
    page: str | None = None
    metadata: dict[str, Any] | None = None
    is_negative: bool = False


def is_score_shaped(payload: dict[str, Any]) -> bool:
    """Whether a /ingest/feedback body is a Langfuse-style score rather than prodloop's."""
    return any(mark in payload for mark in _SCORE_MARKS)


def parse_feedback(payload: object, config: Config, *, source: str = "api") -> FeedbackIn:
    """prodloop's feedback shape; ValidationError names the field. `"source": "widget"` in
    the body marks the widget; `source` is the default otherwise."""
    data = _object(payload)
    _no_unknown(data, _FIELDS)
    source = _source(data, source)
    rating, kind = _rating(data.get("rating"))
    comment = _comment(data.get("comment"), config)
    if rating is None and not comment:
        raise ValidationError("send a rating, a comment, or both", field="rating")
    category = data.get("category")
    if category is not None and category not in CATEGORIES:
        raise ValidationError(f"must be one of {', '.join(CATEGORIES)}", field="category")
    email = _text(data.get("email"), "email", 320)
    if email is not None and not _EMAIL.match(email):
        raise ValidationError("is not an email address", field="email")
    is_negative = (kind == "thumbs" and rating == 0) or (
        kind == "stars" and rating is not None and rating <= 2
    )
    return FeedbackIn(
        source=source,
        rating=rating,
        rating_kind=kind,
        comment=comment,
        client_id=_text(data.get("id"), "id", 128),
        trace_id=_trace_id(data.get("trace_id"), "trace_id"),
        category=category,
        email=email,
        user_id=_text(data.get("user_id"), "user_id", 256),
        page=_text(data.get("page"), "page", 1024),
        metadata=_metadata(data.get("metadata"), "metadata"),
        is_negative=is_negative,
    )


def parse_score(payload: object, config: Config) -> FeedbackIn:
    """A Langfuse-style score: `name`, `value`, `traceId`, `dataType`?, `comment`?, `id`?."""
    data = _object(payload)
    _no_unknown(data, _SCORE_FIELDS)
    name = _text(data.get("name"), "name", 128)
    if name is None:
        raise ValidationError("is required (the score's name, e.g. user-feedback)", field="name")
    trace_id = _trace_id(data.get("traceId"), "traceId")
    if trace_id is None:
        raise ValidationError("is required (the trace the score is about)", field="traceId")
    value = data.get("value")
    data_type = data.get("dataType")
    if data_type is None:
        data_type = "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
    if data_type not in ("NUMERIC", "BOOLEAN", "CATEGORICAL"):
        raise ValidationError("must be NUMERIC, BOOLEAN or CATEGORICAL", field="dataType")
    metadata = _metadata(data.get("metadata"), "metadata")
    context = {name: _text(data.get(name), name, 256) for name in _SCORE_CONTEXT}
    if any(context.values()):
        metadata = {**(metadata or {}), **{k: v for k, v in context.items() if v}}
    rating: float | None
    if data_type == "CATEGORICAL":
        label = _text(value, "value", 128)
        if label is None:
            raise ValidationError("is required: a category for a CATEGORICAL score", field="value")
        rating, kind = None, "category"
        metadata = {**(metadata or {}), "value": label}
        is_negative = label.strip().lower().replace(" ", "_") in _NEGATIVE_WORDS
    else:
        rating = _number(value, "value")
        if data_type == "BOOLEAN" and rating not in (0.0, 1.0):
            raise ValidationError("must be 0 or 1 for a BOOLEAN score", field="value")
        kind = "numeric"
        # Langfuse's user-feedback conventions: 0/1 or -1/1; zero and below is a complaint.
        is_negative = rating <= 0
    return FeedbackIn(
        source="score",
        rating=rating,
        rating_kind=kind,
        comment=_comment(data.get("comment"), config),
        client_id=_text(data.get("id"), "id", 128),
        trace_id=trace_id,
        name=name,
        metadata=metadata,
        is_negative=is_negative,
    )


def _object(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return payload


def _no_unknown(data: dict[str, Any], known: frozenset[str]) -> None:
    for name in data:
        if name not in known:
            raise ValidationError(f"unknown field {name[:64]!r}", field=name[:64])


def _source(data: dict[str, Any], default: str) -> str:
    value = data.get("source")
    if value is None:
        return default
    if value not in ("widget", "api", "sdk"):
        raise ValidationError("must be widget, api or sdk", field="source")
    return str(value)


def _rating(value: object) -> tuple[float | None, str | None]:
    if value is None:
        return None, None
    if value in ("up", "down") and isinstance(value, str):
        return (1.0 if value == "up" else 0.0), "thumbs"
    is_whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not is_whole or not 1 <= value <= 5:  # type: ignore[operator]
        raise ValidationError(
            "must be 'up', 'down' or a whole number of stars 1..5", field="rating"
        )
    return float(value), "stars"  # type: ignore[arg-type]


def _comment(value: object, config: Config) -> str:
    text = _text(value, "comment", config.feedback.max_comment_chars)
    return text or ""


def _text(value: object, where: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("must be a string", field=where)
    if len(value) > limit:
        raise ValidationError(f"is longer than {limit} characters", field=where)
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters", field=where)
    return value if value.strip() else None


def _trace_id(value: object, where: str) -> str | None:
    text = _text(value, where, 64)
    if text is None:
        return None
    text = text.strip()
    # W3C trace ids are lower-case hex; the same id typed in upper case still matches.
    return text.lower() if re.fullmatch(r"[0-9A-Fa-f]{32}", text) else text


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("must be a number", field=where)
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError("must be a finite number", field=where)
    return number


def _metadata(value: object, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError("must be an object", field=where)
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise ValidationError(f"is larger than {MAX_METADATA_BYTES} bytes as JSON", field=where)
    return value


def store_feedback(
    engine: Engine, config: Config, item: FeedbackIn, now: float
) -> tuple[int, bool]:
    """Store `item` once; (id, created). A known idempotency key returns the first id."""
    with engine.begin() as conn:
        existing = _by_client_id(conn, item.client_id)
        if existing is not None:
            return existing, False
    try:
        with engine.begin() as conn:
            feedback_id = _insert(conn, item, now)
            enrich(conn, config, feedback_id)
    except IntegrityError:
        # Two retries raced: the other one stored it.
        with engine.begin() as conn:
            existing = _by_client_id(conn, item.client_id)
        if existing is None:
            raise
        return existing, False
    return feedback_id, True


def _by_client_id(conn: Connection, client_id: str | None) -> int | None:
    if client_id is None:
        return None
    found = conn.execute(select(feedback.c.id).where(feedback.c.client_id == client_id)).first()
    return int(found.id) if found is not None else None


def _insert(conn: Connection, item: FeedbackIn, now: float) -> int:
    values = {
        "client_id": item.client_id,
        "created_at": now,
        "source": item.source,
        "trace_id": item.trace_id,
        "name": item.name,
        "rating": item.rating,
        "rating_kind": item.rating_kind,
        "is_negative": item.is_negative,
        "category": item.category,
        "comment": item.comment,
        "email": item.email,
        "user_id": item.user_id,
        "page": item.page,
        "metadata": orjson.dumps(item.metadata).decode() if item.metadata is not None else None,
        "state": "new",
        "updated_at": now,
    }
    inserted = conn.execute(feedback.insert().values(**values).returning(feedback.c.id)).one()
    feedback_id = int(inserted.id)
    conn.execute(
        feedback_history.insert().values(
            feedback_id=feedback_id, at=now, actor=item.source, from_state=None, to_state="new"
        )
    )
    return feedback_id


def enrich(conn: Connection, config: Config, feedback_id: int) -> bool:
    """Copy the request's service/version/model/flags onto the feedback, and flag it for
    support when a complaint meets a failed request; False while the request is unknown."""
    item = conn.execute(
        select(
            feedback.c.trace_id,
            feedback.c.category,
            feedback.c.rating_kind,
            feedback.c.rating,
            feedback.c.comment,
            feedback.c.is_support,
        ).where(feedback.c.id == feedback_id)
    ).first()
    if item is None or not item.trace_id:
        return False
    request = conn.execute(
        select(
            request_events.c.service,
            request_events.c.version,
            request_events.c.model,
            request_events.c.flags,
            request_events.c.status,
            request_events.c.error_class,
            request_events.c.guardrails,
        )
        .where(
            or_(
                request_events.c.trace_id == item.trace_id,
                request_events.c.request_id == item.trace_id,
            )
        )
        .order_by(request_events.c.ts.desc())
        .limit(1)
    ).first()
    if request is None:
        return False
    values: dict[str, Any] = {
        "service": request.service,
        "version": request.version,
        "model": request.model,
        "flags": request.flags or None,
    }
    reason = support_reason(
        config,
        category=item.category,
        is_thumbs_down=item.rating_kind == "thumbs" and item.rating == 0,
        comment=item.comment or "",
        status=int(request.status),
        error_class=request.error_class,
        guardrails=request.guardrails or "",
    )
    if reason is not None and not item.is_support:
        values.update(is_support=True, support_reason=reason)
    conn.execute(update(feedback).where(feedback.c.id == feedback_id).values(**values))
    return True


def support_reason(
    config: Config,
    *,
    category: str | None,
    is_thumbs_down: bool,
    comment: str,
    status: int,
    error_class: str | None,
    guardrails: str,
) -> str | None:
    """Why this feedback needs support, or None: a complaint about a request that failed."""
    if category is not None and category in config.feedback.support.categories:
        complaint = f"{category} report"
    elif is_thumbs_down and comment.strip():
        complaint = "thumbs-down with a comment"
    else:
        return None
    if status >= 500 or error_class:
        detail = f"status {status}" + (f", {error_class}" if error_class else "")
        return f"{complaint} on a failed request ({detail})"
    if guardrails:
        return f"{complaint} on a request that tripped guardrails: {guardrails}"
    return None
