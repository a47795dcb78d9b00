"""Flags in the store: create, change and kill them, with an audit row for every change.

Every change bumps the flag's `revision` and appends a `flag_audit` row (who, when, the
action, the flag's JSON before and after) in the same transaction. An update only lands
on the revision it was computed from, so two concurrent writers never lose a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.errors import NotFoundError, ProdloopError, ValidationError
from prodloop.releases.flags.model import Flag, flag_from_dict, rollout_split
from prodloop.store.schema import flag_audit, flags


class FlagExistsError(ProdloopError):
    """A flag with this key already exists."""

    status_code = 409


class ConcurrentChangeError(ProdloopError):
    """The flag changed between reading and writing it; retry."""

    status_code = 409


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of one flag."""

    flag_key: str
    at: float
    by: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag_key": self.flag_key,
            "at": self.at,
            "by": self.by,
            "action": self.action,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class FlagConfig:
    """Every live flag and the ETag local clients poll with."""

    etag: str
    flags: tuple[Flag, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"etag": self.etag, "flags": {f.key: f.to_dict() for f in self.flags}}


def _flag_from_row(row: RowMapping) -> Flag:
    rollout = json.loads(row["rollout"]) if row["rollout"] else None
    return flag_from_dict(
        {
            "key": row["key"],
            "kind": row["kind"],
            "description": row["description"],
            "variants": json.loads(row["variants"]),
            "default_variant": row["default_variant"],
            "off_variant": row["off_variant"],
            "enabled": bool(row["is_enabled"]),
            "rules": json.loads(row["rules"]),
            "rollout": rollout,
            "sticky_attribute": row["sticky_attribute"],
            "revision": row["revision"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "updated_by": row["updated_by"],
        }
    )


def _row_values(flag: Flag) -> dict[str, Any]:
    return {
        "kind": flag.kind,
        "description": flag.description,
        "variants": json.dumps({v.name: v.value for v in flag.variants}),
        "default_variant": flag.default_variant,
        "off_variant": flag.off_variant,
        "is_enabled": flag.is_enabled,
        "rules": json.dumps([rule.to_dict() for rule in flag.rules]),
        "rollout": json.dumps(flag.rollout.to_dict()) if flag.rollout else None,
        "sticky_attribute": flag.sticky_attribute,
        "revision": flag.revision,
        "created_at": flag.created_at,
        "updated_at": flag.updated_at,
        "updated_by": flag.updated_by,
    }


def _audit(
    conn: Connection, key: str, *, at: float, by: str, action: str, before: Flag | None, after: Flag
) -> None:
    conn.execute(
        insert(flag_audit).values(
            flag_key=key,
            at=at,
            by=by,
            action=action,
            before=json.dumps(before.to_dict()) if before else None,
            after=json.dumps(after.to_dict()),
        )
    )


def create_flag(engine: Engine, flag: Flag, *, by: str, now: float) -> Flag:
    """Store a new flag at revision 1; FlagExistsError if the key is taken."""
    stored = flag.with_changes(revision=1, created_at=now, updated_at=now, updated_by=by)
    with engine.begin() as conn:
        if conn.execute(select(flags.c.key).where(flags.c.key == flag.key)).first():
            raise FlagExistsError(f"flag '{flag.key}' already exists", field="key")
        conn.execute(insert(flags).values(key=stored.key, **_row_values(stored)))
        _audit(conn, stored.key, at=now, by=by, action="create", before=None, after=stored)
    return stored


def _load(conn: Connection, key: str) -> Flag:
    row = conn.execute(select(flags).where(flags.c.key == key)).mappings().first()
    if row is None or row["archived_at"] is not None:
        raise NotFoundError(f"no flag '{key}'", field="key")
    return _flag_from_row(row)


def get_flag(engine: Engine, key: str) -> Flag:
    """The flag stored under `key`; NotFoundError if there is none."""
    with engine.connect() as conn:
        return _load(conn, key)


def list_flags(engine: Engine) -> list[Flag]:
    """Every live flag, by key."""
    query = select(flags).where(flags.c.archived_at.is_(None)).order_by(flags.c.key)
    with engine.connect() as conn:
        return [_flag_from_row(row) for row in conn.execute(query).mappings()]


def update_flag(
    engine: Engine,
    key: str,
    changes: Mapping[str, Any],
    *,
    by: str,
    now: float,
    action: str = "set",
) -> Flag:
    """Apply `changes` (fields of the flag's JSON form) and audit it; the whole flag is
    validated again, so a rule that cannot compile changes nothing."""
    fixed = {"key", "kind", "revision", "created_at", "updated_at", "updated_by"}
    for name in changes:
        if name in fixed:
            raise ValidationError("cannot be changed", field=name)
    with engine.begin() as conn:
        before = _load(conn, key)
        merged = {**before.to_dict(), **changes}
        merged.update(revision=before.revision + 1, updated_at=now, updated_by=by)
        after = flag_from_dict(merged, key=key)
        return _save(conn, before, after, by=by, now=now, action=action)


def _save(conn: Connection, before: Flag, after: Flag, *, by: str, now: float, action: str) -> Flag:
    result = conn.execute(
        update(flags)
        .where(flags.c.key == before.key, flags.c.revision == before.revision)
        .values(**_row_values(after))
    )
    if result.rowcount != 1:
        raise ConcurrentChangeError(f"flag '{before.key}' changed meanwhile; try again")
    _audit(conn, before.key, at=now, by=by, action=action, before=before, after=after)
    return after


def set_rollout(
    engine: Engine,
    key: str,
    percent: float,
    *,
    by: str,
    now: float,
    variant: str | None = None,
    sticky_attribute: str | None = None,
) -> Flag:
    """Serve `variant` to `percent` % (sticky), and turn the flag on."""
    with engine.begin() as conn:
        before = _load(conn, key)
        split = rollout_split(before, percent, variant)
        changes: dict[str, Any] = {
            "rollout": split.to_dict(),
            "enabled": True,
            "revision": before.revision + 1,
            "updated_at": now,
            "updated_by": by,
        }
        if sticky_attribute:
            changes["sticky_attribute"] = sticky_attribute
        after = flag_from_dict({**before.to_dict(), **changes}, key=key)
        return _save(conn, before, after, by=by, now=now, action="rollout")


def kill_flag(engine: Engine, key: str, *, by: str, now: float) -> Flag:
    """Turn the flag off at once: everyone gets its off variant."""
    return update_flag(engine, key, {"enabled": False}, by=by, now=now, action="kill")


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        flag_key=row["flag_key"],
        at=row["at"],
        by=row["by"],
        action=row["action"],
        before=json.loads(row["before"]) if row["before"] else None,
        after=json.loads(row["after"]) if row["after"] else None,
    )


