"""`prodloop launch`: sign-offs, the launch checklist, GA, its status, the exit criteria."""

from __future__ import annotations

import getpass
import json
import sys

import click

from prodloop.cli.options import config_option
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.reviews.checklist import CheckLine, check_launch, format_time
from prodloop.reviews.exit_criteria import Criterion, exit_criteria, parse_quarter, quarter_of
from prodloop.reviews.launch import (
    LaunchNotReady,
    declare_ga,
    launch_status,
    record_signoff,
)
from prodloop.store import connect

json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _line(line: CheckLine | Criterion) -> None:
    mark = click.style("PASS", fg="green") if line.ok else click.style("FAIL", fg="red")
    click.echo(f"{mark}  {line.name:<15} {line.title}")
    click.echo(f"      {line.evidence}")


@click.group()
def launch() -> None:
    """The launch: sign-offs, the checklist, declare GA, status, exit criteria."""


@launch.command()
@config_option
@click.option("--by", required=True, help="who signs off")
@click.option("--role", required=True, help="the role signed for (launch.required_signoffs)")
@click.option("--note", default="", help="anything the sign-off is conditional on")
def signoff(config_file: str | None, by: str, role: str, note: str) -> None:
    """Record a stakeholder's sign-off on the launch checklist."""
    config = load_config(config_file)
    engine = connect(config.store.url)
    done = record_signoff(engine, config, by=by, role=role, note=note, now=SystemClock().now())
    click.echo(f"{done.by} signed off as {done.role} at {format_time(done.at)}")


@launch.command()
@config_option
@json_option
def check(config_file: str | None, as_json: bool) -> None:
    """Evaluate the launch checklist from the data; exit 0 only when every line passes."""
    config = load_config(config_file)
    checklist = check_launch(connect(config.store.url), config, SystemClock().now())
    if as_json:
        click.echo(json.dumps(checklist.to_dict(), indent=2))
    else:
        for line in checklist.lines:
            _line(line)
        failing = checklist.failing
        click.echo()
        if failing:
            names = ", ".join(line.name for line in failing)
            click.echo(
                f"launch checklist: {len(failing)} of {len(checklist.lines)} failing: {names}"
            )
        else:
            click.echo(f"launch checklist: all {len(checklist.lines)} lines pass")
    sys.exit(0 if checklist.ok else 1)


@launch.command("declare-ga")
@config_option
@click.option("--by", default=getpass.getuser, show_default="the OS user", help="who declares")
def declare_ga_command(config_file: str | None, by: str) -> None:
    """Declare GA: once the checklist passes, flip the launch flag to 100 % and watch."""
    config = load_config(config_file)
    engine = connect(config.store.url)
    try:
        result = declare_ga(engine, config, SystemClock().now(), by)
    except LaunchNotReady as refused:
        click.secho("GA refused: the launch checklist fails", fg="red", err=True)
        for line in refused.checklist.failing:
            click.echo(f"FAIL  {line.name}: {line.title} — {line.evidence}", err=True)
        sys.exit(1)
    click.echo(
        f"GA declared by {by}: flag '{result.flag}' serves its on variant to 100 % "
        f"(revision {result.flag_revision})"
    )
    click.echo(
        f"watching until {format_time(result.watch_until)}: a page or a SEV1/SEV2 incident "
        "fails the watch; a clean watch writes the launch post (`prodloop up` runs the watch)"
    )


@launch.command()
@config_option
@json_option
def status(config_file: str | None, as_json: bool) -> None:
    """Where the launch stands: sign-offs, GA, the watch, the launch post."""
    config = load_config(config_file)
    state = launch_status(connect(config.store.url), config, SystemClock().now())
    if as_json:
        click.echo(json.dumps(state.to_dict(), indent=2))
        return
    click.echo(f"{state.stage}: {state.summary}")
    for signoff in state.signoffs:
        note = f" — {signoff.note}" if signoff.note else ""
        click.echo(f"  signed off: {signoff.role} by {signoff.by} {format_time(signoff.at)}{note}")
    for event in state.events:
        detail = event.data.get("reason") or event.data.get("path") or ""
        click.echo(f"  {format_time(event.at)} {event.kind} {detail}".rstrip())


@launch.command("exit-criteria")
@config_option
@click.option("--quarter", default=None, help="e.g. 2026-Q4 (default: the current quarter)")
@json_option
def exit_criteria_command(config_file: str | None, quarter: str | None, as_json: bool) -> None:
    """Evaluate the move to maintenance mode for a quarter; exit 0 only when all hold."""
    config = load_config(config_file)
    now = SystemClock().now()
    which = parse_quarter(quarter) if quarter else quarter_of(now, config.reviews.time_zone)
    report = exit_criteria(connect(config.store.url), config, which, now)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        sys.exit(0 if report.ok else 1)
    click.echo(f"exit criteria for {report.quarter} ({report.service})")
    if not report.has_data:
        click.echo(f"no data for {report.quarter}: no requests and no deploys")
    for criterion in report.criteria:
        _line(criterion)
    verdict = "ready for maintenance mode" if report.ok else "not ready for maintenance mode"
    click.echo(f"\n{report.quarter}: {verdict}")
    sys.exit(0 if report.ok else 1)
