"""prodloop's gateway side by side with the LiteLLM proxy and the Portkey gateway.

One fake upstream (`fast` profile: no added latency; 50 chunks per streamed answer), and
in front of it, each on one worker: `prodloop up --gateway-only` (metering and the store
writer on), the LiteLLM proxy (no database) and the Portkey gateway (Node). Measured in
the same run, the targets interleaved, in several rounds:

a. Added latency: sequential keep-alive POST /v1/chat/completions (small body, not
   streamed) from a Python `http.client` connection kept open per target; p50 and p99 of
   each target minus the same percentile of the direct calls made in the same round. The
   requests of a round are sent in blocks, the targets taking turns in shuffled order.
b. Throughput at concurrency 32: `wrk -t2 -c32 -d10s --latency` with a Lua script for the
   POST body and headers; requests/s and p50/p99 under that load.
c. Streaming: time to the first byte of the SSE body (the first `data:` line) for a
   50-chunk answer, over direct, measured like (a).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

from common import (
    CHAT_BODY,
    STREAM_CHUNKS,
    WORK,
    Server,
    Target,
    direct_target,
    log,
    percentile,
    run_wrk,
    spread,
    start_litellm,
    start_portkey,
    start_prodloop,
    start_upstream,
    stop,
    write_json,
)

CLIENT = "Python http.client (stdlib), one persistent keep-alive connection per target"
ALL_TARGETS = ("direct", "prodloop", "litellm", "portkey")
OVERHEAD_HEADERS = ("x-prodloop-overhead-ms", "x-litellm-overhead-duration-ms")


class Client:
    """Sequential requests over one kept-alive connection."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        body = {**CHAT_BODY, "model": target.model}
        self.body = json.dumps(body).encode()
        self.stream_body = json.dumps({**body, "stream": True}).encode()
        self.overheads: list[float] = []
        self.data_events: list[int] = []
        self.reconnects = 0

    def close(self) -> None:
        self.conn.close()

    def refresh(self, warm_with: Callable[[Client], Any], warm: int = 3) -> None:
        """A new connection, warmed by a few untimed requests, at the start of each turn.

        Servers close idle keep-alive connections (uvicorn and Node after 5 s), and another
        target's turn can last longer than that.
        """
        self.conn.close()
        for _ in range(warm):
            warm_with(self)

    def _send(self, body: bytes) -> tuple[float, http.client.HTTPResponse]:
        """Send a request; when the server had closed the idle connection, reconnect and
        send it again. The connect is never timed: the measure is of kept-alive requests."""
        for attempt in (1, 2):
            if self.conn.sock is None:
                self.conn.connect()
            started = time.perf_counter()
            try:
                self.conn.request("POST", self.target.path, body=body, headers=self.target.headers)
                return started, self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt == 2:
                    raise
                self.reconnects += 1
        raise AssertionError("unreachable")

    def _check(self, response: http.client.HTTPResponse, body: bytes) -> None:
        if response.status != 200:
            raise RuntimeError(f"{self.target.name} answered {response.status}: {body[:300]!r}")

    def call(self) -> float:
        """One non-streamed chat completion; seconds until the whole answer was read."""
        started, response = self._send(self.body)
        body = response.read()
        elapsed = time.perf_counter() - started
        self._check(response, body)
        for name in OVERHEAD_HEADERS:
            value = response.getheader(name)
            if value is not None:
                self.overheads.append(float(value))
                break
        return elapsed

    def stream(self) -> tuple[float, float]:
        """One streamed chat completion; seconds to the first `data:` line and to the end."""
        started, response = self._send(self.stream_body)
        if response.status != 200:
            self._check(response, response.read())
        first: float | None = None
        events = 0
        while True:
            line = response.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                if first is None:
                    first = time.perf_counter() - started
                events += 1
        total = time.perf_counter() - started
        if first is None:
            raise RuntimeError(f"{self.target.name} streamed no data")
        self.data_events.append(events)
        return first, total


