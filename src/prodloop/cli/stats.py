"""`prodloop stats`: the SLIs of a window, by version."""

from __future__ import annotations

import json

import click

from prodloop.cli.options import config_option
from prodloop.cli.tables import sli_table
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.telemetry.sli import query_slis

GROUPS = ("service", "version", "route", "model")


@click.command()
@config_option
@click.option("--service", default=None, help="only this service")
@click.option("--version", "version_name", default=None, help="only this version")
@click.option("--since", default="1h", show_default=True, help="window: 90s, 30m, 1h, 7d …")
@click.option(
    "--by",
    default="service,version",
    show_default=True,
    help="comma list of service, version, route, model",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def stats(
    config_file: str | None,
    service: str | None,
    version_name: str | None,
    since: str,
    by: str,
    as_json: bool,
) -> None:
    """Print the SLIs (requests, errors, latency, TTFT, tokens, cost, guardrails)."""
    window_s = parse_duration(since)
    group_by = [part.strip() for part in by.split(",") if part.strip()]
    for part in group_by:
        if part not in GROUPS:
            raise ValidationError(
                f"cannot group by '{part}' (use {', '.join(GROUPS)})", field="--by"
            )
    config = load_config(config_file)
    engine = connect(config.store.url)
    end = SystemClock().now()
    rows = query_slis(
        engine,
        start=end - window_s,
        end=end,
        service=service,
        version=version_name,
        group_by=group_by,
    )
    if as_json:
        click.echo(
            json.dumps(
                {"start": end - window_s, "end": end, "rows": [r.to_dict() for r in rows]}, indent=2
            )
        )
        return
    click.echo(f"last {since}" + (f", service {service}" if service else ""))
    if not rows or all(r.requests == 0 for r in rows):
        click.echo("no requests in this window")
        return
    click.echo(sli_table(rows))
