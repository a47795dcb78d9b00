"""The releases page: per service its recent deployments with their lead times, the live
rollout (step, weights, the latest analysis check by check), and the operator's pause,
resume, promote and roll back, through the functions the API calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from prodloop.api.state import ControlState
from prodloop.errors import NotFoundError, ProdloopError
from prodloop.releases.control import (
    pause_rollout,
    promote_rollout,
    resume_rollout,
    rollback,
)
from prodloop.releases.deployments import Deployment, list_deployments
from prodloop.releases.rollouts import Rollout, get_rollout
from prodloop.releases.routing import VersionRoute, service_routes
from prodloop.web.dashboard.auth import Control, CurrentUser, require_role
from prodloop.web.dashboard.csrf import verify_csrf
from prodloop.web.dashboard.service import action_result
from prodloop.web.dashboard.templating import NavItem, register_nav, render
from prodloop.web.dashboard.users import User

router = APIRouter(include_in_schema=False)
register_nav(NavItem("Releases", "/releases", order=10))

ServiceName = Annotated[str, Path(min_length=1, max_length=128)]
POLL_S = 15  # how often a live rollout refreshes
RECENT_DEPLOYMENTS = 10
ACTIONS = ("pause", "resume", "promote", "rollback")


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    """A deployment as the page lists it, with its lead time to live."""

    deployment: Deployment
    lead_time_s: float | None
    lead_time_from: str  # "merge" or "deploy"


def lead_time(deployment: Deployment) -> tuple[float | None, str]:
    """Seconds to live: from the merge when the deploy recorded one, else from the deploy
    itself (its registration); None while the version has not taken all the traffic."""
    if deployment.lead_time_s is not None:
        return deployment.lead_time_s, "merge"
    if deployment.live_at is None:
        return None, "merge" if deployment.merged_at is not None else "deploy"
    return deployment.live_at - deployment.created_at, "deploy"


def span(seconds: float | None) -> str:
    """A duration as people read it: 45s, 12m 5s, 3h 20m, 2d 4h."""
    if seconds is None:
        return "–"
    whole = max(0, round(seconds))
    for size, unit, smaller, sub in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"),
                                     (60, "m", 1, "s")):  # fmt: skip
        if whole >= size:
            rest = (whole % size) // smaller
            return f"{whole // size}{unit}" + (f" {rest}{sub}" if rest else "")
    return f"{whole}s"


def figure(value: Any) -> str:
    """A check's metric value, compactly (rates stay fractions, latencies ms)."""
    if value is None:
        return "–"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)


def reason_text(reason: dict[str, Any] | None) -> str:
    """Why a rollout stopped or paused, in a few words."""
    if not reason:
        return ""
    kind = reason.get("kind")
    if kind == "manual":
        action = reason.get("action")
        return f"{action} by {reason.get('by')}" if action else f"by {reason.get('by')}"
    if kind == "inconclusive":
        return f"{reason.get('analyses')} inconclusive analyses in a row"
    if kind == "page":
        return f"page {reason.get('alertname')} fired: {reason.get('summary')}"
    if kind == "analysis":
        metrics = ", ".join(str(c.get("metric")) for c in reason.get("checks", []))
        return f"{reason.get('failed_analyses')} failed analyses ({metrics})"
    return ", ".join(f"{name}: {value}" for name, value in reason.items())


@dataclass(frozen=True, slots=True)
class RolloutPanel:
    """What the live part of a service's section shows."""

    service: str
    routes: list[VersionRoute]
    configured_stable: str
    rollout: Rollout | None  # the latest, under way or finished
    next_step_at: float | None

    @property
    def latest_analysis(self) -> dict[str, Any] | None:
        if self.rollout is None or not self.rollout.analyses:
            return None
        return self.rollout.analyses[0]


