"""The launch's timeline in `launch_events`: GA declared, the watch, the post.

The state of the launch is read from its latest events, so a restart resumes a watch
exactly where it stood.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from prodloop.store.schema import launch_events

EventKind = Literal["ga_declared", "watch_started", "watch_passed", "watch_failed", "post_written"]


@dataclass(frozen=True, slots=True)
class LaunchEvent:
    """One step of the launch."""

    id: int
    kind: str
    at: float
    by: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"kind": self.kind, "at": self.at, "by": self.by, "data": self.data}


@dataclass(frozen=True, slots=True)
class Watch:
    """The latest GA watch: when it started, until when, and how it ended (if it has)."""

    started: LaunchEvent
    until: float
    ended: LaunchEvent | None  # watch_passed or watch_failed

    @property
    def is_running(self) -> bool:
        """Started and neither passed nor failed yet."""
        return self.ended is None


def record_event(
    conn: Connection,
    kind: EventKind,
    at: float,
    *,
    by: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one step to the launch's timeline."""
    conn.execute(
        insert(launch_events).values(
            kind=kind,
            at=at,
            by=by,
            data=json.dumps(data, default=str) if data is not None else None,
        )
    )


def read_events(engine: Engine) -> list[LaunchEvent]:
    """Every launch event, oldest first."""
    query = select(launch_events).order_by(launch_events.c.at, launch_events.c.id)
    with engine.connect() as conn:
        return [
            LaunchEvent(
                id=int(row["id"]),
                kind=row["kind"],
                at=float(row["at"]),
                by=row["by"],
                data=json.loads(row["data"]) if row["data"] else {},
            )
            for row in conn.execute(query).mappings()
        ]


def latest_watch(events: list[LaunchEvent]) -> Watch | None:
    """The latest watch_started and the watch_passed/failed that ended it, if any."""
    started_at = [i for i, event in enumerate(events) if event.kind == "watch_started"]
    if not started_at:
        return None
    index = started_at[-1]
    started = events[index]
    ended = next(
        (e for e in events[index + 1 :] if e.kind in ("watch_passed", "watch_failed")), None
    )
    return Watch(started, float(started.data.get("until", started.at)), ended)


def ga_declared_at(events: list[LaunchEvent]) -> float | None:
    """When GA was last declared, unless its watch failed since (then GA is undone)."""
    watch = latest_watch(events)
    if watch is None or (watch.ended is not None and watch.ended.kind == "watch_failed"):
        return None
    declared = [event.at for event in events if event.kind == "ga_declared"]
    return declared[-1] if declared else None
