"""`prodloop review quarterly`: the quarterly retrospective."""

from __future__ import annotations

import click

from prodloop.cli.options import config_option
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.reviews.exit_criteria import parse_quarter, quarter_of
from prodloop.reviews.quarterly import write_quarterly
from prodloop.store import connect


@click.command()
@config_option
@click.option("--quarter", default=None, help="e.g. 2026-Q4 (default: the current quarter)")
@click.option("--output-dir", default=None, help="where to write it (default: reviews.output_dir)")
def quarterly(config_file: str | None, quarter: str | None, output_dir: str | None) -> None:
    """Write the quarterly retrospective: exit criteria, value, success metric, stack."""
    config = load_config(config_file)
    now = SystemClock().now()
    which = parse_quarter(quarter) if quarter else quarter_of(now, config.reviews.time_zone)
    path = write_quarterly(connect(config.store.url), config, which, now, output_dir)
    click.echo(f"quarterly review {which.label} written to {path}")
