"""Feedback ↔ backlog: link to an id, create the tracker's issue, pull its state back.

A typed-in id is linked as is (``GH-123`` and ``LIN-ENG-12`` are understood as GitHub's
and Linear's, so `sync` can read them). Creating an issue summarises the item and, when
it belongs to a cluster, how many people reported the same thing, on which versions, in
their own words (escaped, so a comment's HTML stays text in the tracker).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine

from prodloop.alerting.acks import check_actor
from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.feedback.backlog import CreatedIssue, IssueState, TrackerError
from prodloop.feedback.backlog.github import PREFIX as GITHUB_PREFIX
from prodloop.feedback.backlog.github import GitHubIssues
from prodloop.feedback.backlog.linear import PREFIX as LINEAR_PREFIX
from prodloop.feedback.backlog.linear import LinearIssues
from prodloop.feedback.backlog.retry import Sleep
from prodloop.feedback.items import FeedbackItem, feedback_item
from prodloop.feedback.triage import check_link, link_in, ship_linked
from prodloop.store.schema import backlog_items, feedback

Tracker = Literal["github", "linear"]
TRACKERS: tuple[Tracker, ...] = ("github", "linear")
_BACKLOG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.#/:-]{0,127}$")
TITLE_CHARS = 80
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class BacklogItem:
    backlog_id: str
    tracker: str
    external_id: str | None
    url: str | None
    title: str
    state: str
    created_at: float
    synced_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What `sync` learnt about one backlog item and did to its feedback."""

    backlog_id: str
    state: str | None
    closed_as: str | None  # shipped | wont_fix when the tracker finished it
    feedback_ids: tuple[int, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "feedback_ids": list(self.feedback_ids)}


def check_backlog_id(value: str) -> str:
    text = value.strip()
    if not _BACKLOG_ID.match(text):
        raise ValidationError(
            f"'{value}' is not a backlog id like GH-123 or LIN-ENG-12", field="backlog"
        )
    return text


def _tracker_of(backlog_id: str) -> tuple[str, str | None]:
    if backlog_id.startswith(GITHUB_PREFIX) and backlog_id[len(GITHUB_PREFIX) :].isdigit():
        return "github", backlog_id[len(GITHUB_PREFIX) :]
    if backlog_id.startswith(LINEAR_PREFIX) and len(backlog_id) > len(LINEAR_PREFIX):
        return "linear", backlog_id[len(LINEAR_PREFIX) :]  # Linear reads identifiers too
    return "manual", None


def _backlog_item(row: Any) -> BacklogItem:
    return BacklogItem(
        backlog_id=row["backlog_id"],
        tracker=row["tracker"],
        external_id=row["external_id"],
        url=row["url"],
        title=row["title"] or "",
        state=row["state"],
        created_at=float(row["created_at"]),
        synced_at=row["synced_at"],
    )


def get_backlog_item(conn: Connection, backlog_id: str) -> BacklogItem | None:
    row = (
        conn.execute(select(backlog_items).where(backlog_items.c.backlog_id == backlog_id))
        .mappings()
        .first()
    )
    return _backlog_item(row) if row is not None else None


def _remember(conn: Connection, item: BacklogItem) -> None:
    if get_backlog_item(conn, item.backlog_id) is None:
        conn.execute(insert(backlog_items).values(**item.to_dict()))


def link_backlog(
    engine: Engine, feedback_id: int, backlog_id: str, *, by: str, now: float, note: str = ""
) -> FeedbackItem:
    """Link an item to a backlog id someone typed: it becomes planned."""
    actor = check_actor(by, doing="links it")
    text = check_backlog_id(backlog_id)
    tracker, external_id = _tracker_of(text)
    with engine.begin() as conn:
        check_link(conn, feedback_id)
        _remember(conn, BacklogItem(text, tracker, external_id, None, "", "open", now, None))
        return link_in(conn, feedback_id, text, by=actor, now=now, note=note.strip())


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _quote(text: str) -> str:
    # Markdown trackers render HTML: escaped, a comment's markup is shown, never run.
    escaped = html.escape(text.strip(), quote=False)
    return "\n".join("> " + line for line in escaped.splitlines() or [""])


