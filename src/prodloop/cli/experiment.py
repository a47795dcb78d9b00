"""`prodloop experiment`: A/B tests on a flag's variants, read every day, concluded once."""

from __future__ import annotations

import getpass
import json
import math
from datetime import UTC, datetime

import click
from sqlalchemy.engine import Engine

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table, utc_minute
from prodloop.clock import SystemClock
from prodloop.config import Config, load_config
from prodloop.durations import parse_duration
from prodloop.errors import ValidationError
from prodloop.reviews.experiments import (
    METRICS,
    VERDICTS,
    ExperimentResult,
    conclude,
    create_experiment,
    experiment_results,
    list_experiments,
)
from prodloop.store import connect


def _open(config_file: str | None) -> tuple[Config, Engine]:
    config = load_config(config_file)
    return config, connect(config.store.url)


def parse_started(text: str | None, now: float) -> float:
    """When the split began: a time (ISO 8601, UTC unless it says) or a duration ago."""
    if text is None:
        return now
    try:
        started = now - parse_duration(text)
    except ValidationError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError(
                f"not a time or a duration: {text!r} (like 2026-11-20T09:00 or 3d)",
                field="--started",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        started = moment.timestamp()
    if started > now:
        raise ValidationError("is in the future", field="--started")
    return started


def _number(metric: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if metric == "p95_latency":
        return f"{value:.0f}ms"
    if metric == "cost_per_request":
        return f"${value:.6f}"
    return f"{value * 100:.2f}%"


def _signed(metric: str, value: float | None) -> str:
    """A difference: percentage points for rates, the metric's unit otherwise."""
    if value is None or not math.isfinite(value):
        return "-"
    if metric == "p95_latency":
        return f"{value:+.0f}ms"
    if metric == "cost_per_request":
        return f"{'-' if value < 0 else '+'}${abs(value):.6f}"
    return f"{value * 100:+.2f} pp"


def _print_result(result: ExperimentResult) -> None:
    metric = result.metric.partition(":")[0]
    state = f"concluded {utc_minute(result.concluded_at)}" if result.concluded_at else "running"
    click.secho(
        f"experiment {result.name} · flag {result.flag_key} · {result.metric} · {state}", bold=True
    )
    click.echo(
        f"since {utc_minute(result.started_at)}, until {utc_minute(result.analysed_until)}; "
        f"control {result.control}; always-valid {100 * (1 - result.alpha):g}% intervals"
    )
    rows = []
    for v in result.variants:
        interval = f"[{_number(metric, v.ci_low)}, {_number(metric, v.ci_high)}]"
        change = "" if v.is_control else (
            f"{_signed(metric, v.difference)} [{_signed(metric, v.difference_ci_low)}, "
            f"{_signed(metric, v.difference_ci_high)}]"
        )  # fmt: skip
        rows.append(
            [v.variant + (" (control)" if v.is_control else ""), str(v.users), str(v.units),
             _number(metric, v.value), interval, change or "-",
             "-" if v.p_value is None else f"{v.p_value:.3g}"]
        )  # fmt: skip
    headers = ("variant", "users", result.unit, "value", "interval", "difference", "p")
    click.echo(render_table(headers, rows))
    if result.srm is None:
        click.echo("SRM: not checked (the flag has no percentage split)")
    else:
        srm = result.srm
        word = "MISMATCH" if srm["is_mismatch"] else "ok"
        click.echo(
            f"SRM: {word} (χ² = {srm['statistic']:.2f}, p = {srm['p_value']:.3g}; users "
            + ", ".join(f"{k} {n} of {srm['expected'][k]:.0f} expected"
                        for k, n in srm["observed"].items()) + ")"
        )  # fmt: skip
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.crossovers:
        click.echo(f"note: {result.crossovers} users saw more than one variant (first kept)")
    verdict = result.verdict + (f" {result.winner}" if result.winner else "")
    colour = {"ship": "green", "dont_ship": "red"}.get(result.verdict, "yellow")
    click.secho(f"verdict: {verdict} — {result.reason}", fg=colour)


@click.group("experiment")
def experiment() -> None:
    """A/B tests on feature flags: create, list, read the results, conclude."""


@experiment.command()
@config_option
@click.argument("name")
@click.option("--flag", "flag_key", required=True, help="the flag whose variants are compared")
@click.option("--metric", required=True, help=f"one of {', '.join(METRICS)}")
@click.option("--description", default="", help="what the experiment tries")
@click.option(
    "--started", default=None, help="when the split began: a time or a duration ago (default now)"
)
@click.option("--by", default=getpass.getuser, show_default="the OS user", help="who creates it")
def create(
    config_file: str | None,
    name: str,
    flag_key: str,
    metric: str,
    description: str,
    started: str | None,
    by: str,
) -> None:
    """Create experiment NAME on a flag with two or more variants."""
    _, engine = _open(config_file)
    now = SystemClock().now()
    started_at = parse_started(started, now)
    created = create_experiment(
        engine, name, flag_key, metric, by=by, now=started_at, description=description
    )
    click.echo(
        f"created experiment {created.name}: flag {created.flag_key}, metric {created.metric}, "
        f"from {utc_minute(created.created_at)}"
    )


@experiment.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def list_command(config_file: str | None, as_json: bool) -> None:
    """List experiments, the newest first."""
    _, engine = _open(config_file)
    found = list_experiments(engine)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    if not found:
        click.echo("no experiments")
        return
    rows = [[e.name, e.flag_key, e.metric, utc_minute(e.created_at),
             (e.verdict or "-") if e.concluded_at else "running"] for e in found]  # fmt: skip
    click.echo(render_table(("name", "flag", "metric", "started", "state"), rows))


@experiment.command()
@config_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def results(config_file: str | None, name: str, as_json: bool) -> None:
    """Per variant the metric and its interval, the difference, SRM and the verdict."""
    config, engine = _open(config_file)
    result = experiment_results(engine, config, name, SystemClock().now())
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_result(result)
    if result.concluded_at is None and result.verdict != "keep_running":
        click.echo(f"to record it: prodloop experiment conclude {name}")


@experiment.command("conclude")
@config_option
@click.argument("name")
@click.option(
    "--verdict",
    type=click.Choice(VERDICTS),
    default=None,
    help="record this verdict instead of the test's (to stop before it has one)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def conclude_command(
    config_file: str | None, name: str, verdict: str | None, as_json: bool
) -> None:
    """Stop experiment NAME and record its verdict for the weekly review."""
    config, engine = _open(config_file)
    result = conclude(engine, config, name, SystemClock().now(), verdict=verdict)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_result(result)
