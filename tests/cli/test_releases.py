"""End to end through the CLI and the gateway: deploy → canary → promoted; deploy →
regression → automatic rollback; `prodloop rollback` during a rollout and after one.

The gateway and control plane are the servers `prodloop up` runs, in this process so the
loop can be ticked on a manual clock; the upstreams are `prodloop demo-upstream`
processes; every command a user types runs as a real `prodloop` process on the same store.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodloop import loop
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.releases.rollouts import get_rollout
from prodloop.releases.routing import read_routes
from prodloop.releases.signing import generate_keypair, sign
from prodloop.server import Runtime, build_runtime, make_processes, serve
from prodloop.store import connect
from tests.cli.conftest import Started, run_cli
from tests.support import free_port

TICK_S = 10.0
PER_TICK = 60


@pytest.fixture
def upstreams(start_cli: Callable[..., Started]) -> tuple[str, str]:
    stable_port, canary_port = free_port(), free_port()
    for port in (stable_port, canary_port):
        start_cli("demo-upstream", "--profile", "fast", "--port", str(port), ports=(port,))
    return f"http://127.0.0.1:{stable_port}/v1", f"http://127.0.0.1:{canary_port}/v1"


def _config_text(tmp_path: Path, stable: str) -> str:
    return f"""
store:
  url: sqlite:///{tmp_path / "store.db"}
gateway:
  port: {free_port()}
  default_service: chat
  require_key: false
control:
  port: {free_port()}
telemetry:
  flush_interval_s: 0.05
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "{stable}"}}
faults:
  enabled: true
  rules: [{{service: chat, version: v3, error_rate: 1.0}}]
releases:
  hold: 10s
  analysis_interval: 10s
  failure_limit: 1
paging:
  notifiers:
    console: {{kind: console}}
  routes:
    - match: {{service: chat}}
      notifiers: [console]
