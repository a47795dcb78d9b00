from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from prodloop.api.app import create_control_app
from prodloop.clock import ManualClock
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.telemetry.rollups import DAY_S
from prodloop.web.dashboard import users
from prodloop.web.dashboard.users import add_user
from tests.api.support import control_config
from tests.web.dashboard.support import NOW, PASSWORD, SERVICES_YAML, seed


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with parameters small enough for tests on a shared machine."""
    monkeypatch.setattr(
        users, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(users, "_DUMMY_HASH", None)


@dataclass
class Dashboard:
    client: TestClient
    engine: Engine
    clock: ManualClock

    def new_client(self, address: str = "testclient") -> TestClient:
        return TestClient(self.client.app, client=(address, 50000), follow_redirects=False)


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file with viewer vera, operator otto and admin ada; each
    test gets its own copy."""
    path = tmp_path_factory.mktemp("dashboard") / "seeded.db"
    engine = connect(f"sqlite:///{path}")
    seed(engine)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    saved, users.hasher = users.hasher, cheap
    try:
        for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
            add_user(engine, name, PASSWORD, role, now=NOW - DAY_S)
    finally:
        users.hasher = saved
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def dashboard(tmp_path: Path, seeded_store: Path) -> Iterator[Dashboard]:
    """The real control-plane app over a seeded SQLite store, on a manual clock."""
    shutil.copy(seeded_store, tmp_path / "prodloop.db")
    config = control_config(f"sqlite:///{tmp_path / 'prodloop.db'}", SERVICES_YAML)
    engine = connect(config.store.url)
    clock = ManualClock(NOW)
    metrics = Metrics()
    pipeline = Pipeline(
        engine, queue_size=100, batch_size=10, flush_interval_s=0.05, metrics=metrics
    )
    app = create_control_app(config, engine, pipeline, metrics, clock=clock)
    with TestClient(app, follow_redirects=False) as client:
        yield Dashboard(client, engine, clock)
    engine.dispose()
