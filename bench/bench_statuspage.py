"""Public status page throughput: requests/s for summary.json and the HTML page.

The store holds 10 components (services), 50 published incidents with three updates each,
a firing page, a maintenance window and 90 days of hourly rollups. The control plane
runs as a subprocess under uvicorn (one worker, as `prodloop up` runs it); the load is
`wrk -t1 -c16` for a few seconds per document when wrk is installed, otherwise an asyncio
client with 16 connections for the same time. Each response is served from the page's
in-process cache (statuspage.refresh_s = 5 s), so a run includes the periodic rebuilds.

Target (issue 5): ≥ 500 requests/s for each document.

Prints one JSON line and writes bench/.work/statuspage.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, free_port, log, write_json

COMPONENTS = 10
INCIDENTS = 50
TARGET_RPS = 500.0
PATHS = {"summary.json": "/status/api/v2/summary.json", "html": "/status"}


def _config_text(db: Path) -> str:
    components = "\n".join(
        f"    svc{i}: {{name: Service {i}, description: Component number {i}}}"
        for i in range(COMPONENTS)
    )
    services = "\n".join(
        f"  svc{i}: {{stable: v1, versions: {{v1: {{upstream: 'http://127.0.0.1:9/v1'}}}}}}"
        for i in range(COMPONENTS)
    )
    return (
        f"store:\n  url: sqlite:///{db}\nservices:\n{services}\n"
        f"statuspage:\n  refresh_s: 5\n  components:\n{components}\n"
    )


def seed(db: Path, now: float) -> None:
    """Fill a fresh store: incidents with updates, alerts, maintenance, 90 days of rollups."""
    from sqlalchemy import insert

    from prodloop.store import connect
    from prodloop.store.schema import (
        alerts,
        incidents,
        maintenances,
        rollups_hour,
        status_updates,
    )
    from prodloop.telemetry.rollups import Aggregate

    engine = connect(f"sqlite:///{db}")
    statuses = ["investigating", "identified", "monitoring"]
    with engine.begin() as conn:
        for n in range(INCIDENTS):
            detected = now - (n + 1) * 86400 * 1.7
            is_open = n < 2
            row = {
                "service": f"svc{n % COMPONENTS}",
                "title": f"incident {n}",
                "severity": "SEV2",
                "status": "identified" if is_open else "resolved",
                "impact": ["minor", "major", "critical"][n % 3],
                "is_drill": False,
                "detected_at": detected,
                "resolved_at": None if is_open else detected + 3600,
                "created_at": detected,
                "updated_at": detected + 3600,
            }
            incident_id = conn.execute(insert(incidents).values(**row)).inserted_primary_key[0]
            for k, status in enumerate(statuses if is_open else [*statuses[:2], "resolved"]):
                conn.execute(
                    insert(status_updates).values(
                        incident_id=incident_id,
                        at=detected + 600 * (k + 1),
                        status=status,
                        message=f"Update {k} on incident {n}: we are working on it.",
                        by="bench",
                        is_templated=False,
                    )
                )
        conn.execute(
            insert(alerts).values(
                fingerprint="f",
                alertname="HighErrorRate",
                kind="threshold",
                severity="page",
                service="svc1",
                labels="{}",
                state="firing",
                active_at=now - 600,
                fired_at=now - 300,
                last_eval_at=now,
                threshold=0.03,
                summary="",
            )
        )
        conn.execute(
            insert(maintenances).values(
                components='["svc2"]',
                title="Upgrade",
                message="Planned.",
                starts_at=now + 3600,
                ends_at=now + 7200,
                created_by="bench",
                created_at=now,
            )
        )
        empty = Aggregate().to_row()
        hour0 = int(now // 3600 * 3600) - 90 * 86400
        rows = [
            {
                **empty,
                "bucket": hour0 + h * 3600,
                "service": f"svc{s}",
                "version": "v1",
                "route": "/v1/chat/completions",
                "model": "",
                "count": 1000,
                "errors": h % 7,
                "successes": 1000 - h % 7,
            }
            for h in range(90 * 24)
            for s in range(COMPONENTS)
        ]
        conn.execute(insert(rollups_hour), rows)
    engine.dispose()


def serve(config_path: str, port: int) -> None:
    """Run the control plane on `port` (the subprocess side)."""
    import uvicorn

    from prodloop.api.app import create_control_app
    from prodloop.config import load_config
    from prodloop.store import connect
    from prodloop.telemetry.metrics import Metrics
    from prodloop.telemetry.pipeline import Pipeline

    config = load_config(config_path)
    engine = connect(config.store.url)
    metrics = Metrics()
    app = create_control_app(config, engine, Pipeline(engine, metrics=metrics), metrics)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_ready(url: str, deadline_s: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the control plane did not answer at {url}")


def run_wrk(url: str, duration_s: int, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "requests_per_s": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def _client_load(url: str, duration_s: int, connections: int) -> dict[str, Any]:
    import httpx

    done = 0
    failed = 0
    stop = time.monotonic() + duration_s
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as http:

        async def worker() -> None:
            nonlocal done, failed
            while time.monotonic() < stop:
                response = await http.get(url)
                done += 1
                failed += response.status_code != 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - started
    return {"requests_per_s": done / elapsed, "p99_ms": None, "non_2xx": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per document")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="prodloop-bench-status-"))
    db = tmp / "prodloop.db"
    config_path = tmp / "prodloop.yaml"
    config_path.write_text(_config_text(db))
    log("seeding 10 components, 50 incidents, 90 days of rollups")
    seed(db, time.time())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(config_path), str(port)],
        cwd=ROOT / "bench",
        env={**os.environ, "PRODLOOP_CONFIG": str(config_path)},
    )
    base = f"http://127.0.0.1:{port}"
    generator = "wrk" if shutil.which("wrk") else "asyncio httpx client"
    results: dict[str, Any] = {}
    try:
        _wait_ready(base + PATHS["summary.json"])
        for name, path in PATHS.items():
            log(f"{name}: {args.duration}s of load with {generator}, {args.connections} conns")
            if generator == "wrk":
                results[name] = run_wrk(base + path, args.duration, args.connections)
            else:
                results[name] = asyncio.run(
                    _client_load(base + path, args.duration, args.connections)
                )
            results[name]["meets_target"] = results[name]["requests_per_s"] >= TARGET_RPS
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "benchmark": "statuspage",
        "components": COMPONENTS,
        "incidents": INCIDENTS,
        "load_generator": generator,
        "connections": args.connections,
        "duration_s": args.duration,
        "target_requests_per_s": TARGET_RPS,
        "results": results,
    }
    print(json.dumps(report))
    write_json("statuspage.json", report)


if __name__ == "__main__":
    main()
