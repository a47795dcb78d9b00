"""`prodloop analytics funnel|retention|heatmap|events`: product analytics from the store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import click

from prodloop.analytics.events import count_events
from prodloop.analytics.funnel import FunnelQuery, FunnelStep, compute_funnel
from prodloop.analytics.heatmap import MAX_SIDE, MIN_SIDE, build_heatmap
from prodloop.analytics.params import (
    ORDERS,
    check_steps_for_order,
    parse_breakdown,
    parse_order,
    parse_steps,
    parse_time_range,
    parse_window,
)
from prodloop.analytics.retention import MODES, compute_retention, parse_mode
from prodloop.cli.options import config_option, open_store
from prodloop.cli.tables import render_table, utc_minute
from prodloop.clock import SystemClock

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
SIDE = click.IntRange(MIN_SIDE, MAX_SIDE)
until_option = click.option(
    "--until", default=None, help="end of the range: a duration ago or an ISO time (default: now)"
)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}s"


def _step_rows(steps: list[FunnelStep], value: str | None = None) -> list[list[str]]:
    rows = []
    for i, step in enumerate(steps, 1):
        row = [f"{i}. {step.name}", str(step.count), _pct(step.conversion_from_first),
               _pct(step.conversion_from_previous), _seconds(step.median_s_from_previous),
               str(step.drop_off)]  # fmt: skip
        rows.append(row if value is None else [value, *row])
    return rows


@click.group("analytics")
@config_option
@click.pass_context
def analytics(ctx: click.Context, config_file: str | None) -> None:
    """Product analytics: funnels, retention, click heatmaps, event counts."""
    ctx.obj = {"config_file": config_file}


@analytics.command()
@config_option
@click.option("--steps", required=True, help="event names in order, comma-separated (2 or more)")
@click.option("--window", default="14d", show_default=True, help="conversion window from step 1")
@click.option(
    "--order",
    default="sequential",
    show_default=True,
    help=f"{' | '.join(ORDERS)}: steps with other events between, back to back, in any order",
)
@click.option("--breakdown", default=None, help="version | flag:NAME | property:KEY")
@click.option("--since", default="30d", show_default=True, help="first steps from: 30d or a date")
@until_option
@json_option
@click.pass_context
def funnel(
    ctx: click.Context,
    config_file: str | None,
    steps: str,
    window: str,
    order: str,
    breakdown: str | None,
    since: str,
    until: str | None,
    as_json: bool,
) -> None:
    """Users per step, conversion, median time between steps and drop-off."""
    now = SystemClock().now()
    step_names = parse_steps(steps, field="--steps")
    chosen_order = parse_order(order, field="--order")
    check_steps_for_order(step_names, chosen_order, field="--steps")
    query = FunnelQuery(
        steps=tuple(step_names),
        window_s=parse_window(window, field="--window"),
        time_range=parse_time_range(
            since, until, now, since_field="--since", until_field="--until"
        ),
        order=chosen_order,
        breakdown=parse_breakdown(breakdown, field="--breakdown"),
    )
    _, engine = open_store(ctx, config_file)
    result = compute_funnel(engine, query)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    span = query.time_range
    click.echo(
        f"funnel ({query.order}, window {window}), first steps {utc_minute(span.since)} "
        f"to {utc_minute(span.until)}"
    )
    headers = ["step", "users", "from first", "from previous", "median time", "drop-off"]
    click.echo(render_table(headers, _step_rows(result.steps)))
    if query.breakdown is not None:
        rows = [row for group in result.groups for row in _step_rows(group.steps, group.value)]
        click.echo(f"\nby {query.breakdown}:")
        click.echo(render_table([str(query.breakdown), *headers], rows))


@analytics.command()
@config_option
@click.option("--start-event", default=None, help="the event that puts a user in a cohort (any)")
@click.option("--return-event", default=None, help="the event that counts as a return (any)")
@click.option(
    "--mode",
    default="first-time",
    show_default=True,
    help=f"{' | '.join(MODES)}: cohort by the first start event, or every week with one",
)
@click.option("--since", default="8w", show_default=True, help="cohorts from: 8w or a date")
@until_option
@json_option
@click.pass_context
def retention(
    ctx: click.Context,
    config_file: str | None,
    start_event: str | None,
    return_event: str | None,
    mode: str,
    since: str,
    until: str | None,
    as_json: bool,
) -> None:
    """Weekly cohorts and the share of each that came back, week 0..N."""
    now = SystemClock().now()
    chosen = parse_mode(mode, field="--mode")
    span = parse_time_range(since, until, now, since_field="--since", until_field="--until")
    _, engine = open_store(ctx, config_file)
    result = compute_retention(
        engine, span, mode=chosen, start_event=start_event, return_event=return_event
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    weeks = max((len(c.retained) for c in result.cohorts), default=0)
    click.echo(
        f"retention ({chosen}), start: {start_event or 'any event'}, "
        f"return: {return_event or 'any event'}"
    )
    headers = ["cohort (week of)", "users", *[f"week {n}" for n in range(weeks)]]
    rows = [
        [_day(c.week_start), str(c.size)]
        + [
            "" if kept is None else "-" if share is None else f"{share:.1f}%"
            for kept, share in zip(c.retained, c.percentages, strict=True)
        ]
        for c in result.cohorts
    ]
    click.echo(render_table(headers, rows))


def _slug(page: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", page).strip("-")
    return slug or "root"


@analytics.command()
@config_option
@click.option("--page", required=True, help="the page path, e.g. /chat")
@click.option("--output", default=None, help="PNG file to write (default: heatmap-<page>.png)")
@click.option("--since", default="7d", show_default=True, help="clicks from: 7d or a date")
@until_option
@click.option("--width", default=1280, show_default=True, type=SIDE, help="image width, pixels")
@click.option("--height", default=800, show_default=True, type=SIDE, help="image height, pixels")
@json_option
@click.pass_context
def heatmap(
    ctx: click.Context,
    config_file: str | None,
    page: str,
    output: str | None,
    since: str,
    until: str | None,
    width: int,
    height: int,
    as_json: bool,
) -> None:
    """Write a click heatmap of one page as PNG; print the clicks and rage-click spots."""
    now = SystemClock().now()
    span = parse_time_range(since, until, now, since_field="--since", until_field="--until")
    config, engine = open_store(ctx, config_file)
    found = build_heatmap(engine, config.analytics, page, span, width=width, height=height)
    path = Path(output or f"heatmap-{_slug(page)}.png")
    path.write_bytes(found.png)
    if as_json:
        click.echo(json.dumps({**found.to_dict(), "output": str(path)}, indent=2))
        return
    click.echo(f"{found.clicks} clicks on {page}, {len(found.rage_clicks)} rage clicks")
    click.echo(f"wrote {path} ({width}x{height})")
    if found.spots:
        rows = [[f"{s.x:.3f}", f"{s.y:.3f}", str(s.bursts), str(s.users), str(s.clicks)]
                for s in found.spots]  # fmt: skip
        click.echo("\ntop rage-click spots (x, y as shares of the viewport):")
        click.echo(render_table(["x", "y", "bursts", "users", "clicks"], rows))


@analytics.command()
@config_option
@click.option("--since", default="7d", show_default=True, help="from: 7d or a date")
@until_option
@json_option
@click.pass_context
def events(
    ctx: click.Context, config_file: str | None, since: str, until: str | None, as_json: bool
) -> None:
    """Events captured per name: count, users, first and last seen."""
    now = SystemClock().now()
    span = parse_time_range(since, until, now, since_field="--since", until_field="--until")
    _, engine = open_store(ctx, config_file)
    found = count_events(engine, span)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    if not found:
        click.echo("no events in the range")
        return
    rows = [[e.event, str(e.count), str(e.users), utc_minute(e.first_seen), utc_minute(e.last_seen)]
            for e in found]  # fmt: skip
    click.echo(render_table(["event", "count", "users", "first seen", "last seen"], rows))
