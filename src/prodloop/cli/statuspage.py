"""`prodloop statuspage`: set a component's public state by hand, schedule maintenance,
and show the page as the public sees it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from prodloop.cli.options import config_option, open_store, who_from
from prodloop.cli.tables import utc_minute
from prodloop.clock import SystemClock
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.incidents.statuspage import statuspage_json
from prodloop.incidents.statuspage.manual import (
    clear_override,
    create_maintenance,
    require_component,
    set_override,
)
from prodloop.incidents.statuspage.model import COMPONENT_STATES, build_page, component_names


def parse_time(text: str, field: str) -> float:
    """Unix seconds from ISO 8601 (UTC when no zone is given)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(
            f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T09:00Z)", field=field
        ) from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@click.group()
def statuspage() -> None:
    """The public status page: component overrides, maintenance, what the public sees."""


@statuspage.command()
@config_option
@click.argument("service")
@click.option(
    "--state",
    type=click.Choice(COMPONENT_STATES),
    default=None,
    help="the public state to show (omit with --clear)",
)
@click.option("--reason", default=None, help="why (kept internal, never shown)")
@click.option("--for", "duration", default=None, help="how long, e.g. 2h (default: until cleared)")
@click.option("--by", default=None, help="who sets it (default: $USER)")
@click.option("--clear", is_flag=True, help="lift the override: back to the derived state")
@click.pass_context
def component(
    ctx: click.Context,
    config_file: str | None,
    service: str,
    state: str | None,
    reason: str | None,
    duration: str | None,
    by: str | None,
    clear: bool,
) -> None:
    """Pin SERVICE's public state, overriding what alerts say."""
    config, engine = open_store(ctx, config_file)
    known = list(component_names(config))
    if clear:
        clear_override(engine, service, known=known)
        click.echo(f"{service}: override lifted")
        return
    require_component(service, known, "SERVICE")
    if state is None:
        raise ValidationError("give --state (or --clear)", field="--state")
    if not reason:
        raise ValidationError("say why with --reason", field="--reason")
    now = SystemClock().now()
    expires_at = None
    if duration is not None:
        expires_at = now + parse_duration(duration, field="--for")
    override = set_override(
        engine,
        service,
        status=state,
        reason=reason,
        set_by=who_from(by, "say who makes the change"),
        now=now,
        known=known,
        expires_at=expires_at,
    )
    click.echo(f"{service}: {override.status} until {utc_minute(override.expires_at)}")


@statuspage.command()
@config_option
@click.option(
    "--component", "components", multiple=True, required=True, help="affected; repeatable"
)
@click.option("--start", required=True, help="ISO 8601 start, e.g. 2026-12-01T09:00Z")
@click.option("--end", required=True, help="ISO 8601 end")
@click.option("--title", required=True, help="public title")
@click.option("--message", default="", help="public details")
@click.option("--by", default=None, help="who schedules it (default: $USER)")
@click.pass_context
def maintenance(
    ctx: click.Context,
    config_file: str | None,
    components: tuple[str, ...],
    start: str,
    end: str,
    title: str,
    message: str,
    by: str | None,
) -> None:
    """Schedule maintenance: its components show under_maintenance while it lasts."""
    config, engine = open_store(ctx, config_file)
    known = list(component_names(config))
    for name in components:
        require_component(name, known, "--component")
    created = create_maintenance(
        engine,
        components=list(components),
        title=title,
        message=message,
        starts_at=parse_time(start, "--start"),
        ends_at=parse_time(end, "--end"),
        created_by=who_from(by, "say who makes the change"),
        now=SystemClock().now(),
        known=known,
    )
    click.echo(
        f"maintenance m{created.id}: {created.title} "
        f"({', '.join(created.components)}) "
        f"{utc_minute(created.starts_at)} - {utc_minute(created.ends_at)}"
    )


@statuspage.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="print summary.json")
@click.pass_context
def show(ctx: click.Context, config_file: str | None, as_json: bool) -> None:
    """Print the page as the public sees it."""
    config, engine = open_store(ctx, config_file)
    page = build_page(engine, config, SystemClock().now())
    if as_json:
        click.echo(json.dumps(statuspage_json.summary(page), indent=2))
        return
    click.echo(f"{page.name}: {page.description}")
    for item in page.components:
        share = item.uptime_share
        uptime = "no data" if share is None else f"{share * 100:.2f}%"
        click.echo(f"  {item.id:<20} {item.status:<22} uptime {uptime}")
    for incident in page.unresolved_incidents:
        click.echo(
            f"  incident {incident.id}: {incident.name} ({incident.status}) "
            f"{page.incident_url(incident)}"
        )
    for window in page.maintenances:
        if window.status != "completed":
            click.echo(f"  maintenance {window.id}: {window.name} ({window.status})")
