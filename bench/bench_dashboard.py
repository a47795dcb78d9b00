"""Dashboard cost: server time of the overview and a service page with 30 days of data for
10 services, their chart data, and the size of the pages' JS and CSS.

The store is the one bench_tick.py fills (10 services, 30 days of minute and hour rollups
at 10 requests/s each, the current minute's raw events). The real control-plane app is
driven in process through Starlette's TestClient with a logged-in session, so the time is
the app's own (routing, session lookup, queries, rendering), without a network. Each page
is asked for once cold, then `--runs` times; the median, min and max are reported.

No dashboard that could be installed here reads this store, so the reference is the same
app's `GET /api/v1/slos` with a user's API token, timed the same way in the same run: the
SLO status of every service that the overview's cards are built from, as JSON, without the
session, the template or the charts.

Prints one JSON line, then a short markdown table, and writes bench/.work/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from bench_tick import NOW, _config, fill
from common import WORK, log, spread, write_json
from fastapi.testclient import TestClient

from prodloop.api.app import create_control_app
from prodloop.clock import ManualClock
from prodloop.store import connect
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.web.dashboard.tokens import create_token
from prodloop.web.dashboard.users import add_user

STATIC = Path(__file__).resolve().parents[1] / "src/prodloop/web/dashboard/static"
PASSWORD = "bench password 1"
TARGET_MS = 150
TARGET_ASSET_BYTES = 200 * 1024
PAGES = {
    "overview (24h)": "/",
    "service page (24h)": "/services/svc03",
    "overview cards fragment": "/dashboard/partials/slo-cards",
    "chart data, all services, 24h": "/dashboard/data/charts?range=24h",
    "chart data, all services, 30d": "/dashboard/data/charts?range=30d",
    "chart data, one service, 7d": "/dashboard/data/charts?range=7d&service=svc03",
    "chart data, one service, 90d": "/dashboard/data/charts?range=90d&service=svc03",
}
REFERENCES = {"GET /api/v1/slos (every service's SLO status, JSON)": "/api/v1/slos"}


def _time(
    http: TestClient, path: str, runs: int, headers: dict[str, str] | None = None
) -> dict[str, float]:
    timings = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        response = http.get(path, headers=headers)
        timings.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text[:200]}")
    rest = spread(timings[1:])
    return {
        "cold_ms": round(timings[0], 2),
        "median_ms": round(rest["median"], 2),
        "min_ms": round(rest["min"], 2),
        "max_ms": round(rest["max"], 2),
    }


def asset_sizes() -> dict[str, int]:
    """Bytes of every JS and CSS file the pages load (uncompressed), by file."""
    files = [*STATIC.glob("*.js"), *STATIC.glob("*.css")]
    files += [*STATIC.glob("vendor/*.js"), *STATIC.glob("vendor/*.css")]
    return {str(f.relative_to(STATIC)): f.stat().st_size for f in sorted(files)}


def _login(http: TestClient) -> None:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    response = http.post(
        "/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if response.status_code != 303:
        raise RuntimeError(f"login failed: HTTP {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs after the cold one")
    args = parser.parse_args()

    folder = WORK / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db*"):
        old.unlink()
    url = f"sqlite:///{folder / 'dashboard.db'}"
    engine = connect(url)
    config = _config(url)
    timings: dict[str, dict[str, float]] = {}
    reference: dict[str, dict[str, float]] = {}
    try:
        t0 = time.perf_counter()
        filled = fill(engine, NOW)
        fill_s = time.perf_counter() - t0
        log(f"dashboard: filled {filled} in {fill_s:.1f} s")
        add_user(engine, "bench", PASSWORD, "viewer", now=NOW)
        token, _ = create_token(engine, "bench", label="bench", now=NOW)
        metrics = Metrics()
        pipeline = Pipeline(
            engine, queue_size=10, batch_size=10, flush_interval_s=1, metrics=metrics
        )
        app = create_control_app(config, engine, pipeline, metrics, clock=ManualClock(NOW))
        with TestClient(app, follow_redirects=False) as http:
            _login(http)
            for name, path in PAGES.items():
                timings[name] = _time(http, path, args.runs)
                log(f"dashboard: {name}: {timings[name]['median_ms']:.1f} ms")
            bearer = {"authorization": f"Bearer {token}"}
            for name, path in REFERENCES.items():
                reference[name] = _time(http, path, args.runs, bearer)
                log(f"dashboard: {name}: {reference[name]['median_ms']:.1f} ms")
    finally:
        engine.dispose()
        for old in folder.glob("*.db*"):
            old.unlink()
    sizes = asset_sizes()
    own = sum(size for name, size in sizes.items() if not name.startswith("vendor/"))
    total = sum(sizes.values())
    pages_met = all(timings[name]["median_ms"] < TARGET_MS for name in list(PAGES)[:2])
    result: dict[str, Any] = {
        "bench": "dashboard",
        "store": "sqlite",
        "services": 10,
        "days": 30,
        "runs": args.runs,
        **filled,
        "fill_s": round(fill_s, 1),
        "timings": timings,
        "reference": reference,
        "target_ms": TARGET_MS,
        "pages_target_met": pages_met,
        "assets_bytes": sizes,
        "own_assets_bytes": own,
        "all_assets_bytes": total,
        "assets_target_bytes": TARGET_ASSET_BYTES,
        "assets_target_met": total < TARGET_ASSET_BYTES,
    }
    write_json("dashboard.json", result)
    print(json.dumps(result))
    print()
    print("| measure (SQLite, 10 services, 30 days, in-process) | median | min – max | cold |")
    print("| --- | --- | --- | --- |")
    for name, figures in {**timings, **reference}.items():
        print(
            f"| {name} | {figures['median_ms']:.1f} ms | {figures['min_ms']:.1f} – "
            f"{figures['max_ms']:.1f} ms | {figures['cold_ms']:.1f} ms |"
        )
    print()
    print(
        f"JS + CSS the pages load: {total / 1024:.1f} KiB uncompressed "
        f"(own {own / 1024:.1f} KiB, vendored htmx + uPlot {(total - own) / 1024:.1f} KiB)"
    )


if __name__ == "__main__":
    main()
