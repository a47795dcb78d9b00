"""`prodloop slo export` and `prodloop export grafana`: SLOs and dashboards for other tools."""

from __future__ import annotations

from pathlib import Path

import click

from prodloop.cli.options import config_option
from prodloop.config import load_config
from prodloop.errors import ValidationError
from prodloop.slo.export import render_grafana_dashboard, render_openslo, render_prometheus_rules

output_option = click.option(
    "--output",
    "-o",
    "output",
    default=None,
    metavar="FILE",
    help="write to FILE instead of standard output",
)


def _emit(text: str, output: str | None, what: str) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    path = Path(output)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror}", field="--output") from exc
    click.echo(f"wrote {what} to {path}")


@click.command("export")
@config_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["prometheus", "openslo"]),
    default="prometheus",
    show_default=True,
    help="prometheus: recording and alerting rules; openslo: OpenSLO v1 YAML",
)
@output_option
def slo_export(config_file: str | None, output_format: str, output: str | None) -> None:
    """Export the SLOs and their alerts as Prometheus rules or OpenSLO documents."""
    config = load_config(config_file)
    if output_format == "prometheus":
        _emit(render_prometheus_rules(config), output, "Prometheus rules")
    else:
        _emit(render_openslo(config), output, "OpenSLO documents")


@click.group()
def export() -> None:
    """Export dashboards for other tools."""


@export.command()
@config_option
@output_option
def grafana(config_file: str | None, output: str | None) -> None:
    """Write a Grafana dashboard (JSON) over prodloop's metrics and SLO rules."""
    config = load_config(config_file)
    _emit(render_grafana_dashboard(config), output, "the Grafana dashboard")