"""


@contextmanager
def running(config_file: Path, clock: ManualClock) -> Iterator[Runtime]:
    config = parse_config(config_file.read_text(), environ={})
    runtime = build_runtime(config, clock=clock)
    processes = make_processes(runtime)
    thread = threading.Thread(
        target=lambda: asyncio.run(serve(runtime, processes, run_loop=False)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not processes.started:
        assert time.monotonic() < deadline and thread.is_alive(), "servers did not start"
        time.sleep(0.01)
    try:
        yield runtime
    finally:
        processes.request_stop()
        thread.join(30)


def _gateway_weights(runtime: Runtime) -> dict[str, float]:
    port = runtime.config.gateway.port
    health = httpx.get(f"http://127.0.0.1:{port}/_prodloop/healthz", timeout=5).json()
    weights: dict[str, float] = health["services"]["chat"]["weights"]
    return weights


def _await_weights(runtime: Runtime, expected: dict[str, float], timeout_s: float = 2.0) -> float:
    """Seconds until the gateway routes with `expected` (the poll runs every 0.25 s)."""
    started = time.monotonic()
    while _gateway_weights(runtime) != expected:
        assert time.monotonic() - started < timeout_s, _gateway_weights(runtime)
        time.sleep(0.02)
    return time.monotonic() - started


def _drive(runtime: Runtime, clock: ManualClock, ticks: int) -> list[loop.TickReport]:
    """Each tick: advance the clock, send requests through the gateway, tick the loop."""
    reports = []
    port = runtime.config.gateway.port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1", timeout=10) as client:
        for t in range(ticks):
            clock.advance(TICK_S)
            for i in range(PER_TICK):
                response = client.post(
                    "/chat/completions",
                    json={
                        "model": "gpt-4o-mini",
                        "user": f"user-{t}-{i}",
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                )
                assert response.status_code in (200, 503), response.text
            assert runtime.pipeline.flush(10)
            report = loop.tick(runtime.engine, runtime.config, clock.now(), metrics=runtime.metrics)
            reports.append(report)
            if any(e.kind in ("promoted", "rolled_back") for e in report.rollouts):
                break
    return reports


def _catch_up(clock: ManualClock) -> None:
    """The CLI runs in its own process on the real clock: bring the manual clock up to it, so
    that a deploy it stamped is never in the loop's future. Otherwise, on a slow machine,
    the canary's first analysis waits until the manual clock passes the real one, and the
    error-budget page may roll the canary back first."""
    clock.advance(max(0.0, time.time() - clock.now()))


def _cli(config_file: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_cli(*args, "--config", str(config_file), env=env)


def test_deploy_promote_regress_roll_back(
    tmp_path: Path, upstreams: tuple[str, str], start_cli: Callable[..., Started]
) -> None:
    stable_url, canary_url = upstreams
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(_config_text(tmp_path, stable_url))
    clock = ManualClock(time.time())
    with running(config_file, clock) as runtime:
        # deploy → canary steps → promoted, `rollout wait` exits 0
        deployed = _cli(config_file, "deploy", "chat", "v2", "--upstream", canary_url,
                        "--steps", "50,100", "--git-sha", "abc123", "--by", "ana")  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        assert "replaces v1" in deployed.stdout
        assert _await_weights(runtime, {"v1": 50.0, "v2": 50.0}) <= 1.0
    # A restart mid-rollout: the rollout and the gateway's weights come back from the store.
    with running(config_file, clock) as runtime:
        assert _await_weights(runtime, {"v1": 50.0, "v2": 50.0}) <= 1.0
        assert get_rollout(runtime.engine, "chat").state == "progressing"
        waiter = start_cli("rollout", "wait", "chat", "--interval", "0.1s",
                           "--config", str(config_file))  # fmt: skip
        reports = _drive(runtime, clock, 6)
        kinds = [e.kind for r in reports for e in r.rollouts]
        assert kinds[-1] == "promoted", kinds
        out, err = waiter.proc.communicate(timeout=30)
        assert waiter.proc.returncode == 0, (out, err)
        assert "promoted: v2 is live" in out
        assert _await_weights(runtime, {"v2": 100.0}) <= 1.0
        status = _cli(config_file, "rollout", "status", "chat")
        assert status.returncode == 0 and "promoted" in status.stdout
        # the guide's Day 6 flip shows on the same timeline as the deploys
        assert _cli(config_file, "flags", "create", "new-prompt", "--by", "ana").returncode == 0
        flip = _cli(config_file, "flags", "rollout", "new-prompt", "100", "--by", "ana")
        assert flip.returncode == 0, flip.stderr
        status = _cli(config_file, "rollout", "status", "chat")
        assert "new-prompt: create by ana" in status.stdout
        assert "new-prompt: rollout by ana" in status.stdout

        # a second deploy of the live version is refused, nothing changed
        again = _cli(config_file, "deploy", "chat", "v2", "--upstream", canary_url)
        assert again.returncode == 2 and "already live" in again.stderr

        # deploy → regression (every request fails) → automatic rollback, wait exits 1
        bad = _cli(config_file, "deploy", "chat", "v3", "--upstream", canary_url,
                   "--steps", "50,100")  # fmt: skip
        assert bad.returncode == 0, bad.stderr
        _catch_up(clock)
        _await_weights(runtime, {"v2": 50.0, "v3": 50.0})
        waiter = start_cli("rollout", "wait", "chat", "--interval", "0.1s",
                           "--config", str(config_file))  # fmt: skip
        reports = _drive(runtime, clock, 4)
        assert [e.kind for r in reports for e in r.rollouts][-1] == "rolled_back"
        out, err = waiter.proc.communicate(timeout=30)
        assert waiter.proc.returncode == 1 and "rolled_back" in err
        assert "error_rate" in err  # the reason names the metric
        assert _await_weights(runtime, {"v2": 100.0}) <= 1.0
        rollout = get_rollout(runtime.engine, "chat")
        assert rollout.reason is not None and rollout.reason["kind"] == "analysis"
        assert reports[-1].paging.deliveries.sent >= 1  # the console route heard of it

        # `prodloop rollback` during a rollout…
        assert _cli(config_file, "deploy", "chat", "v4", "--upstream", canary_url).returncode == 0
        during = _cli(config_file, "rollback", "chat", "--by", "bo")
        assert during.returncode == 0 and "during its rollout" in during.stdout
        assert _await_weights(runtime, {"v2": 100.0}) <= 1.0
        # …and after one: back to the version before v2
        after = _cli(config_file, "rollback", "chat", "--by", "bo")
        assert after.returncode == 0 and "from v2 to v1" in after.stdout
        assert _await_weights(runtime, {"v1": 100.0}) <= 1.0


def test_bad_cli_input_exits_2_and_changes_nothing(tmp_path: Path, upstreams: Any) -> None:
    stable_url, _ = upstreams
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(_config_text(tmp_path, stable_url))
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cases = [
        (("deploy", "nope", "v2", "--upstream", stable_url), "unknown service"),
        (("deploy", "chat", "v2", "--upstream", dead), "does not answer"),
        (("deploy", "chat", "v2", "--upstream", stable_url, "--steps", "5,50"), "100"),
        (("deploy", "chat", "v2", "--upstream", stable_url, "--hold", "soon"), "duration"),
        (("rollout", "pause", "chat"), "no rollout"),
        (("rollback", "chat"), "no deployment to roll back"),
    ]
    for args, words in cases:
        result = _cli(config_file, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in result.stderr, (args, result.stderr)
    # a signature that does not verify is refused whatever the service's policy
    private_key, _ = generate_keypair()
    _, public_key = generate_keypair()
    artifact = tmp_path / "app.tar"
    artifact.write_bytes(b"the build")
    forged = _cli(config_file, "deploy", "chat", "v2", "--upstream", stable_url,
                  "--artifact", str(artifact), "--signature", sign(b"the build", private_key),
                  env={"PRODLOOP_SIGNING_PUBLIC_KEY": public_key})  # fmt: skip
    assert forged.returncode == 2 and "does not verify" in forged.stderr
    status = _cli(config_file, "rollout", "status")
    assert status.returncode == 0 and "no rollouts yet" in status.stdout


def test_weights_split_traffic_by_hand_and_refuse_bad_splits(
    tmp_path: Path, upstreams: Any
) -> None:
    stable_url, canary_url = upstreams
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(
        _config_text(tmp_path, stable_url).replace(
            f'v1: {{upstream: "{stable_url}"}}',
            f'v1: {{upstream: "{stable_url}"}}\n      v2: {{upstream: "{canary_url}"}}',
        )
    )
    for args, words in [
        (("weights", "chat", "v1=90", "v2=20"), "must sum to 100, not 110"),
        (("weights", "chat", "v1=90", "v9=10"), "no version named 'v9'"),
        (("weights", "chat", "v1:90"), "is not VERSION=PERCENT"),
        (("weights", "nope", "v1=100"), "unknown service 'nope'"),
    ]:
        refused = _cli(config_file, *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert words in refused.stderr, (args, refused.stderr)
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    assert read_routes(engine) == {}  # nothing was written by the refusals

    applied = _cli(config_file, "weights", "chat", "v1=90", "v2=10")
    assert applied.returncode == 0, applied.stderr
    assert "chat: v1 90%, v2 10%" in applied.stdout
    routes = {route.version: route.weight for route in read_routes(engine)["chat"]}
    assert routes == {"v1": 90.0, "v2": 10.0}
