"""Helpers the tests share: real servers started on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def require_binary(name: str, *extra_dirs: Path) -> str:
    """Path of a binary the test needs; skip locally, but fail in CI, when it is absent."""
    found = shutil.which(name)
    if found is None:
        for folder in extra_dirs:
            candidate = folder / name
            if candidate.exists():
                found = str(candidate)
                break
    if found is None:
        message = f"{name} is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