def rollout_panel(control: ControlState, service: str) -> RolloutPanel:
    """A service's weights and latest rollout, read as the API reads them."""
    with control.engine.connect() as conn:
        routes = sorted(
            service_routes(conn, service).values(), key=lambda r: (-r.weight, r.version)
        )
    try:
        rollout: Rollout | None = get_rollout(control.engine, service)
    except NotFoundError:
        rollout = None
    next_step_at = None
    if rollout is not None and rollout.state == "progressing":
        next_step_at = rollout.step_started_at + rollout.hold_s
    return RolloutPanel(
        service, routes, control.config.services[service].stable, rollout, next_step_at
    )


def _quote(text: str) -> str:
    return quote(text, safe="")


def _panel_context(panel: RolloutPanel) -> dict[str, Any]:
    return {
        "panel": panel,
        "service_url": f"/releases/{_quote(panel.service)}",
        "span": span,
        "figure": figure,
        "reason_text": reason_text,
    }


@router.get("/releases")
def releases_page(request: Request, _user: CurrentUser, control: Control) -> Response:
    """Every configured service: its live rollout and its recent deployments."""
    sections = []
    for service in sorted(control.config.services):
        rows = []
        for deployment in list_deployments(
            control.engine, service=service, limit=RECENT_DEPLOYMENTS
        ):
            seconds, since = lead_time(deployment)
            rows.append(DeploymentRow(deployment, seconds, since))
        sections.append({**_panel_context(rollout_panel(control, service)), "deployments": rows})
    return render(request, "releases.html", {"sections": sections, "poll_s": POLL_S})


def _unknown_service(request: Request, service: str) -> Response:
    return render(
        request,
        "_message.html",
        {"ok": False, "message": f"unknown service '{service}'"},
        status_code=404,
    )


@router.get("/releases/{service}/rollout")
def rollout_fragment(
    request: Request, _user: CurrentUser, control: Control, service: ServiceName
) -> Response:
    """The live part of a service's section, for htmx to swap in every few seconds."""
    if service not in control.config.services:
        return _unknown_service(request, service)
    return render(
        request,
        "_releases_rollout.html",
        {**_panel_context(rollout_panel(control, service)), "poll_s": POLL_S},
    )


def _act(control: ControlState, service: str, action: str, by: str) -> str:
    """Do `action` through the API's functions; the sentence that says what happened."""
    engine, config, now = control.engine, control.config, control.clock.now()
    if action == "rollback":
        result = rollback(engine, config, service, now, by=by)
        return f"Rolled back from {result.from_version} to {result.to_version}."
    if action == "pause":
        rollout = pause_rollout(engine, service, now, by=by)
        return f"Paused {rollout.canary_version} at {rollout.weight:g}%."
    if action == "resume":
        rollout = resume_rollout(engine, service, now, by=by)
        return f"Resumed {rollout.canary_version} at {rollout.weight:g}%."
    rollout = promote_rollout(engine, config, service, now, by=by)
    return f"Promoted {rollout.canary_version}: it takes all the traffic."


@router.post("/releases/{service}/{action}", dependencies=[Depends(verify_csrf)])
def post_action(
    request: Request,
    user: Annotated[User, Depends(require_role("operator"))],
    control: Control,
    service: ServiceName,
    action: Annotated[str, Path(max_length=16)],
) -> Response:
    """Operators: pause, resume, promote or roll back; a refusal changes nothing."""
    back = "/releases"
    if service not in control.config.services:
        return action_result(
            request, ok=False, message=f"unknown service '{service}'", status_code=404, back=back
        )
    if action not in ACTIONS:
        message = f"unknown action '{action}' (use {', '.join(ACTIONS)})"
        return action_result(request, ok=False, message=message, status_code=404, back=back)
    try:
        message, ok, status_code = _act(control, service, action, user.name), True, 200
    except ProdloopError as exc:
        message, ok, status_code = exc.message, False, exc.status_code
    if request.headers.get("hx-request") != "true":
        return action_result(request, ok=ok, message=message, status_code=status_code, back=back)
    # htmx swaps the section's live part, with the outcome on top of it.
    context = _panel_context(rollout_panel(control, service))
    return render(
        request,
        "_releases_rollout.html",
        {**context, "poll_s": POLL_S, "message": message, "ok": ok},
        status_code=status_code,
    )
