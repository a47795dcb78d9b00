"""Helpers of the public ingest tests: a keyless client and the rows the store holds."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine

from tests.api.support import ControlPlane


def public_client(plane: ControlPlane, **kwargs: Any) -> httpx.Client:
    """A client that sends no Authorization header: keys go where each test puts them."""
    return plane.client(token=None, **kwargs)


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table).order_by(table.c.id))]


# Rate limits are tested on their own planes; a shared plane with a manual clock would
# otherwise run out of tokens part way through a module.
NO_LIMITS = """  ingest_limit: {requests_per_s: 0}
feedback:
  public:
    per_ip_limit: {requests_per_s: 0}
"""


def wipe(engine: Engine, *tables: Table) -> None:
    """Empty `tables`, so tests sharing one control plane start from nothing."""
    with engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())
