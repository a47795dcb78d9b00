"""The weights table: how each service's traffic splits between its versions.

The store's `service_versions` rows are the source of truth; every gateway process polls
them off the request path and applies them, so a promotion or a rollback reaches every
process within one poll interval. A service with no rows yet routes as prodloop.yaml says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine, RowMapping

from prodloop.config import Config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.store.schema import service_versions

Role = str  # stable | canary | retired


@dataclass(frozen=True, slots=True)
class VersionRoute:
    """One version of a service as the gateway needs it: where it lives and its share."""

    service: str
    version: str
    upstream: str
    api_key_ref: str | None  # ${ENV} reference, resolved by the gateway process
    weight: float
    role: Role

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "service": self.service,
            "version": self.version,
            "upstream": self.upstream,
            "api_key_ref": self.api_key_ref,
            "weight": self.weight,
            "role": self.role,
        }


def _route(row: RowMapping) -> VersionRoute:
    return VersionRoute(
        service=str(row["service"]),
        version=str(row["version"]),
        upstream=str(row["upstream"]),
        api_key_ref=str(row["api_key_ref"]) if row["api_key_ref"] is not None else None,
        weight=float(row["weight"]),
        role=str(row["role"]),
    )


def read_routes(engine: Engine) -> dict[str, list[VersionRoute]]:
    """Every service's versions from the store, for the gateway's poll."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(service_versions).order_by(
                service_versions.c.service, service_versions.c.version
            )
        ).mappings()
        routes: dict[str, list[VersionRoute]] = {}
        for row in rows:
            route = _route(row)
            routes.setdefault(route.service, []).append(route)
    return routes


def service_routes(conn: Connection, service: str) -> dict[str, VersionRoute]:
    """One service's versions by name (empty before its first deploy)."""
    rows = conn.execute(
        select(service_versions).where(service_versions.c.service == service)
    ).mappings()
    return {str(row["version"]): _route(row) for row in rows}


def seed_service(conn: Connection, config: Config, service: str, now: float) -> None:
    """Copy a service's versions from prodloop.yaml into the store on its first deploy."""
    if service_routes(conn, service):
        return
    configured = config.services[service]
    for name, version in configured.versions.items():
        is_stable = name == configured.stable
        conn.execute(
            service_versions.insert().values(
                service=service,
                version=name,
                upstream=version.upstream,
                api_key_ref=version.api_key.ref if version.api_key is not None else None,
                weight=100.0 if is_stable else 0.0,
                role="stable" if is_stable else "retired",
                created_at=now,
                updated_at=now,
            )
        )


def check_weights(weights: Mapping[str, float], known: Mapping[str, object]) -> None:
    """Weights name known versions, are ≥ 0, and sum to 100; ValidationError otherwise."""
    if not weights:
        raise ValidationError("no weights given", field="weights")
    for version, weight in weights.items():
        if version not in known:
            raise NotFoundError(f"no version named '{version}'", field="weights")
        if not math.isfinite(weight) or weight < 0:
            raise ValidationError(f"weight of '{version}' must be ≥ 0", field="weights")
    total = sum(weights.values())
    if abs(total - 100.0) > 1e-6:
        raise ValidationError(f"weights must sum to 100, not {total:g}", field="weights")


def write_weights(
    conn: Connection,
    service: str,
    weights: Mapping[str, float],
    now: float,
    *,
    roles: Mapping[str, Role] | None = None,
) -> None:
    """Set every version's weight (versions not named get 0) and, optionally, roles."""
    known = service_routes(conn, service)
    check_weights(weights, known)
    for version in known:
        values: dict[str, object] = {"weight": float(weights.get(version, 0.0)), "updated_at": now}
        if roles and version in roles:
            values["role"] = roles[version]
        conn.execute(
            update(service_versions)
            .where(service_versions.c.service == service, service_versions.c.version == version)
            .values(**values)
        )


def stable_version(conn: Connection, service: str) -> str | None:
    """The version with the stable role (None before the first deploy)."""
    for route in service_routes(conn, service).values():
        if route.role == "stable":
            return route.version
    return None