def interleaved(
    clients: dict[str, Client],
    per_target: int,
    blocks: int,
    rnd: random.Random,
    measure: Callable[[Client], Any],
) -> dict[str, list[Any]]:
    """`per_target` measurements per target, in blocks the targets take turns at."""
    samples: dict[str, list[Any]] = {name: [] for name in clients}
    per_block = max(1, per_target // blocks)
    for _ in range(blocks):
        order = list(clients)
        rnd.shuffle(order)
        for name in order:
            client = clients[name]
            client.refresh(measure)
            for _ in range(per_block):
                samples[name].append(measure(client))
    return samples


def summarise_rounds(rounds: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Per-round p50/p99 (ms) of every target and of its excess over direct."""
    per_round = []
    for samples in rounds:
        figures = {}
        for name, values in samples.items():
            ms = [v * 1000 for v in values]
            figures[name] = {
                "n": len(ms),
                "p50": percentile(ms, 50),
                "p99": percentile(ms, 99),
                "mean": statistics.fmean(ms),
            }
        per_round.append(figures)
    names = list(rounds[0])
    absolute = {
        name: {q: spread([r[name][q] for r in per_round]) for q in ("p50", "p99")} for name in names
    }
    added = {
        name: {q: spread([r[name][q] - r["direct"][q] for r in per_round]) for q in ("p50", "p99")}
        for name in names
        if name != "direct"
    }
    return {"per_round": per_round, "absolute_ms": absolute, "added_ms": added}


def bench_latency(
    clients: dict[str, Client],
    rounds: int,
    requests: int,
    warmup: int,
    blocks: int,
    rnd: random.Random,
) -> dict[str, Any]:
    for name, client in clients.items():
        log(f"latency warm-up: {warmup} requests to {name}")
        client.refresh(Client.call)
        for _ in range(warmup):
            client.call()
        client.overheads.clear()
    samples = []
    for r in range(1, rounds + 1):
        log(f"latency round {r}/{rounds}: {requests} sequential requests per target")
        samples.append(interleaved(clients, requests, blocks, rnd, Client.call))
        time.sleep(1)
    result = summarise_rounds(samples)
    result["client"] = CLIENT
    result["requests_per_round"] = requests
    result["warmup"] = warmup
    result["rounds"] = rounds
    result["reconnects"] = {name: c.reconnects for name, c in clients.items()}
    result["self_reported_overhead_ms"] = {
        name: {"p50": percentile(c.overheads, 50), "p99": percentile(c.overheads, 99)}
        for name, c in clients.items()
        if c.overheads
    }
    return result


def bench_streaming(
    clients: dict[str, Client],
    rounds: int,
    requests: int,
    warmup: int,
    blocks: int,
    rnd: random.Random,
    label: str = "streaming",
) -> dict[str, Any]:
    for name, client in clients.items():
        log(f"{label} warm-up: {warmup} streams from {name}")
        client.refresh(Client.stream)
        for _ in range(warmup):
            client.stream()
        client.data_events.clear()
    first_rounds = []
    total_rounds = []
    for r in range(1, rounds + 1):
        log(f"{label} round {r}/{rounds}: {requests} sequential streams per target")
        samples = interleaved(clients, requests, blocks, rnd, Client.stream)
        first_rounds.append({name: [s[0] for s in values] for name, values in samples.items()})
        total_rounds.append({name: [s[1] for s in values] for name, values in samples.items()})
        time.sleep(1)
    ttfb = summarise_rounds(first_rounds)
    total = summarise_rounds(total_rounds)
    return {
        "client": CLIENT,
        "chunks": STREAM_CHUNKS,
        "requests_per_round": requests,
        "rounds": rounds,
        "ttfb": ttfb,
        "total": total,
        "data_events": {
            name: {"min": min(c.data_events), "max": max(c.data_events)}
            for name, c in clients.items()
        },
        "reconnects": {name: c.reconnects for name, c in clients.items()},
    }


def bench_throughput(
    targets: dict[str, Target],
    rounds: int,
    duration: int,
    connections: int,
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for name, target in targets.items():
        log(f"throughput warm-up: wrk 3 s against {name}")
        run_wrk(target, duration_s=3, connections=connections)
    names = list(targets)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
        for name in order:
            result = run_wrk(targets[name], duration_s=duration, connections=connections)
            runs[name].append(result)
            log(
                f"throughput round {r + 1}/{rounds} {name}: {result['requests_per_s']:,.0f} req/s,"
                f" p50 {result['latency_us']['p50'] / 1000:.2f} ms,"
                f" p99 {result['latency_us']['p99'] / 1000:.2f} ms,"
                f" errors {result['error_count']}"
            )
            time.sleep(2)
    summary = {
        name: {
            "requests_per_s": spread([run["requests_per_s"] for run in results]),
            "p50_ms": spread([run["latency_us"]["p50"] / 1000 for run in results]),
            "p99_ms": spread([run["latency_us"]["p99"] / 1000 for run in results]),
            "errors": sum(run["error_count"] for run in results),
            "requests": sum(run["requests"] for run in results),
        }
        for name, results in runs.items()
    }
    command = next(iter(runs.values()))[0]["command"]
    return {
        "load_generator": "wrk (Debian package) with bench/wrk_post.lua",
        "command": command,
        "connections": connections,
        "duration_s": duration,
        "rounds": rounds,
        "runs": runs,
        "summary": summary,
    }


def prodloop_written(server: Server) -> dict[str, Any]:
    """What prodloop's pipeline reported on stop, and what its store holds."""
    info: dict[str, Any] = {}
    match = re.search(r"stopped: (\d+) events written, (\d+) dropped", server.log_tail(200))
    if match:
        info["written"] = int(match.group(1))
        info["dropped"] = int(match.group(2))
    db = WORK / server.name / "store.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM request_events").fetchone()
        info["stored_events"] = row[0]
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--targets", default=",".join(ALL_TARGETS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per round")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=4, help="turns per round")
    parser.add_argument("--stream-requests", type=int, default=300)
    parser.add_argument(
        "--paced-requests", type=int, default=100, help="paced streams per round (0: skip)"
    )
    parser.add_argument(
        "--paced-ms", type=float, default=49.0, help="paced answer time (49: 1 ms a chunk)"
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip", default="", help="comma list of: latency,streaming,throughput")
    args = parser.parse_args()
    wanted = [name for name in args.targets.split(",") if name]
    skip = set(args.skip.split(","))
    rnd = random.Random(42)

    servers: list[Server] = []
    targets: dict[str, Target] = {}
    failures: dict[str, str] = {}
    results: dict[str, Any] = {"targets": [], "failures": failures}
    starters = {"prodloop": start_prodloop, "litellm": start_litellm, "portkey": start_portkey}
    upstream = start_upstream()
    servers.append(upstream)
    paced = None
    try:
        if args.paced_requests > 0 and "streaming" not in skip:
            paced = start_upstream("upstream-paced", latency_ms=args.paced_ms)
            servers.append(paced)
        targets["direct"] = direct_target(upstream)
        if paced is not None:
            targets["direct"].paced = direct_target(paced)
        for name in wanted:
            if name == "direct":
                continue
            try:
                server, target = starters[name](upstream, paced=paced)
            except Exception as exc:  # a reference that will not start is reported, not fatal
                log(f"{name} did not start: {exc}")
                failures[name] = str(exc)[:2000]
                continue
            servers.append(server)
            targets[name] = target
        results["targets"] = list(targets)

        clients = {name: Client(target) for name, target in targets.items()}
        try:
            if "latency" not in skip:
                results["latency"] = bench_latency(
                    clients, args.rounds, args.requests, args.warmup, args.blocks, rnd
                )
            if "streaming" not in skip:
                results["streaming"] = bench_streaming(
                    clients, args.rounds, args.stream_requests, 20, 3, rnd
                )
        finally:
            for client in clients.values():
                client.close()
        paced_targets = {n: t.paced for n, t in targets.items() if t.paced is not None}
        if paced is not None and "direct" in paced_targets:
            paced_clients = {name: Client(target) for name, target in paced_targets.items()}
            try:
                results["streaming_paced"] = bench_streaming(
                    paced_clients, args.rounds, args.paced_requests, 5, 2, rnd, "paced streaming"
                )
                results["streaming_paced"]["upstream_ms"] = args.paced_ms
            finally:
                for client in paced_clients.values():
                    client.close()
        if "throughput" not in skip:
            results["throughput"] = bench_throughput(
                targets, args.rounds, args.duration, args.connections
            )
        for name, target in targets.items():
            if target.server is not None:
                results.setdefault("rss_kib_at_end", {})[name] = target.server.rss_kib()
    finally:
        for server in reversed(servers):
            stop(server)
    if "prodloop" in targets and targets["prodloop"].server is not None:
        results["prodloop_pipeline"] = prodloop_written(targets["prodloop"].server)
    write_json("gateways.json", results)


if __name__ == "__main__":
    main()
