"""Analytics ingest over HTTP: events/s stored through the public endpoints, SQLite and PostgreSQL.

`prodloop up --control-only` runs as a real server; wrk posts batches of 100 analytics
events (pageviews and clicks with a handful of properties, as the widget and posthog-js
send them) to /ingest/events, and PostHog's /batch/ with the same events in PostHog's
shape. Every 2xx means the batch is in the store, so the figure is events stored per
second, checked afterwards by counting the rows. The per-IP and per-key rate limits are
off: one load generator on one address is not what they are for.

Each round gets a fresh store; PostgreSQL is a throwaway cluster (initdb into a temporary
folder, fsync on).
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from typing import Any

from common import (
    PRODLOOP,
    WORK,
    Target,
    create_database,
    free_port,
    log,
    postgres_cluster,
    run_wrk,
    running,
    spread,
    start_process,
    wait_http,
    write_json,
)
from sqlalchemy import create_engine, func, select

from prodloop.store.engine import normalise_url
from prodloop.store.schema import analytics_events

BATCH = 100
PATHS = ("/", "/pricing", "/docs/getting-started", "/blog/launch", "/settings/billing")


def own_batch() -> dict[str, Any]:
    """100 events in /ingest/events' shape; no uuids, so every request stores new rows."""
    events = []
    for i in range(BATCH):
        path = PATHS[i % len(PATHS)]
        event: dict[str, Any] = {
            "event": "$click" if i % 4 else "$pageview",
            "distinct_id": f"anon-{i % 17}",
            "session_id": f"sess-{i % 5}",
            "path": path,
            "properties": {"$referrer": "https://news.example.com/", "$browser": "Firefox",
                           "$screen_width": 1440, "plan": "free"},
        }  # fmt: skip
        if i % 4:
            event.update(x=round((i * 37 % 100) / 100, 2), y=round((i * 61 % 100) / 100, 2))
        events.append(event)
    return {"events": events}


def posthog_batch(key: str) -> dict[str, Any]:
    """The same events as posthog-python sends them to /batch/."""
    batch = []
    for item in own_batch()["events"]:
        properties = {**item["properties"], "$session_id": item["session_id"],
                      "$current_url": f"https://app.example.com{item['path']}"}  # fmt: skip
        batch.append(
            {"event": item["event"], "distinct_id": item["distinct_id"], "properties": properties,
             "type": "capture", "library": "posthog-python"}
        )  # fmt: skip
    return {"api_key": key, "batch": batch}


def start_control(name: str, store_url: str, key: str) -> Any:
    run_dir = WORK / "public_ingest"
    run_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = run_dir / f"{name}.yaml"
    config.write_text(
        f"""# Written by bench/: the control plane alone, rate limits off.
store:
  url: {store_url}
control:
  host: 127.0.0.1
  port: {port}
  ingest_keys: ["${{BENCH_INGEST_KEY}}"]
  ingest_limit: {{requests_per_s: 0}}
feedback:
  public:
    per_ip_limit: {{requests_per_s: 0}}
""",
        encoding="utf-8",
    )
    argv = [str(PRODLOOP), "up", "--control-only", "--config", str(config)]
    server = start_process(name, argv, port, env={"BENCH_INGEST_KEY": key})
    wait_http(server, "/healthz", expect_ok=True, timeout=120)
    return server


def count_events(store_url: str) -> int:
    engine = create_engine(normalise_url(store_url))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(analytics_events)).scalar_one()
            )
    finally:
        engine.dispose()


def run_round(
    name: str, store_url: str, *, path: str, duration_s: int, connections: int
) -> dict[str, Any]:
    key = "pk_bench_" + secrets.token_hex(12)
    server = start_control(name, store_url, key)
    with running(server):
        target = Target(name, server.port, {"x-prodloop-key": key}, path=path)
        body = posthog_batch(key) if path == "/batch/" else own_batch()
        summary = run_wrk(target, duration_s=duration_s, connections=connections, body=body)
    stored = count_events(store_url)
    ok_requests = summary["requests"] - summary["error_count"]
    # wrk stops counting at the deadline while up to one batch per connection is still
    # in flight; those are stored but not in the figure.
    if not ok_requests * BATCH <= stored <= (ok_requests + connections) * BATCH:
        raise RuntimeError(f"{ok_requests} batches answered 2xx but {stored} events are stored")
    result = {
        "path": path,
        "requests": summary["requests"],
        "errors": summary["errors"],
        "events_acknowledged": ok_requests * BATCH,
        "events_stored": stored,
        "seconds": summary["seconds"],
        "events_per_s": ok_requests * BATCH / summary["seconds"],
        "requests_per_s": summary["requests_per_s"],
        "latency_ms": {k: v / 1000.0 for k, v in summary["latency_us"].items()},
        "connections": connections,
        "command": summary["command"],
    }
    log(f"{name} {path}: {result['events_per_s']:,.0f} events/s "
        f"(p50 {result['latency_ms']['p50']:.1f} ms, {summary['error_count']} errors)")  # fmt: skip
    return result


def run_engine(
    engine: str, make_url: Callable[[str], str], rounds: int, duration_s: int, connections: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in ("/ingest/events", "/batch/"):
        runs = [
            run_round(f"public-{engine}", make_url(f"{path.strip('/').replace('/', '_')}_{r}"),
                      path=path, duration_s=duration_s, connections=connections)
            for r in range(1, rounds + 1)
        ]  # fmt: skip
        results[path] = {"runs": runs, "events_per_s": spread([r["events_per_s"] for r in runs])}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per round")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    folder = WORK / "public_ingest"
    folder.mkdir(parents=True, exist_ok=True)

    def sqlite_url(tag: str) -> str:
        for old in folder.glob(f"{tag}.db*"):
            old.unlink()
        return f"sqlite:///{folder / f'{tag}.db'}"

    results: dict[str, Any] = {"batch_events": BATCH, "target_events_per_s": 10_000,
                               "load_average_start": _load_average()}  # fmt: skip
    results["sqlite"] = run_engine(
        "sqlite", sqlite_url, args.rounds, args.duration, args.connections
    )
    for old in folder.glob("*.db*"):
        old.unlink()
    if not args.skip_postgres:
        with postgres_cluster() as server:
            results["postgresql"] = run_engine(
                "postgresql",
                lambda tag: create_database(server, f"public_{tag}"),
                args.rounds,
                args.duration,
                args.connections,
            )
    results["load_average_end"] = _load_average()
    write_json("public_ingest.json", results)


def _load_average() -> float:
    # Other work on the machine moves these figures a lot; the report says how busy it was.
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


if __name__ == "__main__":
    main()
