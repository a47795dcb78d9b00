"""`prodloop up`: start the gateway and the control plane."""

from __future__ import annotations

import click

from prodloop.cli.options import config_option
from prodloop.config import load_config
from prodloop.errors import ConfigError


@click.command()
@config_option
@click.option("--gateway-only", is_flag=True, help="run only the gateway (data plane)")
@click.option("--control-only", is_flag=True, help="run only the control plane and the loop")
def up(config_file: str | None, gateway_only: bool, control_only: bool) -> None:
    """Start the gateway (:8080) and the control plane (:8765); Ctrl-C stops cleanly."""
    from prodloop.server import build_runtime, make_processes, run_async, serve

    if gateway_only and control_only:
        raise click.UsageError("--gateway-only and --control-only exclude each other")
    config = load_config(config_file)
    missing = config.missing_secrets()
    if missing:
        raise ConfigError(
            "environment variables are not set for: " + ", ".join(missing),
            path=config_file or "prodloop.yaml",
        )
    if not gateway_only and not config.services:
        click.echo("note: no services are configured; the gateway will answer 404", err=True)
    runtime = build_runtime(config)
    try:
        processes = make_processes(runtime, gateway=not control_only, control=not gateway_only)
    except Exception:
        runtime.pipeline.stop()
        raise

    def ready() -> None:
        if not control_only:
            click.echo(f"gateway        http://{config.gateway.host}:{config.gateway.port}/v1")
        if not gateway_only:
            click.echo(f"control plane  http://{config.control.host}:{config.control.port}/")
        click.echo("press Ctrl-C to stop")

    run_async(serve(runtime, processes, run_loop=not gateway_only, on_ready=ready))
    click.echo(
        f"stopped: {runtime.pipeline.written} events written, {runtime.pipeline.dropped} dropped"
    )
