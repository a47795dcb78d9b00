"""`prodloop demo` and `prodloop demo-upstream`."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click


@click.command()
@click.option(
    "--store",
    "store_url",
    default=None,
    help="an empty store to tell the story in (default: the demo folder's own SQLite file)",
)
@click.option(
    "--folder",
    default=".prodloop/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="where the demo writes its config, store, runbooks, reviews and posts",
)
@click.option("--quick", is_flag=True, help="the same story with fewer requests")
def demo(store_url: str | None, folder: Path, quick: bool) -> None:
    """Rehearse the whole launch in compressed time and show where everything is."""
    from prodloop.cli.tables import sli_table
    from prodloop.demo.launch import ADMIN, run_launch_demo
    from prodloop.demo.story import FULL, QUICK

    # The console notifier's lines (pages, acks) would interleave with the narration,
    # which says who was paged; `prodloop up` prints them as usual.
    logging.getLogger("prodloop.alerts").addHandler(logging.NullHandler())
    started = time.perf_counter()
    result = run_launch_demo(folder, click.echo, store_url=store_url, size=QUICK if quick else FULL)
    wall_s = time.perf_counter() - started
    paths, found = result.paths, result.results
    click.echo("")
    click.echo("what the gateway measured over the ten days, by service and version:")
    click.echo(sli_table(result.slis))
    click.echo("")
    click.echo(
        f"{result.requests} requests through the gateway, {result.events} analytics events "
        f"and {result.feedback} feedback submissions through the public ingest, "
        f"in {wall_s:.0f} s of wall time"
    )
    click.echo("\nwhere everything is:")
    artifacts = [
        ("config", str(paths.config)),
        ("store", result.store_url),
        ("post-mortem", found.postmortem),
        ("weekly review", found.weekly_review),
        ("weekly review (HTML)", found.weekly_review_html),
        ("launch post", found.launch_post),
        *(("drill report", path) for path in found.drill_reports),
        ("runbooks (drilled)", str(paths.runbooks)),
    ]
    for label, where in artifacts:
        click.echo(f"  {label + ':':<22}{where or '(not written)'}")
    click.echo("\nexplore it all in the dashboard:")
    click.echo(f"  prodloop up --config {paths.config}")
    click.echo(
        f"  then open http://127.0.0.1:8765/ and log in as {ADMIN} with password "
        f"{result.admin_password} (a throwaway, for this demo store only)"
    )
    click.echo(f"or ask the CLI, e.g. `prodloop launch check --config {paths.config}`")
    if not found.checklist_ok:
        raise click.ClickException("the launch checklist did not pass at the end of the demo")


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
