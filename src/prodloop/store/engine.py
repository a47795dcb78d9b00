"""Engine setup for both engines, and migrations run through Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from prodloop.errors import StoreError

_MIGRATIONS = str(Path(__file__).with_name("migrations"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the pipeline writes; NORMAL is durable across
    # application crashes, which is what telemetry needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def normalise_url(url: str) -> URL:
    """Parse a store URL; plain postgresql:// gets the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}", field="store.url") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise StoreError(
            f"unsupported database '{parsed.drivername}' (use sqlite or postgresql)",
            field="store.url",
        )
    return parsed


def create_store_engine(url: str) -> Engine:
    """An engine for the store; SQLite files get WAL and their folder is created."""
    from sqlalchemy import create_engine

    parsed = normalise_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
        else:
            engine = create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", _MIGRATIONS)
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring the schema to `revision`; returns the revision the store is now at."""
    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise StoreError(f"cannot reach the store: {exc.orig}") from exc
    return current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(_alembic_config_without_engine())
    return script.get_current_head()


def _alembic_config_without_engine() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", _MIGRATIONS)
    return cfg


def connect(url: str, *, migrate: bool = True) -> Engine:
    """Open the store at `url`, upgrading its schema first unless told not to."""
    engine = create_store_engine(url)
    if migrate:
        upgrade(engine)
    return engine