def flag_audit_log(engine: Engine, key: str, *, limit: int = 100) -> list[AuditEntry]:
    """The latest changes of one flag, newest first."""
    query = (
        select(flag_audit)
        .where(flag_audit.c.flag_key == key)
        .order_by(flag_audit.c.at.desc(), flag_audit.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [_entry(row) for row in conn.execute(query).mappings()]


def flag_changes(engine: Engine, start: float, end: float) -> list[AuditEntry]:
    """Every flag change in [start, end), oldest first: annotations beside deploys."""
    query = (
        select(flag_audit)
        .where(flag_audit.c.at >= start, flag_audit.c.at < end)
        .order_by(flag_audit.c.at, flag_audit.c.id)
    )
    with engine.connect() as conn:
        return [_entry(row) for row in conn.execute(query).mappings()]


def config_etag(engine: Engine) -> str:
    """An ETag over every live flag's key and revision: cheap to poll."""
    query = (
        select(flags.c.key, flags.c.revision)
        .where(flags.c.archived_at.is_(None))
        .order_by(flags.c.key)
    )
    with engine.connect() as conn:
        pairs = [f"{key}:{revision}" for key, revision in conn.execute(query)]
    return _etag(pairs)


def _etag(pairs: list[str]) -> str:
    return '"' + hashlib.sha256("\n".join(pairs).encode()).hexdigest()[:32] + '"'


def flag_config(engine: Engine) -> FlagConfig:
    """Every live flag, with the ETag of exactly this set of revisions."""
    live = list_flags(engine)
    return FlagConfig(_etag([f"{f.key}:{f.revision}" for f in live]), tuple(live))


__all__ = [
    "AuditEntry",
    "ConcurrentChangeError",
    "FlagConfig",
    "FlagExistsError",
    "config_etag",
    "create_flag",
    "flag_audit_log",
    "flag_changes",
    "flag_config",
    "get_flag",
    "kill_flag",
    "list_flags",
    "set_rollout",
    "update_flag",
]
