from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import POSTGRES_BIN_DIRS, free_port, require_binary


def _as_postgres_user(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root, so a root test run drops to the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free port; yields its server URL (no database)."""
    initdb = require_binary("initdb", *POSTGRES_BIN_DIRS)
    pg_ctl = require_binary("pg_ctl", *POSTGRES_BIN_DIRS)
    tmp = Path(tempfile.mkdtemp(prefix="prodloop-pg-"))
    data = tmp / "data"
    if os.geteuid() == 0:
        shutil_chown(tmp)
    port = free_port()
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(tmp / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )


def shutil_chown(path: Path) -> None:
    import shutil

    shutil.chown(path, user="postgres", group="postgres")


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the throwaway cluster."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'prodloop.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs against both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prodloop.db'}"
    return str(request.getfixturevalue("postgres_url"))


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(autouse=True)
def _scheduled_reviews_only_when_asked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop writes the weekly review under reviews.output_dir, relative to the working
    directory: a test ticking the loop over last week's data would write into the checkout.
    Only tests marked `scheduled_reviews` run the schedule (into their own folders)."""
    if request.node.get_closest_marker("scheduled_reviews") is None:
        monkeypatch.setattr("prodloop.loop.run_scheduled_reviews", lambda *_a, **_k: [])
