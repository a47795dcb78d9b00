"""The public status page at /status (no login), a page per incident under
/status/incidents, its Statuspage-shaped JSON under /status/api/v2, the Atom feed, SVG
badges, and the token-protected routes that set component overrides and schedule
maintenance.

Public responses come from an in-process cache: the page is rebuilt from the store at
most every ``statuspage.refresh_s`` seconds (and right after a change made here), each
document is rendered once per build, and its ETag is a hash of its bytes, so a client
revalidating an unchanged page gets a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from prodloop.api.auth import Principal, require_reader
from prodloop.api.caching import etag_matches
from prodloop.api.state import ControlState, get_state
from prodloop.durations import parse_duration
from prodloop.errors import NotFoundError, ValidationError
from prodloop.incidents.statuspage import statuspage_json
from prodloop.incidents.statuspage.badge import COLOURS, LABELS, badge_svg
from prodloop.incidents.statuspage.feed import atom_feed
from prodloop.incidents.statuspage.manual import (
    clear_override,
    create_maintenance,
    require_component,
    set_override,
)
from prodloop.incidents.statuspage.model import (
    DayUptime,
    PublicIncident,
    PublicPage,
    build_page,
    component_names,
    daily_uptime,
    find_incident,
)
from prodloop.telemetry.rollups import DAY_S

UPTIME_REFRESH_S = 60.0  # daily bars move slowly; the 90-day query is the build's dearest
HTML = "text/html; charset=utf-8"
# Incident ids are BIGINT row ids: anything else is no incident, without asking the store.
_INCIDENT_ID = re.compile(r"[0-9]{1,18}")
_IMPACTS = {"none": "None", "minor": "Minor", "major": "Major", "critical": "Critical"}

_templates = Environment(
    loader=PackageLoader("prodloop.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class _Built:
    page: PublicPage
    built_at: float  # monotonic
    bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # name: (body, etag)


class StatusCache:
    """The last built page of each view (production, drill) and its rendered documents."""

    def __init__(self, state: ControlState) -> None:
        self.state = state
        self._built: dict[bool, _Built] = {}
        self._uptime: tuple[float, float, dict[str, tuple[DayUptime, ...]]] | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._built.clear()

    def _uptime_bars(self, now: float) -> dict[str, tuple[DayUptime, ...]]:
        today = now - now % DAY_S
        cached = self._uptime
        if cached and cached[0] == today and time.monotonic() - cached[1] < UPTIME_REFRESH_S:
            return cached[2]
        config = self.state.config
        bars = daily_uptime(
            self.state.engine,
            list(component_names(config)),
            now,
            config.statuspage.uptime_days,
        )
        self._uptime = (today, time.monotonic(), bars)
        return bars

    def _build(self, include_drills: bool) -> _Built:
        now = self.state.clock.now()
        page = build_page(
            self.state.engine,
            self.state.config,
            now,
            include_drills=include_drills,
            uptime=self._uptime_bars(now),
        )
        previous = self._built.get(include_drills)
        if previous is not None and previous.page == page:
            previous.built_at = time.monotonic()  # unchanged: keep the rendered bodies
            # ...but not the pages of incidents older than the page lists: those are read
            # from the store on their own, and may have changed without the page changing.
            listed = {_incident_document(incident.id) for incident in page.incidents}
            rendered = list(previous.bodies.items())  # one call: requests add to it meanwhile
            previous.bodies = {
                name: body
                for name, body in rendered
                if not name.startswith("incidents/") or name in listed
            }
            return previous
        return _Built(page, time.monotonic())

    async def incident(self, built: _Built, incident_id: int) -> PublicIncident | None:
        """An incident of the built view: from the page when listed, else from the store."""
        listed = built.page.incident(str(incident_id))
        if listed is not None:
            return listed
        return await anyio.to_thread.run_sync(
            lambda: find_incident(
                self.state.engine,
                self.state.config,
                incident_id,
                include_drills=built.page.is_drill_view,
            )
        )

    async def page(self, include_drills: bool) -> _Built:
        refresh_s = self.state.config.statuspage.refresh_s
        built = self._built.get(include_drills)
        if built is not None and time.monotonic() - built.built_at < refresh_s:
            return built
        async with self._lock:
            built = self._built.get(include_drills)
            if built is None or time.monotonic() - built.built_at >= refresh_s:
                built = await anyio.to_thread.run_sync(self._build, include_drills)
                self._built[include_drills] = built
        return built


def status_cache(request: Request) -> StatusCache:
    """The app's cache, made on first use."""
    cache: StatusCache | None = getattr(request.app.state, "status_cache", None)
    if cache is None:
        cache = StatusCache(get_state(request))
        request.app.state.status_cache = cache
    return cache


