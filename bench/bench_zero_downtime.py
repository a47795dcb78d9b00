"""Zero downtime: 200 requests/s through the gateway during a promotion and a rollback.

`prodloop up --gateway-only` fronts two fake upstreams (50 ms an answer, so requests are
in flight whenever the weights change). An open-loop client sends 200 requests/s for
20 s per scenario; at 2 s a canary is deployed (5 %), and at 10 s it is promoted (first
scenario) or rolled back (second), by writing the store as `prodloop deploy`,
`prodloop rollout promote` and `prodloop rollback` do. Reported: failed requests (target
0), and the time from the store write until the gateway routes by the new weights
(target ≤ 1 s), seen two ways: its /_prodloop/healthz, and the last request that still
reached the old version.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    CHAT_BODY,
    PRODLOOP,
    WORK,
    free_port,
    log,
    machine_info,
    running,
    start_process,
    start_upstream,
    wait_ok,
    write_json,
)

from prodloop.config import parse_config
from prodloop.releases.control import promote_rollout, rollback
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.store import connect

RATE = float(os.environ.get("BENCH_ZD_RATE", "200"))
DURATION_S = float(os.environ.get("BENCH_ZD_SECONDS", "20"))
DEPLOY_AT_S = 2.0
CHANGE_AT_S = 10.0
KEY = "gw-zero-downtime"


def _config_text(run_dir: Path, port: int, stable_port: int) -> str:
    return f"""# Written by bench/bench_zero_downtime.py
store:
  url: sqlite:///{run_dir / "store.db"}
gateway:
  port: {port}
  default_service: chat
  keys: ["${{BENCH_ZD_KEY}}"]
control:
  port: {free_port()}
services:
  chat:
    stable: v1
    versions:
      v1: {{upstream: "http://127.0.0.1:{stable_port}/v1"}}
releases:
  hold: 1h
  analysis_interval: 1h
"""


class Load:
    """An open-loop client: request i starts at start + i / RATE, whatever came before."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        self.results: list[tuple[float, int, str]] = []  # (start, status, version)
        self.errors: list[str] = []

    async def _one(self, session: aiohttp.ClientSession, i: int, started: float) -> None:
        body = {**CHAT_BODY, "user": f"user-{i}"}
        try:
            async with session.post(self.url, json=body) as response:
                await response.read()
                version = response.headers.get("x-prodloop-version", "")
                self.results.append((started, response.status, version))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            self.results.append((started, 0, ""))

    async def run(self) -> None:
        headers = {"authorization": f"Bearer {KEY}"}
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            origin = time.time()
            tasks = []
            for i in range(int(RATE * DURATION_S)):
                due = origin + i / RATE
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self._one(session, i, time.time())))
            await asyncio.gather(*tasks)


def _healthz_weights(port: int) -> dict[str, float]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/_prodloop/healthz")
    data = json.loads(conn.getresponse().read())
    conn.close()
    weights: dict[str, float] = data["services"]["chat"]["weights"]
    return weights


def _seen_after(port: int, expected: dict[str, float], written_at: float) -> float:
    """Seconds from `written_at` until the gateway's healthz shows `expected`."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if _healthz_weights(port) == expected:
            return time.time() - written_at
        time.sleep(0.005)
    return float("inf")


def _scenario(
    name: str, port: int, config_file: Path, canary_url: str, version: str
) -> dict[str, Any]:
    config = parse_config(config_file.read_text(), environ={})
    engine = connect(config.store.url)
    load = Load(port)
    marks: dict[str, float] = {}
    stable_before = "v1" if name == "promotion" else "v2"

    def changes() -> None:
        time.sleep(DEPLOY_AT_S)
        request = DeployRequest("chat", version, canary_url, "bench", steps=[5, 100])
        register_deployment(engine, config, request, time.time())
        marks["deployed"] = time.time()
        marks["deploy_seen_s"] = _seen_after(
            port, {stable_before: 95.0, version: 5.0}, marks["deployed"]
        )
        time.sleep(max(0.0, CHANGE_AT_S - DEPLOY_AT_S - marks["deploy_seen_s"]))
        if name == "promotion":
            promote_rollout(engine, config, "chat", time.time(), by="bench")
            expected = {version: 100.0}
        else:
            rollback(engine, config, "chat", time.time(), by="bench")
            expected = {stable_before: 100.0}
        marks["changed"] = time.time()
        marks["change_seen_s"] = _seen_after(port, expected, marks["changed"])

    worker = threading.Thread(target=changes)
    worker.start()
    asyncio.run(load.run())
    worker.join()
    engine.dispose()
    old = version if name == "rollback" else stable_before
    late = [start for start, status, v in load.results if v == old and start >= marks["changed"]]
    failed = [r for r in load.results if r[1] != 200]
    return {
        "scenario": name,
        "requests": len(load.results),
        "failed_requests": len(failed),
        "failure_examples": load.errors[:5] + [str(r) for r in failed[:5]],
        "rate_per_s": RATE,
        "duration_s": DURATION_S,
        "deploy_reached_gateway_s": round(marks["deploy_seen_s"], 3),
        "change_reached_gateway_s": round(marks["change_seen_s"], 3),
        "last_old_version_request_after_change_s": round(max(late) - marks["changed"], 3)
        if late
        else 0.0,
        "by_version": {
            v: sum(1 for r in load.results if r[2] == v)
            for v in sorted({r[2] for r in load.results})
        },
    }


def main() -> None:
    stable = start_upstream("zd-stable", latency_ms=50)
    canary = start_upstream("zd-canary", latency_ms=50)
    run_dir = WORK / "zero_downtime"
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("store.db*"):
        old.unlink()
    port = free_port()
    config_file = run_dir / "prodloop.yaml"
    config_file.write_text(_config_text(run_dir, port, stable.port), encoding="utf-8")
    gateway = start_process(
        "zd-gateway",
        [str(PRODLOOP), "up", "--gateway-only", "--config", str(config_file)],
        port,
        env={"BENCH_ZD_KEY": KEY},
    )
    with running(stable, canary, gateway):
        wait_ok(gateway, {"content-type": "application/json", "authorization": f"Bearer {KEY}"})
        canary_url = f"http://127.0.0.1:{canary.port}/v1"
        results = []
        for name, version in (("promotion", "v2"), ("rollback", "v3")):
            log(f"scenario {name}: {RATE:g} requests/s for {DURATION_S:g} s")
            results.append(_scenario(name, port, config_file, canary_url, version))
    report = {
        "benchmark": "zero_downtime",
        "targets": {"failed_requests": 0, "change_reached_gateway_s": 1.0},
        "poll_interval_s": 0.25,
        "upstream_latency_ms": 50,
        "scenarios": results,
        "machine": machine_info(),
        "measured_at": time.time(),
    }
    write_json("zero_downtime.json", report)
    print(json.dumps(report["scenarios"], indent=2))
    print()
    print(
        "| scenario | requests | failed | deploy → gateway | change → gateway "
        "| last old-version request after change |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['scenario']} | {r['requests']} | {r['failed_requests']} | "
            f"{r['deploy_reached_gateway_s']:.3f} s | {r['change_reached_gateway_s']:.3f} s | "
            f"{r['last_old_version_request_after_change_s']:.3f} s |"
        )


if __name__ == "__main__":
    main()
