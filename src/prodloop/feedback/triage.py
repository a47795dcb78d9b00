"""Triage: the states a piece of feedback moves through, and who moved it when.

new → triaged → planned (linked to a backlog item) → shipped; at any open step it can
instead be closed as a duplicate of another item or as won't fix. A duplicate or won't
fix can be reopened (back to triaged); shipped is final, since a regression arrives as
new feedback. Every change writes a `feedback_history` row in the same transaction, and
the update only applies if the item is still in the state it was read in, so two people
triaging at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection, Engine

from prodloop.alerting.acks import check_actor
from prodloop.errors import ProdloopError, ValidationError
from prodloop.feedback.items import (
    STATES,
    FeedbackItem,
    State,
    check_state,
    feedback_item,
    get_feedback,
)
from prodloop.store.schema import backlog_items, feedback, feedback_history

TRANSITIONS: Mapping[str, tuple[State, ...]] = {
    "new": ("triaged", "planned", "duplicate", "wont_fix"),
    "triaged": ("planned", "duplicate", "wont_fix"),
    "planned": ("shipped", "triaged", "duplicate", "wont_fix"),
    "shipped": (),
    "duplicate": ("triaged",),
    "wont_fix": ("triaged",),
}
TRIAGE_STATES: tuple[State, ...] = ("triaged", "duplicate", "wont_fix")
CLOSE_STATES: tuple[State, ...] = ("shipped", "wont_fix", "duplicate")
MAX_NOTE_CHARS = 2000


class TransitionError(ProdloopError):
    """The item's current state does not allow the asked-for one."""

    status_code = 409


def allowed_next(state: str) -> tuple[State, ...]:
    return TRANSITIONS.get(state, ())


def _refuse(item: FeedbackItem, to_state: str, field: str) -> TransitionError:
    allowed = allowed_next(item.state)
    options = ", ".join(allowed) if allowed else "none: it is final"
    return TransitionError(
        f"feedback {item.id} cannot go from {item.state} to {to_state} "
        f"(from {item.state}: {options})",
        field=field,
    )


def _check_note(note: str) -> str:
    if len(note) > MAX_NOTE_CHARS:
        raise ValidationError(f"at most {MAX_NOTE_CHARS} characters", field="note")
    return note.strip()


def record_change(
    conn: Connection,
    item: FeedbackItem,
    to_state: State,
    *,
    by: str,
    note: str,
    now: float,
    values: Mapping[str, object] | None = None,
    field: str = "state",
) -> FeedbackItem:
    """Move `item` to `to_state` (with extra column `values`) and write its history row."""
    if to_state not in allowed_next(item.state):
        raise _refuse(item, to_state, field)
    changed = conn.execute(
        update(feedback)
        .where(and_(feedback.c.id == item.id, feedback.c.state == item.state))
        .values(state=to_state, updated_at=now, **dict(values or {}))
    )
    if changed.rowcount != 1:
        # Someone else moved it since it was read: say where it is now.
        current = get_feedback(conn, item.id)
        raise TransitionError(
            f"feedback {item.id} changed to {current.state} meanwhile; look again", field=field
        )
    conn.execute(
        insert(feedback_history).values(
            feedback_id=item.id,
            at=now,
            actor=by,
            from_state=item.state,
            to_state=to_state,
            note=note,
        )
    )
    return get_feedback(conn, item.id)


def _duplicate_target(conn: Connection, item: FeedbackItem, duplicate_of: int | None) -> int:
    if duplicate_of is None:
        raise ValidationError(
            "a duplicate needs the id of the item it repeats", field="duplicate_of"
        )
    if duplicate_of == item.id:
        raise ValidationError("an item cannot duplicate itself", field="duplicate_of")
    original = get_feedback(conn, duplicate_of, field="duplicate_of")
    # Point at the original, not at another duplicate, so chains never form.
    return original.duplicate_of if original.duplicate_of is not None else original.id


