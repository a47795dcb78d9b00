"""Feedback triage over HTTP: list, show, triage, link, close, and the clusters.

Every route needs an API token; an ingest key (write-only, public) gets 403, since these
read what users wrote. The checks are the domain's, so the API and the CLI refuse the
same things in the same words. Comments come back as JSON text, exactly as sent.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from prodloop.api.auth import Principal, require_reader
from prodloop.api.state import get_state
from prodloop.errors import ValidationError
from prodloop.feedback.backlog.links import create_backlog_issue, link_backlog
from prodloop.feedback.clusters import ensure_clusters, list_clusters, recluster
from prodloop.feedback.items import list_feedback, load_feedback, read_history
from prodloop.feedback.triage import close_feedback, triage_feedback

router = APIRouter(tags=["feedback"])

Reader = Annotated[Principal, Depends(require_reader)]
FeedbackId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the feedback's id")]


class TriageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Plain strings: the domain check names the field and the refused transition.
    state: str = Field(description="triaged | duplicate | wont_fix")
    by: str = Field(description="who triages")
    note: str = Field("", description="why, for the history")
    duplicate_of: int | None = Field(None, description="the item a duplicate repeats")


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str = Field(description="who links it")
    backlog: str | None = Field(None, description="an existing backlog id: GH-123, LIN-ENG-12…")
    create: Literal["github", "linear"] | None = Field(
        None, description="create the issue in this tracker and link it"
    )
    note: str = Field("", description="why, for the history")


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    as_state: str = Field(alias="as", description="shipped | wont_fix | duplicate")
    by: str = Field(description="who closes it")
    note: str = Field("", description="why, for the history")
    duplicate_of: int | None = Field(None, description="the item a duplicate repeats")


def _detail(request: Request, feedback_id: int) -> dict[str, Any]:
    engine = get_state(request).engine
    item = load_feedback(engine, feedback_id)
    with engine.connect() as conn:
        history = read_history(conn, [feedback_id])
    return {**item.to_dict(), "history": [h.to_dict() for h in history]}


@router.get("/api/v1/feedback", summary="Feedback")
def get_feedback_list(
    request: Request,
    _principal: Reader,
    state: Annotated[str | None, Query(description="new, triaged, planned, …")] = None,
    version: Annotated[str | None, Query(max_length=128)] = None,
    rating: Annotated[str | None, Query(description="up, down or stars 1..5")] = None,
    cluster: Annotated[int | None, Query(ge=1, description="only this cluster")] = None,
    support: Annotated[bool | None, Query(description="only items flagged for support")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Feedback, the newest first."""
    found = list_feedback(get_state(request).engine, state=state, version=version,
                          rating=rating, cluster_id=cluster, is_support=support,
                          limit=limit)  # fmt: skip
    return {"feedback": [item.to_dict() for item in found]}


@router.get("/api/v1/feedback/clusters", summary="Clusters of similar comments")
def get_clusters(
    request: Request,
    _principal: Reader,
    refresh: Annotated[bool, Query(description="regroup now")] = False,
    min_size: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Groups of similar comments, the largest first; regrouped when new comments arrived."""
    control = get_state(request)
    now = control.clock.now()
    if refresh:
        recluster(control.engine, control.config, now)
    else:
        ensure_clusters(control.engine, control.config, now)
    found = list_clusters(control.engine, min_size=min_size, limit=limit)
    return {"clusters": [c.to_dict() for c in found]}


@router.get("/api/v1/feedback/{feedback_id}", summary="One piece of feedback with its history")
def get_one(request: Request, _principal: Reader, feedback_id: FeedbackId) -> dict[str, Any]:
    return _detail(request, feedback_id)


@router.post("/api/v1/feedback/{feedback_id}/triage", summary="Triage feedback")
def post_triage(
    request: Request, _principal: Reader, feedback_id: FeedbackId, body: Annotated[TriageIn, Body()]
) -> dict[str, Any]:
    """Move the item to triaged, duplicate (of another item) or wont_fix."""
    control = get_state(request)
    triage_feedback(control.engine, feedback_id, body.state, by=body.by, now=control.clock.now(),
                    note=body.note, duplicate_of=body.duplicate_of)  # fmt: skip
    return _detail(request, feedback_id)


@router.post("/api/v1/feedback/{feedback_id}/link", summary="Link feedback to the backlog")
def post_link(
    request: Request, _principal: Reader, feedback_id: FeedbackId, body: Annotated[LinkIn, Body()]
) -> dict[str, Any]:
    """Link to an existing backlog id, or create the GitHub/Linear issue; it becomes planned."""
    control = get_state(request)
    if (body.backlog is None) == (body.create is None):
        raise ValidationError("give either backlog or create", field="backlog")
    now = control.clock.now()
    if body.backlog is not None:
        link_backlog(control.engine, feedback_id, body.backlog, by=body.by, now=now,
                     note=body.note)  # fmt: skip
        return {**_detail(request, feedback_id), "created": None}
    assert body.create is not None
    with httpx.Client() as http:
        _, created = create_backlog_issue(control.engine, control.config, feedback_id,
                                          body.create, by=body.by, now=now, http=http,
                                          sleep=time.sleep, clock=control.clock.now)  # fmt: skip
    return {
        **_detail(request, feedback_id),
        "created": {"backlog_id": created.backlog_id, "url": created.url},
    }


@router.post("/api/v1/feedback/{feedback_id}/close", summary="Close feedback")
def post_close(
    request: Request, _principal: Reader, feedback_id: FeedbackId, body: Annotated[CloseIn, Body()]
) -> dict[str, Any]:
    """Close the item as shipped, wont_fix or duplicate."""
    control = get_state(request)
    close_feedback(control.engine, feedback_id, body.as_state, by=body.by,
                   now=control.clock.now(), note=body.note,
                   duplicate_of=body.duplicate_of)  # fmt: skip
    return _detail(request, feedback_id)