def _time(ts: float | None, fmt: str = "%b %d, %H:%M UTC") -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime(fmt)


def _percent(share: float | None) -> str:
    return "no data" if share is None else f"{share * 100:.2f}%"


def _lasted(seconds: float) -> str:
    """A duration as people read it: 45 min, 2 h 5 min, 3 d 4 h."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def render_html(page: PublicPage) -> bytes:
    template = _templates.get_template("status.html")
    return template.render(
        page=page,
        colours=COLOURS,
        labels=LABELS,
        when=_time,
        percent=_percent,
        iso=statuspage_json.iso,
    ).encode()


def render_incident_html(page: PublicPage, incident: PublicIncident) -> bytes:
    """One incident's page: its impact, affected components, published updates, duration."""
    affected = [
        found.name for key in incident.component_ids if (found := page.component(key)) is not None
    ]
    template = _templates.get_template("status_incident.html")
    return template.render(
        page=page,
        incident=incident,
        affected=affected,
        impacts=_IMPACTS,
        colours=COLOURS,
        when=_time,
        lasted=_lasted,
        iso=statuspage_json.iso,
    ).encode()


def _incident_document(incident_id: str) -> str:
    return f"incidents/{incident_id}"


def _json(render: Callable[[PublicPage], dict[str, Any]]) -> Callable[[PublicPage], bytes]:
    return lambda page: orjson.dumps(render(page))


# name: (render, media type)
_DOCUMENTS: dict[str, tuple[Callable[[PublicPage], bytes], str]] = {
    "index.html": (render_html, HTML),
    "history.atom": (atom_feed, "application/atom+xml; charset=utf-8"),
    **{
        f"api/v2/{name}": (_json(render), "application/json")
        for name, render in statuspage_json.DOCUMENTS.items()
    },
}


