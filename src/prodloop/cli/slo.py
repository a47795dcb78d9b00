"""`prodloop slo`: where the SLOs stand (`status`); other modules add subcommands."""

from __future__ import annotations

import json

import click

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.slo.status import SloStatus, slo_status
from prodloop.store import connect

STATUS_HEADERS = (
    "service",
    "SLO",
    "SLI",
    "target",
    "budget left",
    "burn 1h",
    "burn 6h",
    "burn 1d",
    "this week",
)


@click.group()
def slo() -> None:
    """Service level objectives: status, error budgets, burn rates."""


def _value(status: SloStatus, value: float | None) -> str:
    """A value in the unit of the SLO's indicator."""
    if value is None:
        return "-"
    if status.indicator.endswith("_ms"):
        return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"
    if status.indicator.endswith("_usd"):
        return f"${value:.6f}"
    return f"{value * 100:.3f}%"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _met(value: bool | None) -> str:
    return "no traffic" if value is None else ("met" if value else "NOT MET")


def status_rows(statuses: list[SloStatus]) -> list[list[str]]:
    """One table line per service and SLO."""
    rows = []
    for status in statuses:
        budget = status.budget_remaining_pct
        rows.append(
            [
                status.service,
                status.slo,
                _value(status, status.sli),
                f"{status.comparator} {_value(status, status.target)}",
                "-" if budget is None else f"{budget:.1f}%",
                *(_burn(status.burn_rates.get(label)) for label in ("1h", "6h", "1d")),
                _met(status.is_met_this_week),
            ]
        )
    return rows


@slo.command()
@config_option
@click.option("--service", default=None, help="only this service")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def status(config_file: str | None, service: str | None, as_json: bool) -> None:
    """Print each SLO's SLI, target, error budget left, burn rates and this week's verdict."""
    config = load_config(config_file)
    engine = connect(config.store.url)
    try:
        now = SystemClock().now()
        statuses = slo_status(engine, config, now, service=service)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"now": now, "slos": [s.to_dict() for s in statuses]}, indent=2))
        return
    if not statuses:
        click.echo("no services yet: configure one in prodloop.yaml or send traffic")
        return
    days = config.slos.window_days
    click.echo(f"SLOs over the last {days} days; burn rate 1 spends the budget exactly")
    click.echo(render_table(STATUS_HEADERS, status_rows(statuses)))
