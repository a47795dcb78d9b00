"""Ingestion: request events per second written by prodloop's pipeline, SQLite and PostgreSQL.

Synthetic RequestEvents (several services, versions, routes and models; streams, errors,
guardrail triggers, tokens and costs in realistic shares; timestamps spaced as traffic at
2,000 requests/s) are submitted to a `prodloop.telemetry.pipeline.Pipeline` with its
default batch size, and the clock runs from the first submit until `flush()` reports every
event written: raw rows plus merged minute and hour rollups, and the Prometheus metrics
updated, as `prodloop up` does. The batch writer alone (`rollups.write_events` on
2,000-event batches) is timed as well.

Each engine gets a fresh store per round; PostgreSQL is a throwaway cluster (initdb into a
temporary folder, fsync on).
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from typing import Any

from common import (
    WORK,
    create_database,
    log,
    postgres_cluster,
    spread,
    write_json,
)

from prodloop.store import connect
from prodloop.telemetry.events import RequestEvent
from prodloop.telemetry.metrics import Metrics
from prodloop.telemetry.pipeline import Pipeline
from prodloop.telemetry.rollups import write_events

SERVICES = ("chat", "search", "support")
VERSIONS = ("v1", "v2")
ROUTES = ("/v1/chat/completions", "/v1/embeddings")
MODELS = ("gpt-4o-mini", "gpt-4o")
RATE_PER_S = 2000.0
BATCH = 2000


def synthetic_events(count: int, seed: int) -> list[RequestEvent]:
    rnd = random.Random(seed)
    t0 = time.time() - count / RATE_PER_S - 5
    events = []
    for i in range(count):
        route = ROUTES[0] if rnd.random() < 0.9 else ROUTES[1]
        stream = route == ROUTES[0] and rnd.random() < 0.5
        roll = rnd.random()
        error = "upstream_5xx" if roll < 0.005 else ("rate_limited" if roll < 0.01 else None)
        latency = rnd.lognormvariate(6.5, 0.5)
        input_tokens = rnd.randint(20, 2000)
        output_tokens = 0 if route == ROUTES[1] else rnd.randint(5, 600)
        events.append(
            RequestEvent(
                ts=t0 + i / RATE_PER_S,
                service=rnd.choice(SERVICES),
                version=VERSIONS[0] if rnd.random() < 0.9 else VERSIONS[1],
                route=route,
                status=503 if error == "upstream_5xx" else (429 if error else 200),
                latency_ms=latency,
                request_id=uuid.UUID(int=rnd.getrandbits(128)).hex,
                trace_id=f"{rnd.getrandbits(128):032x}",
                model=rnd.choice(MODELS),
                provider="openai",
                error_class=error,
                ttft_ms=latency * 0.2 if stream else None,
                is_stream=stream,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=input_tokens // 4 if rnd.random() < 0.3 else 0,
                cost_usd=(input_tokens * 0.15 + output_tokens * 0.6) / 1e6,
                guardrails=("pii",) if rnd.random() < 0.02 else (),
                user=f"user-{rnd.randrange(500)}",
                overhead_ms=rnd.uniform(0.2, 0.8),
            )
        )
    return events


def time_pipeline(url: str, events: list[RequestEvent]) -> dict[str, Any]:
    """Events/s from the first submit until everything is in the store."""
    engine = connect(url)
    try:
        # As `prodloop up` builds it: the writer also feeds the Prometheus metrics.
        pipeline = Pipeline(engine, queue_size=len(events) + 1, batch_size=BATCH, metrics=Metrics())
        pipeline.start()
        started = time.perf_counter()
        for event in events:
            pipeline.submit(event)
        submitted = time.perf_counter()
        flushed = pipeline.flush(timeout_s=600)
        elapsed = time.perf_counter() - started
        pipeline.stop()
        if not flushed:
            raise RuntimeError("the pipeline did not flush within 600 s")
        if pipeline.written != len(events) or pipeline.dropped:
            raise RuntimeError(
                f"pipeline wrote {pipeline.written} of {len(events)} ({pipeline.dropped} dropped)"
            )
        return {
            "events": len(events),
            "seconds": elapsed,
            "events_per_s": len(events) / elapsed,
            "submit_seconds": submitted - started,
        }
    finally:
        engine.dispose()


def time_writer(url: str, events: list[RequestEvent]) -> dict[str, Any]:
    """Events/s of write_events alone, one 2,000-event batch after another."""
    engine = connect(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(events), BATCH):
            write_events(engine, events[start : start + BATCH])
        elapsed = time.perf_counter() - started
        return {"events": len(events), "seconds": elapsed, "events_per_s": len(events) / elapsed}
    finally:
        engine.dispose()


def run_engine(name: str, make_url: Any, events: list[RequestEvent], rounds: int) -> dict[str, Any]:
    pipeline_runs = []
    writer_runs = []
    for r in range(1, rounds + 1):
        result = time_pipeline(make_url(f"p{r}"), events)
        pipeline_runs.append(result)
        log(f"{name} round {r}: pipeline {result['events_per_s']:,.0f} events/s")
        result = time_writer(make_url(f"w{r}"), events)
        writer_runs.append(result)
        log(f"{name} round {r}: write_events {result['events_per_s']:,.0f} events/s")
    return {
        "pipeline": {
            "runs": pipeline_runs,
            "events_per_s": spread([run["events_per_s"] for run in pipeline_runs]),
        },
        "write_events": {
            "runs": writer_runs,
            "events_per_s": spread([run["events_per_s"] for run in writer_runs]),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    events = synthetic_events(args.events, seed=11)
    results: dict[str, Any] = {"events_per_run": args.events, "batch_size": BATCH}
    folder = WORK / "ingest"
    folder.mkdir(parents=True, exist_ok=True)

    def sqlite_url(tag: str) -> str:
        for old in folder.glob(f"{tag}.db*"):
            old.unlink()
        return f"sqlite:///{folder / f'{tag}.db'}"

    results["sqlite"] = run_engine("sqlite", sqlite_url, events, args.rounds)
    for old in folder.glob("*.db*"):
        old.unlink()

    if not args.skip_postgres:
        with postgres_cluster() as server:
            results["postgresql"] = run_engine(
                "postgresql",
                lambda tag: create_database(server, f"ingest_{tag}"),
                events,
                args.rounds,
            )
    write_json("ingest.json", results)


if __name__ == "__main__":
    main()