def change_state(
    engine: Engine,
    feedback_id: int,
    to_state: str,
    *,
    by: str,
    now: float,
    note: str = "",
    duplicate_of: int | None = None,
    choices: tuple[State, ...] = STATES,
    field: str = "state",
) -> FeedbackItem:
    """Move an item to `to_state` if its current state allows it; the updated item."""
    target = check_state(to_state, field=field)
    if target not in choices:
        raise ValidationError(f"'{to_state}' is not one of {', '.join(choices)}", field=field)
    if target == "planned":
        raise ValidationError("an item is planned by linking it to a backlog item", field=field)
    actor = check_actor(by, doing="changes it")
    text = _check_note(note)
    if duplicate_of is not None and target != "duplicate":
        raise ValidationError("only a duplicate names another item", field="duplicate_of")
    with engine.begin() as conn:
        item = get_feedback(conn, feedback_id)
        values: dict[str, object] = {}
        if target == "duplicate":
            if target in allowed_next(item.state):
                values["duplicate_of"] = _duplicate_target(conn, item, duplicate_of)
        elif item.state == "duplicate":
            values["duplicate_of"] = None
        return record_change(conn, item, target, by=actor, note=text, now=now, values=values,
                             field=field)  # fmt: skip


def triage_feedback(
    engine: Engine,
    feedback_id: int,
    to_state: str,
    *,
    by: str,
    now: float,
    note: str = "",
    duplicate_of: int | None = None,
) -> FeedbackItem:
    """Triage an item: triaged, duplicate (of another item) or wont_fix."""
    return change_state(engine, feedback_id, to_state, by=by, now=now, note=note,
                        duplicate_of=duplicate_of, choices=TRIAGE_STATES)  # fmt: skip


def close_feedback(
    engine: Engine,
    feedback_id: int,
    as_state: str,
    *,
    by: str,
    now: float,
    note: str = "",
    duplicate_of: int | None = None,
) -> FeedbackItem:
    """Close an item as shipped, wont_fix or duplicate."""
    return change_state(engine, feedback_id, as_state, by=by, now=now, note=note,
                        duplicate_of=duplicate_of, choices=CLOSE_STATES, field="as")  # fmt: skip


def link_in(
    conn: Connection,
    feedback_id: int,
    backlog_id: str,
    *,
    by: str,
    now: float,
    note: str = "",
) -> FeedbackItem:
    """Link an item to a backlog item already in `backlog_items`: it becomes planned."""
    item = get_feedback(conn, feedback_id)
    if item.state == "planned" and item.backlog_id == backlog_id:
        return item
    if item.state == "planned":
        # Moved to another backlog item: the state stays, the history says so.
        conn.execute(
            update(feedback)
            .where(feedback.c.id == item.id)
            .values(backlog_id=backlog_id, updated_at=now)
        )
        conn.execute(
            insert(feedback_history).values(
                feedback_id=item.id, at=now, actor=by, from_state="planned", to_state="planned",
                note=note or f"linked to {backlog_id} (was {item.backlog_id})",
            )
        )  # fmt: skip
        return get_feedback(conn, item.id)
    return record_change(conn, item, "planned", by=by, note=note or f"linked to {backlog_id}",
                         now=now, values={"backlog_id": backlog_id}, field="backlog")  # fmt: skip


def check_link(conn: Connection, feedback_id: int) -> FeedbackItem:
    """The item, if it may be linked (refused before a tracker issue is created for it)."""
    item = get_feedback(conn, feedback_id)
    if item.state != "planned" and "planned" not in allowed_next(item.state):
        raise _refuse(item, "planned", "backlog")
    return item


def ship_linked(
    conn: Connection, backlog_id: str, to_state: str, *, note: str, now: float
) -> list[int]:
    """Close every planned item linked to `backlog_id` (its tracker closed it); their ids."""
    rows = conn.execute(
        select(feedback).where(
            and_(feedback.c.backlog_id == backlog_id, feedback.c.state == "planned")
        )
    ).mappings()
    target = check_state(to_state)
    closed = []
    for row in list(rows):
        item = feedback_item(row)
        record_change(conn, item, target, by="sync", note=note, now=now)
        closed.append(item.id)
    return closed


def backlog_exists(conn: Connection, backlog_id: str) -> bool:
    found = conn.execute(
        select(backlog_items.c.backlog_id).where(backlog_items.c.backlog_id == backlog_id)
    ).first()
    return found is not None
