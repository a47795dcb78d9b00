"""`prodloop backlog`: what to build next, ranked by RICE."""

from __future__ import annotations

import json

import click

from prodloop.cli.options import config_option
from prodloop.cli.tables import render_table
from prodloop.clock import SystemClock
from prodloop.config import load_config
from prodloop.feedback.clusters import ensure_clusters
from prodloop.reviews.grooming import groom as rank_backlog
from prodloop.store import connect


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _figure(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


@click.group("backlog")
def backlog() -> None:
    """The backlog: feedback clusters, post-mortem actions and roadmap items, ranked."""


@backlog.command()
@config_option
@click.option("--top", type=click.IntRange(1, 10_000), default=None,
              help="how many items (default: grooming.top)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def groom(config_file: str | None, top: int | None, as_json: bool) -> None:
    """Rank what to build next by reach × impact × confidence / effort."""
    config = load_config(config_file)
    engine = connect(config.store.url)
    now = SystemClock().now()
    # New comments are grouped first, so a complaint made today already counts.
    ensure_clusters(engine, config, now)
    ranked = rank_backlog(engine, config, now)[: top or config.grooming.top]
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in ranked], indent=2))
        return
    if not ranked:
        click.echo("nothing to groom: no open feedback, post-mortem actions or roadmap items")
        return
    rows = [
        [str(i.rank), _short(i.title), i.source, i.backlog_id or "-",
         f"{_figure(i.reach)} {i.reach_unit}", _figure(i.impact), f"{i.confidence * 100:.0f}%",
         _figure(i.effort), f"{i.score:.1f}"]
        for i in ranked
    ]  # fmt: skip
    headers = ("#", "item", "source", "backlog", "reach", "impact", "conf.", "effort", "RICE")
    click.echo(render_table(headers, rows))
