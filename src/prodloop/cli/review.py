"""`prodloop review`: the weekly review and the daily check-in."""

from __future__ import annotations

import json

import click

from prodloop.cli.options import config_option
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.reviews.daily import build_daily, post_daily
from prodloop.reviews.data import last_complete_week
from prodloop.reviews.weekly import build_weekly, write_review
from prodloop.store import connect


@click.group("review")
def review() -> None:
    """The weekly metrics review and the daily check-in."""


@review.command()
@config_option
@click.option("--week", default=None, help="ISO week, e.g. 2026-W48 (default: last week)")
@click.option("--output-dir", default=None, help="folder to write to (default: reviews.output_dir)")
def weekly(config_file: str | None, week: str | None, output_dir: str | None) -> None:
    """Write the weekly review as Markdown and self-contained HTML."""
    config = load_config(config_file)
    now = SystemClock().now()
    engine = connect(config.store.url)
    try:
        label = week or last_complete_week(now, config.reviews.time_zone).label
        built = build_weekly(engine, config, label, now)
        md_path, html_path = write_review(engine, config, built, output_dir)
    finally:
        engine.dispose()
    click.echo(built.headline())
    for line in built.regressions:
        click.echo(f"  worse: {line}")
    click.echo(f"wrote {md_path}")
    click.echo(f"wrote {html_path}")


@review.command()
@config_option
@click.option("--day", default=None, help="local day, e.g. 2026-11-27 (default: yesterday)")
@click.option("--post", is_flag=True, help="also post it to the notifiers of reviews.notifiers")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of lines")
def daily(config_file: str | None, day: str | None, post: bool, as_json: bool) -> None:
    """Print the daily check-in: yesterday's SLIs against the SLOs, incidents, deploys,
    new feedback and what changed since the day before."""
    config = load_config(config_file)
    now = SystemClock().now()
    engine = connect(config.store.url)
    try:
        checkin = build_daily(engine, config, day, now)
        queued = post_daily(engine, config, checkin, now) if post else []
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({**checkin.to_dict(), "posted_to": queued}, indent=2))
        return
    click.echo(f"Daily check-in {checkin.day.label} ({checkin.time_zone})")
    for line in checkin.lines():
        click.echo(f"  {line}")
    if post:
        names = ", ".join(queued) or "nobody (set reviews.notifiers)"
        click.echo(f"queued for {names}; the loop sends it")
