"""`prodloop feedback`: the triage board, clusters, backlog links and tracker sync."""

from __future__ import annotations

import json
import re
import time

import click
import httpx

from prodloop.cli.options import config_option, open_store, who_from
from prodloop.cli.tables import render_table, utc_minute
from prodloop.clock import SystemClock
from prodloop.errors import ValidationError
from prodloop.feedback.backlog.links import (
    TRACKERS,
    create_backlog_issue,
    link_backlog,
    sync_backlog,
)
from prodloop.feedback.clusters import (
    ClusterRun,
    ClusterSummary,
    ensure_clusters,
    list_clusters,
    recluster,
)
from prodloop.feedback.items import STATES, FeedbackItem, list_feedback, load_feedback, read_history
from prodloop.feedback.triage import CLOSE_STATES, TRIAGE_STATES, close_feedback, triage_feedback

# Comments are the users' text: a terminal escape sequence in one must not reach the screen.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    return _CONTROL.sub("?", text)


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(_printable(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _waiting(seconds: float) -> None:
    click.echo(f"the tracker is rate limiting; waiting {seconds:.0f}s", err=True)
    time.sleep(seconds)


def _cluster_rows(found: list[ClusterSummary]) -> str:
    rows = [
        [str(c.id), _short(c.label, 50), str(c.count), f"{c.negative_share * 100:.0f}%",
         ", ".join(c.versions) or "-", _short(c.examples[0]["comment"], 40) if c.examples else ""]
        for c in found
    ]  # fmt: skip
    return render_table(("cluster", "label", "count", "negative", "versions", "example"), rows)


@click.group("feedback")
@config_option
@click.pass_context
def feedback(ctx: click.Context, config_file: str | None) -> None:
    """Triage user feedback: list, show, triage, link to the backlog, close, sync, clusters."""
    ctx.obj = {"config_file": config_file}


@feedback.command("list")
@config_option
@click.option("--state", type=click.Choice(STATES), default=None, help="only items in this state")
@click.option("--version", default=None, help="only feedback on this app version")
@click.option("--rating", default=None, help="up, down (thumbs) or a number of stars 1..5")
@click.option("--support", is_flag=True, help="only items flagged for support")
@click.option("--clusters", "as_clusters", is_flag=True, help="one line per cluster instead")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_context
def list_command(
    ctx: click.Context,
    config_file: str | None,
    state: str | None,
    version: str | None,
    rating: str | None,
    support: bool,
    as_clusters: bool,
    limit: int,
    as_json: bool,
) -> None:
    """List feedback, the newest first (or its clusters, the largest first)."""
    config, engine = open_store(ctx, config_file)
    if as_clusters:
        ensure_clusters(engine, config, SystemClock().now())
        found_clusters = list_clusters(engine, limit=limit)
        if as_json:
            click.echo(json.dumps([c.to_dict() for c in found_clusters], indent=2))
        elif not found_clusters:
            click.echo("no comments to group")
        else:
            click.echo(_cluster_rows(found_clusters))
        return
    found = list_feedback(engine, state=state, version=version, rating=rating,
                          is_support=True if support else None, limit=limit)  # fmt: skip
    if as_json:
        click.echo(json.dumps([item.to_dict() for item in found], indent=2))
        return
    if not found:
        click.echo("no feedback")
        return
    rows = [
        [str(i.id), i.state, i.rating_text, i.category or "-", i.version or "-",
         str(i.cluster_id or "-"), ("support " if i.is_support else "") + (i.backlog_id or ""),
         _short(i.comment)]
        for i in found
    ]  # fmt: skip
    headers = ("id", "state", "rating", "category", "version", "cluster", "flags", "comment")
    click.echo(render_table(headers, rows))


def _print_item(item: FeedbackItem) -> None:
    click.secho(f"feedback {item.id} · {item.state}", bold=True)
    details = [
        ("received", f"{utc_minute(item.created_at)} via {item.source}"),
        ("rating", item.rating_text + (" (negative)" if item.is_negative else "")),
        ("category", item.category or "-"),
        ("service", " ".join(x for x in (item.service, item.version) if x) or "-"),
        ("model", item.model or "-"),
        ("flags", item.flags or "-"),
        ("trace", item.trace_id or "-"),
        ("user", item.email or item.user_id or "-"),
        ("page", item.page or "-"),
        ("cluster", str(item.cluster_id) if item.cluster_id is not None else "-"),
        ("backlog", item.backlog_id or "-"),
    ]
    if item.duplicate_of is not None:
        details.append(("duplicate of", str(item.duplicate_of)))
    if item.is_support:
        notified = utc_minute(item.support_notified_at) if item.support_notified_at else "not yet"
        details.append(("support", f"{item.support_reason or 'flagged'} (told: {notified})"))
    for name, value in details:
        click.echo(f"  {name:<13}{_printable(value)}")
    click.echo("\ncomment:")
    for line in (item.comment or "(none)").splitlines() or [""]:
        click.echo("  " + _printable(line))


@feedback.command()
@config_option
@click.argument("feedback_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def show(ctx: click.Context, config_file: str | None, feedback_id: int, as_json: bool) -> None:
    """Show feedback ID with its history."""
    _, engine = open_store(ctx, config_file)
    item = load_feedback(engine, feedback_id, field="ID")
    with engine.connect() as conn:
        history = read_history(conn, [feedback_id])
    if as_json:
        payload = {**item.to_dict(), "history": [h.to_dict() for h in history]}
        click.echo(json.dumps(payload, indent=2))
        return
    _print_item(item)
    click.echo("\nhistory:")
    for entry in history:
        moved = f"{entry.from_state} → {entry.to_state}" if entry.from_state else entry.to_state
        note = f": {_printable(entry.note)}" if entry.note else ""
        click.echo(f"  {utc_minute(entry.at)}  {moved} ({_printable(entry.actor)}){note}")


@feedback.command()
@config_option
@click.argument("feedback_id", metavar="ID", type=int)
@click.option("--state", "to_state", type=click.Choice(TRIAGE_STATES), required=True)
@click.option("--duplicate-of", type=int, default=None, help="the item this one repeats")
@click.option("--note", default="", help="why, for the history")
@click.option("--by", default=None, help="who triages (default: $USER)")
@click.pass_context
def triage(
    ctx: click.Context,
    config_file: str | None,
    feedback_id: int,
    to_state: str,
    duplicate_of: int | None,
    note: str,
    by: str | None,
) -> None:
    """Triage feedback ID: triaged, duplicate (with --duplicate-of) or wont_fix."""
    who = who_from(by)
    _, engine = open_store(ctx, config_file)
    item = triage_feedback(engine, feedback_id, to_state, by=who, now=SystemClock().now(),
                           note=note, duplicate_of=duplicate_of)  # fmt: skip
    extra = f" of {item.duplicate_of}" if item.duplicate_of is not None else ""
    click.echo(f"feedback {item.id} is {item.state}{extra}")


@feedback.command()
@config_option
@click.argument("feedback_id", metavar="ID", type=int)
@click.option("--backlog", "backlog_id", default=None, help="an existing id: GH-123, LIN-ENG-12…")
@click.option("--create", "tracker", type=click.Choice(TRACKERS), default=None,
              help="create the issue in GitHub or Linear and link it")  # fmt: skip
@click.option("--note", default="", help="why, for the history")
@click.option("--by", default=None, help="who links it (default: $USER)")
@click.pass_context
def link(
    ctx: click.Context,
    config_file: str | None,
    feedback_id: int,
    backlog_id: str | None,
    tracker: str | None,
    note: str,
    by: str | None,
) -> None:
    """Link feedback ID to a backlog item (it becomes planned)."""
    if (backlog_id is None) == (tracker is None):
        raise ValidationError(
            "give either --backlog ID or --create github|linear", field="--backlog"
        )
    who = who_from(by)
    config, engine = open_store(ctx, config_file)
    clock = SystemClock()
    if backlog_id is not None:
        item = link_backlog(engine, feedback_id, backlog_id, by=who, now=clock.now(), note=note)
        click.echo(f"feedback {item.id} is planned: {item.backlog_id}")
        return
    assert tracker is not None
    with httpx.Client() as http:
        item, created = create_backlog_issue(engine, config, feedback_id, tracker, by=who,
                                             now=clock.now(), http=http, sleep=_waiting,
                                             clock=clock.now)  # fmt: skip
    click.echo(f"created {created.backlog_id}: {created.url}")
    click.echo(f"feedback {item.id} is planned: {item.backlog_id}")


@feedback.command()
@config_option
@click.argument("feedback_id", metavar="ID", type=int)
@click.option("--as", "as_state", type=click.Choice(CLOSE_STATES), required=True)
@click.option("--duplicate-of", type=int, default=None, help="the item this one repeats")
@click.option("--note", default="", help="why, for the history")
@click.option("--by", default=None, help="who closes it (default: $USER)")
@click.pass_context
def close(
    ctx: click.Context,
    config_file: str | None,
    feedback_id: int,
    as_state: str,
    duplicate_of: int | None,
    note: str,
    by: str | None,
) -> None:
    """Close feedback ID as shipped, wont_fix or duplicate."""
    who = who_from(by)
    _, engine = open_store(ctx, config_file)
    item = close_feedback(engine, feedback_id, as_state, by=who, now=SystemClock().now(),
                          note=note, duplicate_of=duplicate_of)  # fmt: skip
    click.echo(f"feedback {item.id} is {item.state}")


@feedback.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def sync(ctx: click.Context, config_file: str | None, as_json: bool) -> None:
    """Read the state of linked GitHub/Linear issues; close the feedback of finished ones."""
    config, engine = open_store(ctx, config_file)
    clock = SystemClock()
    with httpx.Client() as http:
        outcomes = sync_backlog(engine, config, clock.now(), http=http, sleep=_waiting,
                                clock=clock.now)  # fmt: skip
    if as_json:
        click.echo(json.dumps([o.to_dict() for o in outcomes], indent=2))
        return
    if not outcomes:
        click.echo("no planned feedback waits on a GitHub or Linear issue")
    for outcome in outcomes:
        if outcome.error is not None:
            click.secho(f"{outcome.backlog_id}: {outcome.error}", fg="yellow", err=True)
        elif outcome.closed_as is not None:
            ids = ", ".join(str(i) for i in outcome.feedback_ids) or "none"
            click.echo(f"{outcome.backlog_id} is {outcome.state}: feedback {ids} now "
                       f"{outcome.closed_as}")  # fmt: skip
        else:
            click.echo(f"{outcome.backlog_id} is {outcome.state}")


@feedback.command()
@config_option
@click.option("--refresh", is_flag=True, help="regroup now, even if nothing new arrived")
@click.option("--method", type=click.Choice(("auto", "tfidf", "embeddings")), default=None,
              help="override feedback.clustering.method for this run")  # fmt: skip
@click.option("--min-size", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def clusters(
    ctx: click.Context,
    config_file: str | None,
    refresh: bool,
    method: str | None,
    min_size: int,
    limit: int,
    as_json: bool,
) -> None:
    """Group similar comments and list the groups, the largest first."""
    config, engine = open_store(ctx, config_file)
    now = SystemClock().now()
    run: ClusterRun | None
    if refresh or method is not None:
        run = recluster(engine, config, now, method=method)
    else:
        run = ensure_clusters(engine, config, now)
    if run is not None and not as_json:
        click.echo(f"grouped {run.comments} comments into {run.clusters} clusters "
                   f"({run.method})", err=True)  # fmt: skip
    found = list_clusters(engine, min_size=min_size, limit=limit)
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in found], indent=2))
        return
    if not found:
        click.echo("no comments to group")
        return
    click.echo(_cluster_rows(found))
