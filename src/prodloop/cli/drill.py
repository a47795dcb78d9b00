"""`prodloop drill SCENARIO`: run a simulated incident on a demo store and measure it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from prodloop.cli.tables import render_table
from prodloop.errors import ValidationError
from prodloop.incidents.drills import SCENARIOS, run_drill

DRILLS_DIR = Path(".prodloop/drills")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


@click.command("drill")
@click.argument("scenario")
@click.option("--target", default="demo", show_default=True, help="demo (a URL: not yet)")
@click.option("--speed", type=float, default=0.0, help="unused: drills run in simulated time")
@click.option("--no-auto-ack", is_flag=True, help="wait for a person to acknowledge")
@click.option("--output", type=click.Path(path_type=Path), help="drill report file (Markdown)")
@click.option(
    "--runbooks-dir",
    type=click.Path(path_type=Path),
    default=Path("ops/runbooks"),
    show_default=True,
    help="the covering runbook here gets last_drilled set",
)
@click.option("--store", "store_url", help="store URL (default: a new SQLite file)")
def drill(
    scenario: str,
    target: str,
    speed: float,
    no_auto_ack: bool,
    output: Path | None,
    runbooks_dir: Path,
    store_url: str | None,
) -> None:
    """Run a drill: error-spike, latency-regression, token-cost-spike, upstream-outage."""
    if scenario not in SCENARIOS:
        known = ", ".join(SCENARIOS)
        raise ValidationError(f"unknown scenario {scenario!r}; known: {known}", field="scenario")
    if target != "demo":
        raise ValidationError("a URL target is not supported yet; use demo", field="--target")
    if speed < 0:
        raise ValidationError("--speed must be 0 or more", field="--speed")
    if store_url is None:
        DRILLS_DIR.mkdir(parents=True, exist_ok=True)
        db = DRILLS_DIR / f"{scenario}.db"
        db.unlink(missing_ok=True)  # every drill starts from an empty demo store
        store_url = f"sqlite:///{db}"
    report = run_drill(
        SCENARIOS[scenario],
        store_url=store_url,
        speed=speed,
        is_auto_ack=not no_auto_ack,
        echo=click.echo,
        runbooks_dir=runbooks_dir,
        output=output,
    )
    rows = [
        [m.name, _seconds(m.seconds), _seconds(m.target_s), "yes" if m.is_met else "NO"]
        for m in report.measures
    ]
    click.echo(render_table(["step", "measured", "target", "met"], rows))
    click.echo(f"report: {report.report_path}")
    sys.exit(0 if report.is_passed else 1)
