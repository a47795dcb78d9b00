"""`prodloop incident`, `prodloop status update` and `prodloop postmortem draft`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from prodloop.cli.options import config_option, open_store, who_from
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.errors import ValidationError
from prodloop.incidents.comms import list_updates, post_status_update, resolve_incident
from prodloop.incidents.lifecycle import (
    LIST_FILTERS,
    STATUSES,
    acknowledge_incident,
    get_incident,
    list_incidents,
)
from prodloop.incidents.mitigation import mitigate_by_rollback
from prodloop.incidents.postmortem import minutes, parse_action_item, write_postmortem
from prodloop.incidents.timeline import read_timeline


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group()
@config_option
@click.pass_context
def incident(ctx: click.Context, config_file: str | None) -> None:
    """Incidents: list, show with the timeline, acknowledge, mitigate, resolve."""
    ctx.obj = {"config_file": config_file}


@incident.command("list")
@config_option
@click.option(
    "--status",
    "which",
    type=click.Choice(LIST_FILTERS),
    default="all",
    show_default=True,
    help="open, resolved or all incidents",
)
@click.option("--service", default=None, help="only this service's incidents")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def list_command(
    ctx: click.Context, config_file: str | None, which: str, service: str | None, as_json: bool
) -> None:
    """List incidents, the most recent first."""
    _, engine = open_store(ctx, config_file)
    found = list_incidents(engine, which=which, service=service)
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in found], indent=2))
        return
    if not found:
        click.echo("no incidents")
        return
    rows = [
        [str(i.id), i.severity, i.status, i.service, i.assignee or "-", _when(i.detected_at),
         i.title]
        for i in found
    ]  # fmt: skip
    headers = ("id", "severity", "status", "service", "assignee", "detected", "title")
    click.echo(render_table(headers, rows))


@incident.command()
@config_option
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def show(ctx: click.Context, config_file: str | None, incident_id: int, as_json: bool) -> None:
    """Show incident ID with its timeline and public updates."""
    _, engine = open_store(ctx, config_file)
    with engine.connect() as conn:
        found = get_incident(conn, incident_id, field="ID")
        timeline = read_timeline(conn, incident_id)
        updates = list_updates(conn, incident_id)
    if as_json:
        payload = {
            **found.to_dict(),
            "timeline": [e.to_dict() for e in timeline],
            "updates": [u.to_dict() for u in updates],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.secho(f"incident {found.id}: {found.title}", bold=True)
    click.echo(
        f"{found.severity} · {found.status} · {found.service} · assignee "
        f"{found.assignee or 'none'} · detected {_when(found.detected_at)}"
    )
    first = found.first_update_at
    click.echo(
        "time to first update: "
        + (minutes(first - found.detected_at) if first is not None else "none posted yet")
    )
    click.echo("\ntimeline:")
    for entry in timeline:
        actor = f" ({entry.actor})" if entry.actor else ""
        click.echo(f"  {_when(entry.at)}  {entry.kind}{actor}: {entry.message}")


@incident.command()
@config_option
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--by", default=None, help="who acknowledges (default: $USER)")
@click.pass_context
def ack(ctx: click.Context, config_file: str | None, incident_id: int, by: str | None) -> None:
    """Acknowledge incident ID and its firing alerts (escalation stops)."""
    who = who_from(by)
    _, engine = open_store(ctx, config_file)
    found = acknowledge_incident(engine, incident_id, who, SystemClock().now())
    click.echo(f"incident {found.id} acknowledged at {_when(found.acknowledged_at)}")


@incident.command()
@config_option
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--rollback", "is_rollback", is_flag=True, help="roll back to the previous version")
@click.option("--by", default=None, help="who mitigates (default: $USER)")
@click.pass_context
def mitigate(
    ctx: click.Context, config_file: str | None, incident_id: int, is_rollback: bool, by: str | None
) -> None:
    """Mitigate incident ID: --rollback returns its service to the previous stable version."""
    if not is_rollback:
        raise ValidationError("say how to mitigate (only --rollback is known)", field="--rollback")
    who = who_from(by)
    config, engine = open_store(ctx, config_file)
    done = mitigate_by_rollback(engine, config, incident_id, SystemClock().now(), by=who)
    assert done.rollback is not None
    click.echo(
        f"incident {incident_id}: {done.rollback.service} rolled back from "
        f"{done.rollback.from_version} to {done.rollback.to_version}"
    )


@incident.command()
@config_option
@click.argument("incident_id", metavar="ID", type=int)
@click.option("--by", default=None, help="who resolves (default: $USER)")
@click.option("--message", default=None, help="the public 'resolved' update")
@click.pass_context
def resolve(
    ctx: click.Context,
    config_file: str | None,
    incident_id: int,
    by: str | None,
    message: str | None,
) -> None:
    """Resolve incident ID with a public 'resolved' update."""
    who = who_from(by)
    _, engine = open_store(ctx, config_file)
    resolve_incident(engine, incident_id, who, SystemClock().now(), message=message)
    click.echo(f"incident {incident_id} resolved")


@click.group()
@config_option
@click.pass_context
def status(ctx: click.Context, config_file: str | None) -> None:
    """Public status updates of incidents."""
    ctx.obj = {"config_file": config_file}


@status.command()
@config_option
@click.argument("incident_id", metavar="INCIDENT", type=int)
@click.option("--status", "new_status", required=True, help=" | ".join(STATUSES))
@click.option("--message", required=True, help="what the public status page says")
@click.option("--by", default=None, help="who posts it (default: $USER)")
@click.pass_context
def update(
    ctx: click.Context,
    config_file: str | None,
    incident_id: int,
    new_status: str,
    message: str,
    by: str | None,
) -> None:
    """Post a status update on INCIDENT to the public status page."""
    who = who_from(by)
    _, engine = open_store(ctx, config_file)
    posted = post_status_update(engine, incident_id, new_status, message, who, SystemClock().now())
    click.echo(f"incident {incident_id} is {posted.status}: update {posted.id} published")


@click.group()
@config_option
@click.pass_context
def postmortem(ctx: click.Context, config_file: str | None) -> None:
    """Post-mortems of incidents."""
    ctx.obj = {"config_file": config_file}


@postmortem.command()
@config_option
@click.argument("incident_id", metavar="INCIDENT", type=int)
@click.option("--output-dir", type=click.Path(path_type=Path), default=None,
              help="folder to write to (default: incidents.postmortem_dir)")  # fmt: skip
@click.option("--action", "actions", multiple=True,
              help="an action item 'description;owner;backlog-id'; repeatable")  # fmt: skip
@click.option("--force", is_flag=True, help="replace an existing draft")
@click.pass_context
def draft(
    ctx: click.Context,
    config_file: str | None,
    incident_id: int,
    output_dir: Path | None,
    actions: tuple[str, ...],
    force: bool,
) -> None:
    """Write a post-mortem draft of INCIDENT, filled in from its data."""
    items = [parse_action_item(text) for text in actions]
    config, engine = open_store(ctx, config_file)
    path = write_postmortem(engine, config, incident_id, SystemClock().now(),
                            output_dir=output_dir, action_items=items, overwrite=force)  # fmt: skip
    click.echo(f"wrote {path}")