def summarise(conn: Connection, item: FeedbackItem) -> tuple[str, str]:
    """The issue's title and Markdown body for an item and the reports grouped with it."""
    members = [item]
    if item.cluster_id is not None:
        rows = conn.execute(
            select(feedback)
            .where(and_(feedback.c.cluster_id == item.cluster_id, feedback.c.id != item.id))
            .order_by(feedback.c.created_at.desc())
            .limit(500)
        ).mappings()
        members += [feedback_item(row) for row in rows]
    subject = _one_line(item.comment, TITLE_CHARS) or f"{item.category or 'feedback'} report"
    count = len(members)
    title = f"[feedback] {subject}" + (f" ({count} reports)" if count > 1 else "")
    negative = sum(1 for m in members if m.is_negative)
    versions = sorted({m.version for m in members if m.version})
    lines = [
        f"Reported {count} time{'s' if count != 1 else ''} through prodloop "
        f"(feedback #{item.id}" + (f", cluster {item.cluster_id})." if item.cluster_id else ")."),
        "",
        f"- Negative: {negative} of {count}",
        f"- Versions: {', '.join(versions) if versions else 'unknown'}",
    ]
    if item.service:
        lines.append(f"- Service: {item.service}")
    if item.category:
        lines.append(f"- Category: {item.category}")
    if item.is_support and item.support_reason:
        lines.append(f"- Flagged for support: {html.escape(item.support_reason, quote=False)}")
    examples = [m for m in members if m.comment.strip()][:EXAMPLES]
    if examples:
        lines += ["", "What users said:", ""]
        for member in examples:
            where = ", ".join(x for x in (member.version, member.trace_id) if x)
            lines += [_quote(member.comment), f"> — feedback #{member.id}"
                      + (f" ({html.escape(where, quote=False)})" if where else ""), ""]  # fmt: skip
    return title, "\n".join(lines).rstrip() + "\n"


def _client(
    config: Config,
    tracker: str,
    http: httpx.Client,
    sleep: Sleep,
    now: Callable[[], float],
) -> GitHubIssues | LinearIssues:
    backlog = config.feedback.backlog
    if tracker == "github":
        if backlog.github is None:
            raise ValidationError("GitHub is not configured", field="feedback.backlog.github")
        return GitHubIssues(backlog.github, http, sleep=sleep, now=now)
    if tracker == "linear":
        if backlog.linear is None:
            raise ValidationError("Linear is not configured", field="feedback.backlog.linear")
        return LinearIssues(backlog.linear, http, sleep=sleep, now=now)
    raise ValidationError(f"unknown tracker '{tracker}' (use github or linear)", field="create")


def create_backlog_issue(
    engine: Engine,
    config: Config,
    feedback_id: int,
    tracker: str,
    *,
    by: str,
    now: float,
    http: httpx.Client,
    sleep: Sleep,
    clock: Callable[[], float],
) -> tuple[FeedbackItem, CreatedIssue]:
    """Create the tracker's issue for an item, store its id and URL, and link the item."""
    actor = check_actor(by, doing="links it")
    client = _client(config, tracker, http, sleep, clock)
    with engine.connect() as conn:
        item = check_link(conn, feedback_id)
        title, body = summarise(conn, item)
    created = client.create_issue(title, body)
    record = BacklogItem(created.backlog_id, tracker, created.external_id, created.url,
                         created.title, "open", now, now)  # fmt: skip
    with engine.begin() as conn:
        _remember(conn, record)
        linked = link_in(conn, feedback_id, created.backlog_id, by=actor, now=now,
                         note=f"created {created.backlog_id} {created.url}".strip())  # fmt: skip
    return linked, created


def sync_backlog(
    engine: Engine,
    config: Config,
    now: float,
    *,
    http: httpx.Client,
    sleep: Sleep,
    clock: Callable[[], float],
) -> list[SyncOutcome]:
    """Read the state of every tracker issue planned feedback waits on; close what shipped."""
    planned = (
        select(feedback.c.backlog_id)
        .where(and_(feedback.c.state == "planned", feedback.c.backlog_id.is_not(None)))
        .distinct()
    )
    with engine.connect() as conn:
        items = [
            _backlog_item(row)
            for row in conn.execute(
                select(backlog_items)
                .where(backlog_items.c.backlog_id.in_(planned))
                .where(backlog_items.c.tracker.in_(list(TRACKERS)))
                .order_by(backlog_items.c.backlog_id)
            ).mappings()
        ]
    clients: dict[str, GitHubIssues | LinearIssues] = {}
    outcomes: list[SyncOutcome] = []
    for item in items:
        if item.external_id is None:
            continue
        if item.tracker not in clients:
            clients[item.tracker] = _client(config, item.tracker, http, sleep, clock)
        try:
            state: IssueState = clients[item.tracker].issue_state(item.external_id)
        except TrackerError as exc:
            # One unreadable issue (deleted, moved) must not stop the others' sync.
            outcomes.append(SyncOutcome(item.backlog_id, None, None, (), error=exc.message))
            continue
        with engine.begin() as conn:
            conn.execute(
                update(backlog_items)
                .where(backlog_items.c.backlog_id == item.backlog_id)
                .values(state=state.state, synced_at=now)
            )
            closed: list[int] = []
            if state.outcome == "shipped" or state.outcome == "wont_fix":
                where = "GitHub" if item.tracker == "github" else "Linear"
                note = f"{item.backlog_id} is {state.state} in {where}"
                closed = ship_linked(conn, item.backlog_id, state.outcome, note=note, now=now)
        outcomes.append(SyncOutcome(item.backlog_id, state.state, state.outcome, tuple(closed)))
    return outcomes
