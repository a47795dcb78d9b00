"""The feedback page: the triage board (new / triaged / planned / shipped, closed folded
away), filters by version, rating and cluster, one item's detail with the operator's
actions (triage, duplicate of, link to a backlog id, close), and the clusters.

Every read and write goes through prodloop.feedback, the same functions the API and the
CLI call, so the board refuses the same transitions in the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.errors import ProdloopError, ValidationError
from prodloop.feedback.backlog.links import link_backlog
from prodloop.feedback.clusters import ensure_clusters, list_clusters
from prodloop.feedback.items import FeedbackItem, list_feedback, load_feedback, read_history
from prodloop.feedback.triage import (
    CLOSE_STATES,
    TRIAGE_STATES,
    allowed_next,
    close_feedback,
    triage_feedback,
)
from prodloop.store.schema import feedback
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.users import User

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Feedback", "/feedback", order=50))

POLL_S = 15
COLUMNS = ("new", "triaged", "planned", "shipped")
CLOSED = ("duplicate", "wont_fix")
PER_COLUMN = 100  # newest items shown per state
CLUSTERS_SHOWN = 20
RATINGS = ("up", "down", "1", "2", "3", "4", "5")
FeedbackId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Operator = Annotated[User, Depends(require_role("operator"))]


@dataclass(frozen=True, slots=True)
class Filters:
    version: str | None
    rating: str | None
    cluster: int | None

    def query(self) -> str:
        pairs = {"version": self.version, "rating": self.rating, "cluster": self.cluster}
        return urlencode({key: value for key, value in pairs.items() if value is not None})


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _targets(request: Request, target: str) -> bool:
    return _is_htmx(request) and request.headers.get("hx-target") == target


def known_versions(engine: Engine) -> list[str]:
    """The app versions feedback was given on, for the version filter."""
    query = select(feedback.c.version).where(feedback.c.version.is_not(None)).distinct()
    with engine.connect() as conn:
        return sorted(str(v) for (v,) in conn.execute(query.limit(200)))


def _filters(version: str, rating: str, cluster: str) -> tuple[Filters, dict[str, str]]:
    errors: dict[str, str] = {}
    cluster_id: int | None = None
    if cluster.strip():
        if cluster.strip().isdigit() and int(cluster) >= 1:
            cluster_id = int(cluster)
        else:
            errors["cluster"] = f"'{cluster}' is not a cluster id"
    chosen = Filters(version.strip() or None, rating.strip() or None, cluster_id)
    return chosen, errors


def board(engine: Engine, filters: Filters) -> dict[str, list[FeedbackItem]]:
    """The newest items of each state, filtered; ValidationError names a bad filter."""
    return {
        state: list_feedback(
            engine,
            state=state,
            version=filters.version,
            rating=filters.rating,
            cluster_id=filters.cluster,
            limit=PER_COLUMN,
        )
        for state in (*COLUMNS, *CLOSED)
    }


@router.get("/feedback")
def feedback_page(
    request: Request,
    _user: CurrentUser,
    control: Control,
    version: str = "",
    rating: str = "",
    cluster: str = "",
) -> Response:
    """The board; htmx asking for #board (a filter change or the poll) gets the board alone."""
    filters, errors = _filters(version, rating, cluster)
    columns: dict[str, list[FeedbackItem]] = {}
    if not errors:
        try:
            columns = board(control.engine, filters)
        except ValidationError as exc:
            errors[exc.field or "rating"] = exc.message
    context = {
        "filters": filters,
        "query": filters.query(),
        "columns": columns,
        "column_names": COLUMNS,
        "closed_names": CLOSED,
        "per_column": PER_COLUMN,
        "errors": errors,
        "poll_s": POLL_S,
    }
    status = 422 if errors else 200
    if _targets(request, "board"):
        return render(request, "_feedback_board.html", context, status_code=status)
    context.update(versions=known_versions(control.engine), ratings=RATINGS)
    return render(request, "feedback.html", context, status_code=status)


@router.get("/feedback/clusters")
def clusters_view(request: Request, _user: CurrentUser, control: Control) -> Response:
    """Similar comments grouped (regrouped first when new comments arrived)."""
    ensure_clusters(control.engine, control.config, control.clock.now())
    found = list_clusters(control.engine, limit=CLUSTERS_SHOWN)
    template = "_feedback_clusters.html" if _is_htmx(request) else "feedback_clusters.html"
    return render(request, template, {"clusters": found})


def _detail_context(engine: Engine, feedback_id: int) -> dict[str, Any]:
    item = load_feedback(engine, feedback_id)
    with engine.connect() as conn:
        history = read_history(conn, [feedback_id])
    allowed = allowed_next(item.state)
    return {
        "item": item,
        "history": history,
        "triage_states": [s for s in TRIAGE_STATES if s in allowed and s != "duplicate"],
        "close_states": [s for s in CLOSE_STATES if s in allowed and s != "duplicate"],
        "can_duplicate": "duplicate" in allowed,
        "can_link": "planned" in allowed or item.state == "planned",
    }


