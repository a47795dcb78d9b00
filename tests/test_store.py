from __future__ import annotations

from sqlalchemy import inspect

from prodloop.store import connect
from prodloop.store.engine import current_revision, head_revision


def test_upgrade_creates_every_table_on_both_engines(store_url: str) -> None:
    engine = connect(store_url)
    tables = set(inspect(engine).get_table_names())
    assert {"request_events", "rollups_minute", "rollups_hour", "alembic_version"} <= tables
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
