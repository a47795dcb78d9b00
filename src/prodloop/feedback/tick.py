"""What the loop does for feedback each tick."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.feedback.records import enrich
from prodloop.feedback.support import queue_support_notices
from prodloop.store.schema import feedback, request_events

# Feedback often arrives before its request's event is written (the gateway batches
# events); it is matched again for this long, then left as it is.
ENRICH_WINDOW_S = 3600.0
# Flagged feedback older than this is not announced: a support channel added later is
# not flooded with old reports.
NOTICE_WINDOW_S = 86_400.0
ENRICH_BATCH = 500
# How long before the feedback its request may have been made (a long chat, a slow answer).
REQUEST_LEAD_S = 3600.0


def enrich_pending(engine: Engine, config: Config, now: float) -> int:
    """Match recent feedback to its request, if that request has arrived; how many matched."""
    with engine.connect() as conn:
        pending = conn.execute(
            select(feedback.c.id, feedback.c.trace_id, feedback.c.created_at)
            .where(
                and_(
                    feedback.c.created_at >= now - ENRICH_WINDOW_S,
                    feedback.c.trace_id.is_not(None),
                    feedback.c.service.is_(None),
                )
            )
            .order_by(feedback.c.created_at)
            .limit(ENRICH_BATCH)
        ).all()
        if not pending:
            return 0
        # One look for the whole batch, over recent events only, instead of one per item
        # every tick: most pending feedback waits on a request that is still not there.
        traces = list({str(row.trace_id) for row in pending})
        recent = request_events.c.ts >= min(row.created_at for row in pending) - REQUEST_LEAD_S
        arrived = set(
            conn.execute(
                select(request_events.c.trace_id).where(
                    and_(recent, request_events.c.trace_id.in_(traces))
                )
            ).scalars()
        )
        arrived |= set(
            conn.execute(
                select(request_events.c.request_id).where(
                    and_(recent, request_events.c.request_id.in_(traces))
                )
            ).scalars()
        )
    found = 0
    for row in pending:
        if row.trace_id in arrived:
            with engine.begin() as conn:
                found += int(enrich(conn, config, int(row.id)))
    return found


def run_feedback(engine: Engine, config: Config, now: float) -> int:
    """Match late requests, then tell the support channel about newly flagged feedback;
    how many items were announced."""
    enrich_pending(engine, config, now)
    with engine.begin() as conn:
        return queue_support_notices(conn, config, now, since=now - NOTICE_WINDOW_S)
