"""`prodloop deploy`, `prodloop rollout …` and `prodloop rollback`.

They work on the store directly, as the other commands do; the loop inside
`prodloop up` drives the rollout, and `rollout wait` follows it until it ends.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from prodloop.api.models import parse_timestamp
from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import Config, load_config
from prodloop.durations import format_duration, parse_duration
from prodloop.errors import NotFoundError, ValidationError
from prodloop.releases.control import (
    abort_rollout,
    pause_rollout,
    promote_rollout,
    resume_rollout,
    split_traffic,
)
from prodloop.releases.control import rollback as rollback_service
from prodloop.releases.deployments import (
    DeployRequest,
    list_deployments,
    public_key_from_env,
    register_deployment,
)
from prodloop.releases.flags.store import flag_changes
from prodloop.releases.rollouts import Rollout, get_rollout, list_rollouts
from prodloop.releases.signing import read_signature
from prodloop.store import connect

by_option = click.option(
    "--by", default=None, help="who acts, for the history (default: the login name)"
)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _open(config_file: str | None) -> tuple[Config, Engine]:
    config = load_config(config_file)
    return config, connect(config.store.url)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _steps(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationError(f"not a list of numbers: {text!r}", field="steps") from exc


def _describe(rollout: Rollout) -> str:
    steps = "→".join(f"{s:g}" for s in rollout.steps)
    line = (
        f"{rollout.service}: {rollout.canary_version} vs {rollout.stable_version} "
        f"{rollout.state}, canary at {rollout.weight:g}% (steps {steps}, "
        f"hold {format_duration(rollout.hold_s)}), failed analyses {rollout.failed_checks}"
    )
    if rollout.reason:
        line += f"\n  reason: {json.dumps(rollout.reason, default=str)}"
    return line


@click.command()
@config_option
@click.argument("service")
@click.argument("version")
@click.option("--upstream", required=True, help="base URL of the new version, e.g. …/v1")
@click.option("--api-key-env", default=None, help="environment variable with its provider key")
@click.option("--artifact", "artifact_path", default=None, help="the build artifact (a file)")
@click.option(
    "--signature",
    default=None,
    help="the artifact's signature: a file `artifact sign` wrote, or base64",
)
@click.option("--git-sha", default=None, help="commit the version was built from")
@click.option("--merged-at", default=None, help="when it merged: Unix seconds or ISO 8601")
@click.option("--steps", default=None, help="canary weights, e.g. 5,25,50,100")
@click.option("--hold", default=None, help="hold per step, e.g. 5m")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@by_option
def deploy(
    config_file: str | None,
    service: str,
    version: str,
    upstream: str,
    api_key_env: str | None,
    artifact_path: str | None,
    signature: str | None,
    git_sha: str | None,
    merged_at: str | None,
    steps: str | None,
    hold: str | None,
    as_json: bool,
    by: str | None,
) -> None:
    """Deploy VERSION of SERVICE as a canary; the loop promotes or rolls it back."""
    artifact = None
    if artifact_path is not None:
        try:
            artifact = Path(artifact_path).read_bytes()
        except OSError as exc:
            raise ValidationError(f"cannot read {artifact_path}: {exc}", field="artifact") from exc
    request = DeployRequest(
        service=service,
        version=version,
        upstream=upstream,
        deployed_by=_who(by),
        api_key_env=api_key_env,
        steps=_steps(steps),
        hold_s=parse_duration(hold, field="hold") if hold is not None else None,
        git_sha=git_sha,
        merged_at=parse_timestamp(merged_at, field="merged_at") if merged_at else None,
        artifact=artifact,
        signature=read_signature(signature) if signature is not None else None,
    )
    config, engine = _open(config_file)
    deployment = register_deployment(
        engine, config, request, SystemClock().now(), public_key=public_key_from_env()
    )
    rollout = get_rollout(engine, service)
    if as_json:
        click.echo(json.dumps({"deployment": deployment.to_dict(), "rollout": rollout.to_dict()}))
        return
    click.echo(f"deployment {deployment.id}: {service} {version} replaces {rollout.stable_version}")
    click.echo(_describe(rollout))
    click.echo(f"follow it with: prodloop rollout wait {service}")


@click.group()
def rollout() -> None:
    """Follow and control canary rollouts."""


@rollout.command("status")
@config_option
@click.argument("service", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def rollout_status(config_file: str | None, service: str | None, as_json: bool) -> None:
    """The latest rollout of SERVICE (or of every service), and recent deployments."""
    _, engine = _open(config_file)
    if service is not None:
        current = get_rollout(engine, service)
        if as_json:
            click.echo(json.dumps(current.to_dict(), default=str))
            return
        click.echo(_describe(current))
        for analysis in current.analyses[:5]:
            failed = [c.get("metric") for c in analysis["checks"] if c.get("result") == "fail"]
            extra = f" failed: {', '.join(map(str, failed))}" if failed else ""
            click.echo(
                f"  {_when(analysis['at'])} step {analysis['step_index']} "
                f"{analysis['weight']:g}%: {analysis['verdict']}{extra}"
            )
        history = list_deployments(engine, service=service, limit=5)
        rows = [
            [
                str(d.id),
                d.version,
                d.status,
                d.deployed_by,
                _when(d.created_at),
                "-" if d.lead_time_s is None else format_duration(round(d.lead_time_s)),
            ]
            for d in history
        ]
        click.echo(render_table(("id", "version", "status", "by", "deployed", "lead"), rows))
        if history:
            # Flag flips change behaviour as much as deploys do: show them on the same timeline.
            since = min(d.created_at for d in history)
            changes = flag_changes(engine, since, SystemClock().now() + 1)
            if changes:
                click.echo("flag changes since the oldest deploy shown:")
            for change in changes:
                click.echo(
                    f"  {_when(change.at)} {change.flag_key}: {change.action} by {change.by}"
                )
        return
    found = list_rollouts(engine, limit=20)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in found], default=str))
        return
    if not found:
        click.echo("no rollouts yet")
        return
    rows = [
        [r.service, r.canary_version, r.state, f"{r.weight:g}%", r.stable_version,
         _when(r.created_at)]
        for r in found
    ]  # fmt: skip
    click.echo(render_table(("service", "canary", "state", "weight", "stable", "started"), rows))


@rollout.command("wait")
@config_option
@click.argument("service")
@click.option("--timeout", default="30m", show_default=True, help="give up after this long")
@click.option("--interval", default="1s", show_default=True, help="how often to look")
def rollout_wait(config_file: str | None, service: str, timeout: str, interval: str) -> None:
    """Follow the rollout: exit 0 once promoted, 1 on rollback or abort (for CI)."""
    timeout_s = parse_duration(timeout, field="timeout")
    interval_s = max(0.05, parse_duration(interval, field="interval"))
    _, engine = _open(config_file)
    deadline = time.monotonic() + timeout_s
    is_tty = sys.stdout.isatty()
    last_line = ""
    while True:
        current = get_rollout(engine, service, analyses=1)
        filled = int(current.progress * 20)
        bar = "#" * filled + "-" * (20 - filled)
        line = (
            f"[{bar}] {current.canary_version} {current.weight:g}% {current.state} "
            f"(failed analyses {current.failed_checks})"
        )
        if line != last_line:
            click.echo(("\r" + line) if is_tty else line, nl=not is_tty)
            last_line = line
        if not current.is_active:
            if is_tty:
                click.echo()
            if current.state == "promoted":
                click.secho(f"promoted: {current.canary_version} is live", fg="green")
                sys.exit(0)
            reason = json.dumps(current.reason, default=str) if current.reason else "-"
            click.secho(f"{current.state}: {reason}", fg="red", err=True)
            sys.exit(1)
        if time.monotonic() >= deadline:
            if is_tty:
                click.echo()
            click.secho(f"timed out after {timeout} while {current.state}", fg="red", err=True)
            sys.exit(1)
        time.sleep(interval_s)


def _control(action: str) -> click.Command:
    @click.command(action)
    @config_option
    @click.argument("service")
    @by_option
    def command(config_file: str | None, service: str, by: str | None) -> None:
        config, engine = _open(config_file)
        now = SystemClock().now()
        who = _who(by)
        if action == "pause":
            result = pause_rollout(engine, service, now, by=who)
        elif action == "resume":
            result = resume_rollout(engine, service, now, by=who)
        elif action == "promote":
            result = promote_rollout(engine, config, service, now, by=who)
        else:
            result = abort_rollout(engine, config, service, now, by=who)
        click.echo(_describe(result))

    command.help = {
        "pause": "Hold the rollout of SERVICE at its current weight.",
        "resume": "Carry on with a paused rollout of SERVICE.",
        "promote": "Promote the canary of SERVICE now, skipping the remaining steps.",
        "abort": "Stop the rollout of SERVICE: all traffic back on the stable version.",
    }[action]
    return command


for _action in ("pause", "resume", "promote", "abort"):
    rollout.add_command(_control(_action))


@click.command()
@config_option
@click.argument("service")
@by_option
def rollback(config_file: str | None, service: str, by: str | None) -> None:
    """Return all traffic of SERVICE to the previous stable version, now."""
    config, engine = _open(config_file)
    if service not in config.services:
        raise NotFoundError(f"unknown service '{service}'", field="service")
    result = rollback_service(engine, config, service, SystemClock().now(), by=_who(by))
    where = "during its rollout" if result.during_rollout else "after its rollout"
    click.echo(
        f"{service}: rolled back {where} from {result.from_version} to {result.to_version}; "
        "gateways apply it within a second"
    )


def _parse_weights(pairs: tuple[str, ...]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for pair in pairs:
        version, sep, share = pair.partition("=")
        try:
            weights[version.strip()] = float(share)
        except ValueError:
            sep = ""
        if not sep or not version.strip():
            raise ValidationError(f"'{pair}' is not VERSION=PERCENT", field="WEIGHTS")
    return weights


@click.command("weights")
@config_option
@click.argument("service")
@click.argument("weights", nargs=-1, required=True)
@by_option
def weights_command(
    config_file: str | None, service: str, weights: tuple[str, ...], by: str | None
) -> None:
    """Split SERVICE's traffic by hand: VERSION=PERCENT … summing to 100 (e.g. v1=90 v2=10)."""
    config, engine = _open(config_file)
    applied = split_traffic(
        engine, config, service, _parse_weights(weights), SystemClock().now(), by=_who(by)
    )
    shares = ", ".join(f"{version} {share:g}%" for version, share in applied.items())
    click.echo(f"{service}: {shares}; gateways apply it within a second")
