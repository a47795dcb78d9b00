"""Alembic environment: the engine comes from prodloop, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from prodloop.store.schema import metadata

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
