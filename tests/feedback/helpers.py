"""Feedback and request events as the ingest path and the gateway store them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.feedback.records import FeedbackIn, store_feedback
from prodloop.store.schema import request_events

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def board_config(store_url: str = "sqlite://", extra: str = "", **environ: str) -> Config:
    """A config with TF-IDF clustering at a threshold that suits it."""
    text = f"""
store:
  url: {store_url}
feedback:
  clustering: {{method: tfidf}}
{extra}
"""
    return parse_config(text, environ=environ)


def add_feedback(
    engine: Engine,
    config: Config,
    *,
    comment: str = "",
    rating: float | None = None,
    rating_kind: str | None = None,
    category: str | None = None,
    trace_id: str | None = None,
    at: float = T0,
    **fields: Any,
) -> int:
    """Store one piece of feedback through the ingest path; its id."""
    is_negative = (rating_kind == "thumbs" and rating == 0) or (
        rating_kind == "stars" and rating is not None and rating <= 2
    )
    item = FeedbackIn(source="api", rating=rating, rating_kind=rating_kind, comment=comment,
                      category=category, trace_id=trace_id, is_negative=is_negative,
                      **fields)  # fmt: skip
    feedback_id, created = store_feedback(engine, config, item, at)
    assert created
    return feedback_id


def thumbs_down(engine: Engine, config: Config, comment: str, **fields: Any) -> int:
    return add_feedback(engine, config, comment=comment, rating=0.0, rating_kind="thumbs",
                        **fields)  # fmt: skip


def add_request(
    engine: Engine,
    trace_id: str,
    *,
    status: int = 200,
    version: str = "v1",
    service: str = "chat",
    error_class: str | None = None,
    guardrails: str = "",
    at: float = T0,
) -> None:
    """One request event as the gateway writes it."""
    with engine.begin() as conn:
        conn.execute(
            insert(request_events).values(
                ts=at, request_id=trace_id, trace_id=trace_id, service=service, version=version,
                route="/v1/chat/completions", model="gpt-4o-mini", status=status,
                error_class=error_class, latency_ms=420.0, guardrails=guardrails,
                flags="new-prompt=on",
            )
        )  # fmt: skip