def _headers(request: Request, etag: str, is_drill: bool) -> dict[str, str]:
    max_age = get_state(request).config.statuspage.max_age_s
    headers = {
        "Cache-Control": f"public, max-age={max_age}",
        "ETag": etag,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if is_drill:
        headers["X-Robots-Tag"] = "noindex"
    return headers


def _send(
    request: Request,
    built: _Built,
    name: str,
    body: bytes | None = None,
    media_type: str | None = None,
) -> Response:
    """A document of the built view, rendered once per build, or `body` as given."""
    if media_type is None:
        media_type = _DOCUMENTS[name][1] if name in _DOCUMENTS else "image/svg+xml"
    if body is None:
        rendered = built.bodies.get(name)
        if rendered is None:
            data = _DOCUMENTS[name][0](built.page)
            rendered = built.bodies[name] = (data, f'"{hashlib.sha1(data).hexdigest()}"')
        body, etag = rendered
    else:
        etag = f'"{hashlib.sha1(body).hexdigest()}"'
    headers = _headers(request, etag, built.page.is_drill_view)
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


Drill = Annotated[
    bool, Query(alias="drill", description="show drill incidents (a page marked as a drill)")
]


async def _built(request: Request, drill: bool) -> _Built:
    if drill and not get_state(request).config.statuspage.drill_view:
        raise NotFoundError("the drill view is off (statuspage.drill_view)", field="drill")
    return await status_cache(request).page(drill)


public = APIRouter(tags=["status page"])


@public.get("/status", include_in_schema=False)
async def status_html(request: Request, drill: Drill = False) -> Response:
    """The status page: components, 90 days of uptime, incidents, maintenance."""
    return _send(request, await _built(request, drill), "index.html")


@public.get("/status/incidents/{incident_id}", include_in_schema=False)
async def status_incident_html(
    request: Request, incident_id: str, drill: Drill = False
) -> Response:
    """One incident's public page; 404 unless it is published and shown in this view."""
    built = await _built(request, drill)
    missing = NotFoundError(f"no incident '{incident_id}' on the status page", field="incident_id")
    if not _INCIDENT_ID.fullmatch(incident_id):
        raise missing
    key = int(incident_id)
    name = _incident_document(str(key))
    rendered = built.bodies.get(name)
    if rendered is None:
        found = await status_cache(request).incident(built, key)
        if found is None:
            raise missing
        body = render_incident_html(built.page, found)
        rendered = built.bodies[name] = (body, f'"{hashlib.sha1(body).hexdigest()}"')
    # The body itself, not its name: a rebuild in a worker thread may swap `bodies` meanwhile.
    return _send(request, built, name, rendered[0], HTML)


@public.get("/status/history.atom", summary="Atom feed of incidents")
async def status_feed(request: Request, drill: Drill = False) -> Response:
    return _send(request, await _built(request, drill), "history.atom")


@public.get("/status/badge/{component}.svg", summary="SVG badge of a component's state")
async def status_badge(request: Request, component: str, drill: Drill = False) -> Response:
    built = await _built(request, drill)
    found = built.page.component(component)
    if found is None:
        raise NotFoundError(f"no component '{component}' on the status page", field="component")
    return _send(request, built, f"badge/{component}", badge_svg(found))


def _json_route(name: str) -> Callable[..., Any]:
    async def route(request: Request, drill: Drill = False) -> Response:
        return _send(request, await _built(request, drill), f"api/v2/{name}")

    route.__name__ = "status_" + name.replace("/", "_").replace("-", "_").replace(".", "_")
    route.__doc__ = f"Statuspage v2 {name}"
    return route


for _name in statuspage_json.DOCUMENTS:
    public.add_api_route(
        f"/status/api/v2/{_name}", _json_route(_name), methods=["GET"], summary=_name
    )


# --- the token-protected side: overrides and maintenance ---------------------------------

admin = APIRouter(tags=["status page"])
Reader = Annotated[Principal, Depends(require_reader)]
ComponentName = Annotated[str, Path(min_length=1, max_length=128, description="a component")]


def _timestamp(value: Any, field_name: str) -> float:
    """Unix seconds from a number or an ISO 8601 string (UTC when it names no zone)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise ValidationError("must be an ISO 8601 time or Unix seconds", field=field_name)


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ValidationError("must be a string", field=name)
    return value


@admin.put("/api/v1/status/components/{name}", summary="Set a component's state by hand")
def put_component_override(
    request: Request,
    principal: Reader,
    name: ComponentName,
    body: Annotated[dict[str, Any], Body(description="status, reason, and for or expires_at")],
) -> dict[str, Any]:
    """Pin the public state: {"status", "reason", "for": "2h" | "expires_at", "by"}."""
    state = get_state(request)
    known = list(component_names(state.config))
    require_component(name, known, "component")  # before the body: name the real mistake
    now = state.clock.now()
    expires_at: float | None = None
    if body.get("for") is not None:
        expires_at = now + parse_duration(_text(body, "for"), field="for")
    elif body.get("expires_at") is not None:
        expires_at = _timestamp(body["expires_at"], "expires_at")
    override = set_override(
        state.engine,
        name,
        status=_text(body, "status"),
        reason=_text(body, "reason"),
        set_by=_text(body, "by", principal.name),
        now=now,
        known=known,
        expires_at=expires_at,
    )
    status_cache(request).invalidate()
    return override.to_dict()


@admin.delete(
    "/api/v1/status/components/{name}", status_code=204, summary="Lift a component's override"
)
def delete_component_override(
    request: Request, _principal: Reader, name: ComponentName
) -> Response:
    state = get_state(request)
    clear_override(state.engine, name, known=list(component_names(state.config)))
    status_cache(request).invalidate()
    return Response(status_code=204)


@admin.post("/api/v1/status/maintenances", status_code=201, summary="Schedule maintenance")
def post_maintenance(
    request: Request,
    principal: Reader,
    body: Annotated[dict[str, Any], Body(description="components, title, starts_at, ends_at")],
) -> dict[str, Any]:
    """{"components": [...], "title", "message"?, "starts_at", "ends_at", "by"?}."""
    state = get_state(request)
    components = body.get("components")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise ValidationError("must be a list of component names", field="components")
    known = list(component_names(state.config))
    for name in components:
        require_component(name, known, "components")
    for required in ("starts_at", "ends_at"):
        if required not in body:
            raise ValidationError("is required", field=required)
    maintenance = create_maintenance(
        state.engine,
        components=components,
        title=_text(body, "title", ""),
        message=_text(body, "message", ""),
        starts_at=_timestamp(body["starts_at"], "starts_at"),
        ends_at=_timestamp(body["ends_at"], "ends_at"),
        created_by=_text(body, "by", principal.name),
        now=state.clock.now(),
        known=known,
    )
    status_cache(request).invalidate()
    return maintenance.to_dict()


router = APIRouter()
router.include_router(public)
router.include_router(admin)