def _detail(
    request: Request,
    engine: Engine,
    feedback_id: int,
    *,
    message: str = "",
    is_ok: bool = True,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        context = _detail_context(engine, feedback_id)
    except ProdloopError as exc:
        return _failed(request, exc.message, exc.status_code)
    context.update(message=message, ok=is_ok, errors=dict(errors or {}), values=dict(values or {}))
    template = "_feedback_detail.html" if _is_htmx(request) else "feedback_item.html"
    # The board refreshes itself after an action through this event.
    headers = {"HX-Trigger": "feedback-changed"} if message and is_ok else None
    return render(request, template, context, status_code=status_code, headers=headers)


def _failed(request: Request, message: str, status_code: int) -> Response:
    if _is_htmx(request):
        return render(
            request, "_message.html", {"ok": False, "message": message}, status_code=status_code
        )
    return render(
        request, "error.html", {"title": "Feedback", "message": message}, status_code=status_code
    )


@router.get("/feedback/{feedback_id}")
def item_page(
    request: Request, _user: CurrentUser, control: Control, feedback_id: FeedbackId
) -> Response:
    """One item with its history and, for operators, the actions its state allows."""
    return _detail(request, control.engine, feedback_id)


def _outcome(
    request: Request,
    control: Control,
    feedback_id: int,
    done: str,
    action: Callable[[], FeedbackItem],
    values: Mapping[str, str],
) -> Response:
    """Run an action; its message, a field error (422) or the refusal, beside the item."""
    try:
        item = action()
    except ValidationError as exc:
        field = exc.field or "state"
        return _detail(
            request,
            control.engine,
            feedback_id,
            errors={field: exc.message},
            values=values,
            status_code=exc.status_code,
        )
    except ProdloopError as exc:
        return _detail(
            request,
            control.engine,
            feedback_id,
            message=exc.message,
            is_ok=False,
            values=values,
            status_code=exc.status_code,
        )
    if not _is_htmx(request):
        return RedirectResponse(f"/feedback/{feedback_id}", status_code=303)
    return _detail(request, control.engine, item.id, message=done.format(item=item))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


# Read here so the routes can be plain functions: FastAPI runs those off the event loop.
FormValues = Annotated[dict[str, str], Depends(_form)]


def _duplicate_of(text: str) -> int | None:
    cleaned = text.strip().lstrip("#")
    if not cleaned:
        return None
    if not cleaned.isdigit() or not 1 <= int(cleaned) <= 2**63 - 1:
        raise ValidationError(f"'{text}' is not a feedback id", field="duplicate_of")
    return int(cleaned)


@router.post("/feedback/{feedback_id}/triage", dependencies=[Depends(verify_csrf)])
def post_triage(
    request: Request,
    user: Operator,
    control: Control,
    feedback_id: FeedbackId,
    values: FormValues,
) -> Response:
    """Operators: triaged, wont_fix, or duplicate of another item."""

    def act() -> FeedbackItem:
        return triage_feedback(
            control.engine,
            feedback_id,
            values.get("state", ""),
            by=user.name,
            now=control.clock.now(),
            note=values.get("note", ""),
            duplicate_of=_duplicate_of(values.get("duplicate_of", "")),
        )

    return _outcome(
        request, control, feedback_id, "Feedback {item.id} is {item.state}.", act, values
    )


@router.post("/feedback/{feedback_id}/link", dependencies=[Depends(verify_csrf)])
def post_link(
    request: Request,
    user: Operator,
    control: Control,
    feedback_id: FeedbackId,
    values: FormValues,
) -> Response:
    """Operators: link to a backlog id (GH-123, LIN-ENG-12, …); the item becomes planned."""

    def act() -> FeedbackItem:
        return link_backlog(
            control.engine,
            feedback_id,
            values.get("backlog", ""),
            by=user.name,
            now=control.clock.now(),
            note=values.get("note", ""),
        )

    return _outcome(
        request,
        control,
        feedback_id,
        "Feedback {item.id} is planned: {item.backlog_id}.",
        act,
        values,
    )


@router.post("/feedback/{feedback_id}/close", dependencies=[Depends(verify_csrf)])
def post_close(
    request: Request,
    user: Operator,
    control: Control,
    feedback_id: FeedbackId,
    values: FormValues,
) -> Response:
    """Operators: close as shipped or wont_fix."""

    def act() -> FeedbackItem:
        return close_feedback(
            control.engine,
            feedback_id,
            values.get("as", ""),
            by=user.name,
            now=control.clock.now(),
            note=values.get("note", ""),
        )

    return _outcome(
        request, control, feedback_id, "Feedback {item.id} is {item.state}.", act, values
    )
