"""`prodloop alerts`: list alerts and failed notifications; ack, silence, the delivery log."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from prodloop.alerting.acks import acknowledge, list_alerts, parse_states
from prodloop.alerting.deliveries import (
    Delivery,
    failed_notifications,
    list_attempts,
    list_deliveries,
)
from prodloop.alerting.notifiers import format_value
from prodloop.alerting.paging import paging_details, unit_for
from prodloop.alerting.silences import (
    Silence,
    create_silence,
    expire_silence,
    list_silences,
    parse_matchers,
)
from prodloop.cli.options import config_option, open_store
from prodloop.cli.tables import render_table, utc_minute
from prodloop.clock import SystemClock
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError


def _delivery_line(delivery: Delivery) -> str:
    return (
        f"  #{delivery.id} {delivery.notifier} ({delivery.kind}) {delivery.action} "
        f"alert {delivery.alert_id}: {delivery.attempts} attempt(s), "
        f"last {delivery.last_error or delivery.last_status or '-'} "
        f"at {utc_minute(delivery.last_attempt_at)}"
    )


def _paged(details: dict[str, Any] | None) -> str:
    if details is None:
        return "not yet"
    if details["notified_at"] is None:
        if details["silenced_by"] is not None:
            return f"silenced ({details['silenced_by']})"
        return "no route" if details["route"] is None else "not yet"
    level = details["escalation_level"]
    text = utc_minute(details["notified_at"])
    return text + (f", level {level + 1}" if level is not None else "")


@click.group(invoke_without_command=True)
@config_option
@click.option(
    "--state",
    default="active",
    show_default=True,
    help="pending, firing, resolved (comma list), active or all",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def alerts(ctx: click.Context, config_file: str | None, state: str, as_json: bool) -> None:
    """List pending and firing alerts, and notifications that failed."""
    ctx.obj = {"config_file": config_file}
    if ctx.invoked_subcommand is not None:
        return
    states = parse_states(state)
    config, engine = open_store(ctx, None)
    now = SystemClock().now()
    records = list_alerts(engine, states)
    details = paging_details(engine, [r.id for r in records])
    failed = failed_notifications(engine, now, [r.id for r in records if r.state != "resolved"])
    if as_json:
        payload = {
            "alerts": [{**r.to_dict(), "paging": details.get(r.id)} for r in records],
            "failed_notifications": [d.to_dict() for d in failed],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    if records:
        rows = [
            [
                str(r.id),
                r.state,
                r.alertname,
                r.service,
                r.severity,
                format_value(r.value, unit_for(config, r)),
                format_value(r.threshold, unit_for(config, r)),
                utc_minute(r.fired_at or r.active_at),
                r.acked_by or "-",
                _paged(details.get(r.id)),
            ]
            for r in records
        ]
        headers = ("id", "state", "alert", "service", "severity", "value", "threshold")
        click.echo(render_table((*headers, "since", "acked by", "paged"), rows))
    else:
        click.echo(f"no {' or '.join(states)} alerts")
    if failed:
        click.secho(f"\nfailed notifications ({len(failed)}):", fg="red", bold=True)
        for delivery in failed:
            click.secho(_delivery_line(delivery), fg="red")


@alerts.command()
@config_option
@click.argument("alert_id", metavar="ID", type=int)
@click.option("--by", default=None, help="who acknowledges (default: $USER)")
@click.pass_context
def ack(ctx: click.Context, config_file: str | None, alert_id: int, by: str | None) -> None:
    """Acknowledge alert ID: escalation stops at the next loop tick."""
    who = by or os.environ.get("USER") or ""
    if not who.strip():
        raise ValidationError("say who acknowledges", field="--by")
    _, engine = open_store(ctx, config_file)
    result = acknowledge(engine, alert_id, who, SystemClock().now())
    alert = result.alert
    if result.was_already_acked:
        click.echo(
            f"alert {alert.id} was already acknowledged by {alert.acked_by} "
            f"at {utc_minute(alert.acked_at)}"
        )
    else:
        click.echo(f"acknowledged alert {alert.id} ({alert.alertname} on {alert.service})")


def _silence_line(silence: Silence, now: float) -> str:
    matchers = ",".join(f"{k}={v}" for k, v in sorted(silence.matchers.items()))
    return (
        f"{silence.id}  {silence.status(now)}  {matchers}  until {utc_minute(silence.ends_at)}"
        f"  by {silence.created_by}: {silence.reason}"
    )


@alerts.command()
@config_option
@click.option(
    "--match",
    "matches",
    multiple=True,
    required=True,
    help="label=value; repeatable, every one must match",
)
@click.option("--for", "duration", required=True, help="how long: 30m, 2h, 1d …")
@click.option("--reason", required=True, help="why the alerts are silenced")
@click.option("--by", default=None, help="who silences (default: $USER)")
@click.pass_context
def silence(
    ctx: click.Context,
    config_file: str | None,
    matches: tuple[str, ...],
    duration: str,
    reason: str,
    by: str | None,
) -> None:
    """Silence alerts whose labels match, for a while: they fire but nobody is paged."""
    matchers = parse_matchers(matches, field="--match")
    length = parse_duration(duration, field="--for")
    if length <= 0:
        raise ValidationError("must be longer than zero", field="--for")
    who = by or os.environ.get("USER") or ""
    if not who.strip():
        raise ValidationError("say who silences", field="--by")
    _, engine = open_store(ctx, config_file)
    now = SystemClock().now()
    created = create_silence(
        engine, matchers=matchers, ends_at=now + length, reason=reason, created_by=who, now=now
    )
    click.echo("silenced: " + _silence_line(created, now))


@alerts.command()
@config_option
@click.option("--all", "include_expired", is_flag=True, help="expired silences too")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def silences(
    ctx: click.Context, config_file: str | None, include_expired: bool, as_json: bool
) -> None:
    """List active and pending silences."""
    _, engine = open_store(ctx, config_file)
    now = SystemClock().now()
    found = list_silences(engine, now, include_expired=include_expired)
    if as_json:
        click.echo(json.dumps([s.to_dict(now) for s in found], indent=2))
        return
    if not found:
        click.echo("no silences")
    for item in found:
        click.echo(_silence_line(item, now))


@alerts.command()
@config_option
@click.argument("silence_id", metavar="ID", type=int)
@click.pass_context
def unsilence(ctx: click.Context, config_file: str | None, silence_id: int) -> None:
    """Lift silence ID now."""
    _, engine = open_store(ctx, config_file)
    now = SystemClock().now()
    lifted = expire_silence(engine, silence_id, now)
    click.echo("lifted: " + _silence_line(lifted, now))


@alerts.command()
@config_option
@click.option("--state", default=None, help="pending, sent or failed")
@click.option("--alert", "alert_id", type=int, default=None, help="only this alert's")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON, with every attempt")
@click.pass_context
def deliveries(
    ctx: click.Context,
    config_file: str | None,
    state: str | None,
    alert_id: int | None,
    limit: int,
    as_json: bool,
) -> None:
    """The delivery log: every notification, its attempts and where it stands."""
    _, engine = open_store(ctx, config_file)
    found = list_deliveries(engine, state=state, alert_id=alert_id, limit=limit)
    if as_json:
        attempts = list_attempts(engine, delivery_ids=[d.id for d in found], limit=10_000)
        payload = [
            {**d.to_dict(), "attempt_log": [a.to_dict() for a in attempts if a.delivery_id == d.id]}
            for d in found
        ]
        click.echo(json.dumps(payload, indent=2))
        return
    if not found:
        click.echo("no deliveries")
        return
    rows = [
        [
            str(d.id),
            d.notifier,
            d.action,
            str(d.alert_id),
            d.state,
            str(d.attempts),
            str(d.last_status or "-"),
            utc_minute(d.created_at),
            utc_minute(d.next_attempt_at) if d.state == "pending" else "-",
            d.last_error or "",
        ]
        for d in found
    ]
    headers = ("id", "notifier", "action", "alert", "state", "attempts", "status", "created")
    click.echo(render_table((*headers, "next try", "error"), rows))
