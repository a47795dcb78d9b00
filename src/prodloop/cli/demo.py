"""`prodloop demo` and `prodloop demo-upstream`."""

from __future__ import annotations

import click

from prodloop.config import StoreConfig


@click.command()
@click.option(
    "--store",
    "store_url",
    envvar="PRODLOOP_DATABASE_URL",
    default=StoreConfig().url,
    show_default=True,
    help="store to record the demo in",
)
@click.option(
    "--requests",
    default=300,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="requests per service",
)
@click.option(
    "--concurrency",
    default=12,
    show_default=True,
    type=click.IntRange(1, 512),
    help="requests in flight at once",
)
def demo(store_url: str, requests: int, concurrency: int) -> None:
    """Run a fake LLM upstream, the gateway and a burst of traffic; print what was measured."""
    from prodloop.cli.tables import sli_table
    from prodloop.demo.run import run_demo
    from prodloop.demo.traffic import TrafficPlan

    plan = TrafficPlan(requests=requests, concurrency=concurrency)
    report = run_demo(store_url, plan, click.echo)
    click.echo("")
    for service, result in report.traffic.items():
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))
        click.echo(f"{service}: client saw {statuses}; transport failures {result.failures}")
    click.echo(f"events written {report.written}, dropped {report.dropped}")
    click.echo("")
    click.echo(sli_table(report.slis))
    click.echo("")
    click.echo("run `prodloop stats --since 1h` to see it again; `prodloop up` to run for real")


@click.command("demo-upstream")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--profile",
    default="realistic",
    show_default=True,
    help="fast | realistic | slow | flaky | demo",
)
def demo_upstream(host: str, port: int, profile: str) -> None:
    """Serve a fake OpenAI-compatible upstream with a latency/error/token profile."""
    from prodloop.demo.upstream import PROFILES, run_upstream

    if profile not in PROFILES:
        raise click.BadParameter(
            f"unknown profile '{profile}' (use {', '.join(PROFILES)})", param_hint="--profile"
        )
    click.echo(f"fake upstream '{profile}' on http://{host}:{port}/v1")
    run_upstream(host, port, PROFILES[profile])
