"""`prodloop drill SCENARIO`: run a simulated incident and measure it against its targets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from prodloop.cli.tables import render_table
from prodloop.errors import ValidationError
from prodloop.incidents.drills import DrillReport, run_drill, scenario_named
from prodloop.incidents.drills.remote import (
    API_TOKEN_ENV,
    GATEWAY_KEY_ENV,
    RemoteTarget,
    run_remote_drill,
)

DRILLS_DIR = Path(".prodloop/drills")
DEFAULT_ACK_SPEED = 60.0  # a person gets an hour of simulated time in one real minute


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


def _show(report: DrillReport) -> None:
    rows = [
        [m.name, _seconds(m.seconds), _seconds(m.target_s), m.source, "yes" if m.is_met else "NO"]
        for m in report.measures
    ]
    click.echo(render_table(["step", "measured", "target", "from", "met"], rows))
    click.echo(f"report: {report.report_path}")


@click.command("drill")
@click.argument("scenario")
@click.option(
    "--target",
    default="demo",
    show_default=True,
    help="demo, or the control plane URL of a staging prodloop (needs --gateway)",
)
@click.option("--gateway", "gateway_url", help="the staging gateway's URL (with a URL --target)")
@click.option("--service", default="chat", show_default=True, help="staging service to fault")
@click.option(
    "--speed",
    type=float,
    default=None,
    help="demo: run simulated time N times faster than real time (default 0: as fast as it "
    f"can; {DEFAULT_ACK_SPEED:g} with --no-auto-ack)",
)
@click.option("--no-auto-ack", is_flag=True, help="wait for a person to acknowledge")
@click.option("--output", type=click.Path(path_type=Path), help="drill report file (Markdown)")
@click.option(
    "--runbooks-dir",
    type=click.Path(path_type=Path),
    default=Path("ops/runbooks"),
    show_default=True,
    help="targets come from the covering runbook here, which gets last_drilled set",
)
@click.option("--store", "store_url", help="demo store URL (default: a new SQLite file)")
def drill(
    scenario: str,
    target: str,
    gateway_url: str | None,
    service: str,
    speed: float | None,
    no_auto_ack: bool,
    output: Path | None,
    runbooks_dir: Path,
    store_url: str | None,
) -> None:
    """Run a drill: error-spike, latency-regression, token-cost-spike, upstream-outage.

    Against a URL, the API token comes from $PRODLOOP_API_TOKEN and the gateway key
    from $PRODLOOP_GATEWAY_KEY; error-spike there faults version v2 of --service, so a
    canary v2 must be deployed first.
    """
    chosen = scenario_named(scenario)
    if speed is not None and speed < 0:
        raise ValidationError("--speed must be 0 or more", field="--speed")
    if target != "demo":
        if not target.startswith(("http://", "https://")):
            raise ValidationError("--target is demo or an http(s) URL", field="--target")
        if not gateway_url:
            raise ValidationError("a URL target needs --gateway URL", field="--gateway")
        if speed:
            raise ValidationError("a URL target runs in real time; drop --speed", field="--speed")
        remote = RemoteTarget(
            api_url=target,
            gateway_url=gateway_url,
            api_token=os.environ.get(API_TOKEN_ENV, ""),
            gateway_key=os.environ.get(GATEWAY_KEY_ENV, ""),
            service=service,
        )
        report = run_remote_drill(
            chosen,
            remote,
            is_auto_ack=not no_auto_ack,
            echo=click.echo,
            runbooks_dir=runbooks_dir,
            output=output,
        )
        _show(report)
        sys.exit(0 if report.is_passed else 1)
    if service != "chat":
        raise ValidationError(
            "--service names a staging service; the demo has chat", field="--service"
        )
    if no_auto_ack and not speed:
        speed = DEFAULT_ACK_SPEED
        click.echo(f"--no-auto-ack: pacing at --speed {speed:g} (simulated seconds per second)")
    config_path = DRILLS_DIR / f"{scenario}.yaml"
    if store_url is None:
        DRILLS_DIR.mkdir(parents=True, exist_ok=True)
        db = DRILLS_DIR / f"{scenario}.db"
        db.unlink(missing_ok=True)  # every drill starts from an empty demo store
        store_url = f"sqlite:///{db}"
    click.echo(f"drill store: {store_url} (its config: {config_path})")
    report = run_drill(
        chosen,
        store_url=store_url,
        speed=speed or 0.0,
        is_auto_ack=not no_auto_ack,
        echo=click.echo,
        runbooks_dir=runbooks_dir,
        output=output,
        config_path=config_path,
    )
    _show(report)
    sys.exit(0 if report.is_passed else 1)
