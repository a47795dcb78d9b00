from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for_port
from tests.support import free_port

PRODLOOP = [sys.executable, "-m", "prodloop.cli"]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run(
        [*PRODLOOP, *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
    )


class Started:
    """A prodloop process started by a test, stopped (SIGINT) at the end."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def interrupt(self, timeout_s: float = 30) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, out, err


@pytest.fixture
def start_cli() -> Iterator[Callable[..., Started]]:
    started: list[Started] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        ports: tuple[int, ...] = (),
        cwd: Path | None = None,
    ) -> Started:
        proc = subprocess.Popen(
            [*PRODLOOP, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        handle = Started(proc)
        started.append(handle)
        for port in ports:
            try:
                wait_for_port(port, timeout_s=30)
            except TimeoutError:
                proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"{args} did not listen on {port}: {out}\n{err}") from None
        return handle

    yield start
    for handle in started:
        if handle.proc.poll() is None:
            handle.proc.kill()
            handle.proc.communicate()


@pytest.fixture
def fake_upstream(start_cli: Callable[..., Started]) -> str:
    port = free_port()
    start_cli("demo-upstream", "--profile", "fast", "--port", str(port), ports=(port,))
    return f"http://127.0.0.1:{port}/v1"
