"""The public status page: its name and address, which services it shows, and how their
states are derived."""

from __future__ import annotations

from pydantic import Field

from prodloop.config.base import Duration, StrictModel


class StatusComponent(StrictModel):
    name: str | None = Field(None, description="display name (default: the service's name)")
    description: str = Field("", description="one public line under the component's name")


class StatusPage(StrictModel):
    name: str = Field("Service status", description="title of the public status page")
    url: str = Field(
        "",
        description="public URL of the page, used in feeds and JSON links "
        "(default: the control plane's address + /status)",
    )
    page_id: str = Field("prodloop", description="page.id in the Statuspage-shaped JSON")
    time_zone: str = Field("Etc/UTC", description="page.time_zone in the JSON")
    components: dict[str, StatusComponent] = Field(
        default_factory=dict,
        description="services shown as components, in order (default: every service)",
    )
    major_outage_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of requests failing (over major_outage_window) that turns a "
        "firing page into major_outage",
    )
    major_outage_window: Duration = Field(
        "5m", description="window the failing share is measured over"
    )
    uptime_days: int = Field(90, ge=1, le=400, description="days of daily uptime bars")
    history_limit: int = Field(50, ge=1, le=500, description="past incidents shown and served")
    refresh_s: float = Field(
        5.0, ge=0, description="longest time a served page may lag the store (in-process cache)"
    )
    max_age_s: int = Field(30, ge=0, description="Cache-Control max-age of public responses")
    drill_view: bool = Field(
        True, description="serve ?drill=1: the page with drill incidents, marked as a drill"
    )
