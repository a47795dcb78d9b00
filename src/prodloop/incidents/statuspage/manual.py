"""The page's manual inputs: component overrides and scheduled maintenance windows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from prodloop.errors import NotFoundError, ValidationError
from prodloop.incidents.statuspage.model import COMPONENT_STATES
from prodloop.store.schema import component_overrides, maintenances


@dataclass(frozen=True, slots=True)
class Override:
    component: str
    status: str
    reason: str
    set_by: str
    set_at: float
    expires_at: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "component": self.component,
            "status": self.status,
            "reason": self.reason,
            "set_by": self.set_by,
            "set_at": self.set_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class Maintenance:
    id: int
    components: tuple[str, ...]
    title: str
    message: str
    starts_at: float
    ends_at: float
    created_by: str
    created_at: float

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "components": list(self.components),
            "title": self.title,
            "message": self.message,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def require_component(component: str, known: Sequence[str], field: str) -> None:
    """ValidationError naming `component` unless it is one of the page's components."""
    if component not in known:
        choices = ", ".join(known) or "none configured"
        raise ValidationError(
            f"unknown component '{component}' (choose from {choices})", field=field
        )


def set_override(
    engine: Engine,
    component: str,
    *,
    status: str,
    reason: str,
    set_by: str,
    now: float,
    known: Sequence[str],
    expires_at: float | None = None,
) -> Override:
    """Pin a component's public state until `expires_at` (or until cleared)."""
    require_component(component, known, "component")
    if status not in COMPONENT_STATES:
        raise ValidationError(
            f"'{status}' is not a state (choose from {', '.join(COMPONENT_STATES)})",
            field="status",
        )
    if not reason.strip():
        raise ValidationError("say why the state is set by hand", field="reason")
    if not set_by.strip():
        raise ValidationError("say who sets the state", field="by")
    if expires_at is not None and expires_at <= now:
        raise ValidationError("the override must expire in the future", field="expires_at")
    override = Override(component, status, reason.strip(), set_by.strip(), now, expires_at)
    with engine.begin() as conn:
        conn.execute(
            delete(component_overrides).where(component_overrides.c.component == component)
        )
        conn.execute(insert(component_overrides).values(**override.to_dict()))
    return override


def clear_override(engine: Engine, component: str, *, known: Sequence[str]) -> None:
    """Return a component to its derived state; NotFoundError when none was set,
    ValidationError when it is not a component at all."""
    with engine.begin() as conn:
        result = conn.execute(
            delete(component_overrides).where(component_overrides.c.component == component)
        )
    if not result.rowcount:
        # Checked only now so that an override left by a component since removed from
        # the config can still be lifted.
        require_component(component, known, "component")
        raise NotFoundError(f"component '{component}' has no override", field="component")


def list_overrides(engine: Engine, now: float) -> list[Override]:
    """Overrides in force at `now`."""
    o = component_overrides.c
    query = select(component_overrides).where((o.expires_at.is_(None)) | (o.expires_at > now))
    with engine.connect() as conn:
        return [Override(**row) for row in conn.execute(query.order_by(o.component)).mappings()]


def create_maintenance(
    engine: Engine,
    *,
    components: Sequence[str],
    title: str,
    starts_at: float,
    ends_at: float,
    created_by: str,
    now: float,
    known: Sequence[str],
    message: str = "",
) -> Maintenance:
    """Schedule a maintenance window; its components show under_maintenance while it lasts."""
    if not components:
        raise ValidationError("name at least one component", field="components")
    for component in components:
        require_component(component, known, "components")
    if not title.strip():
        raise ValidationError("must not be empty", field="title")
    if ends_at <= starts_at:
        raise ValidationError("the maintenance must end after it starts", field="ends_at")
    if ends_at <= now:
        raise ValidationError("the maintenance must end in the future", field="ends_at")
    if not created_by.strip():
        raise ValidationError("say who schedules the maintenance", field="by")
    names = tuple(dict.fromkeys(components))
    row = {
        "components": json.dumps(list(names)),
        "title": title.strip(),
        "message": message.strip(),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "created_by": created_by.strip(),
        "created_at": now,
    }
    with engine.begin() as conn:
        key = conn.execute(insert(maintenances).values(**row)).inserted_primary_key
    assert key is not None
    new_id = key[0]
    return Maintenance(
        id=int(new_id),
        components=names,
        title=title.strip(),
        message=message.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by.strip(),
        created_at=now,
    )
