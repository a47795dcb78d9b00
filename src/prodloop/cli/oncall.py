"""`prodloop oncall`: who is on call now and next, per schedule."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from prodloop.alerting.oncall import Shift, who_is_on_call
from prodloop.api.models import parse_timestamp
from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import load_config


def _local(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _who(shift: Shift) -> str:
    return shift.person + (" (override)" if shift.is_override else "")


@click.command()
@config_option
@click.option("--schedule", default=None, help="only this schedule")
@click.option("--at", "at_text", default=None, help="another moment: ISO 8601 or Unix seconds")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def oncall(
    config_file: str | None, schedule: str | None, at_text: str | None, as_json: bool
) -> None:
    """Show who is on call now (until when) and who is next, per schedule."""
    when = parse_timestamp(at_text, field="--at") if at_text is not None else SystemClock().now()
    config = load_config(config_file)
    found = who_is_on_call(config.paging, when, schedule)
    if as_json:
        click.echo(json.dumps({"at": when, "schedules": [o.to_dict() for o in found]}, indent=2))
        return
    if not found:
        click.echo("no on-call schedules are configured (paging.schedules)")
        return
    rows = [
        [
            item.schedule,
            _who(item.current),
            _local(item.current.end, item.timezone),
            _who(item.next),
            _local(item.next.end, item.timezone),
        ]
        for item in found
    ]
    click.echo(render_table(("schedule", "on call", "until", "next", "until"), rows))
