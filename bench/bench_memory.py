"""Memory: prodloop's gateway RSS after 20,000 and after 200,000 requests.

A fresh `prodloop up --gateway-only` (metering and the store writer on) in front of the
fake upstream takes chat completions from `wrk -t2 -c32` in steps of 20,000 requests
(each wrk run ended once its threads have sent their share), and after each step, once
the pipeline has had time to write its queue, the gateway's VmRSS is read from
/proc/PID/status. The figure that counts is RSS after 200,000 over RSS after 20,000.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from common import log, run_wrk, start_prodloop, start_upstream, stop, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", type=int, default=20_000, help="requests between readings")
    parser.add_argument("--steps", type=int, default=10, help="readings (10 x 20,000 = 200,000)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each reading")
    args = parser.parse_args()

    upstream = start_upstream("memory-upstream")
    server = None
    try:
        server, target = start_prodloop(upstream, name="prodloop-memory")
        readings: list[dict[str, Any]] = [{"requests": 0, "rss_kib": server.rss_kib()}]
        log(f"prodloop RSS at start: {readings[0]['rss_kib'] / 1024:.1f} MiB")
        total = 0
        errors = 0
        for step in range(1, args.steps + 1):
            result = run_wrk(target, duration_s=300, max_requests=args.step)
            total += result["requests"]
            errors += result["error_count"]
            time.sleep(args.settle)
            rss = server.rss_kib()
            readings.append(
                {"requests": total, "rss_kib": rss, "requests_per_s": result["requests_per_s"]}
            )
            log(
                f"step {step}/{args.steps}: {total:,} requests, RSS {rss / 1024:.1f} MiB,"
                f" {result['requests_per_s']:,.0f} req/s, errors {result['error_count']}"
            )
        first = readings[1]
        last = readings[-1]
        results = {
            "load_generator": "wrk -t2 -c32 with bench/wrk_post.lua, stopped after each step",
            "step": args.step,
            "readings": readings,
            "errors": errors,
            "rss_first_step_kib": first["rss_kib"],
            "rss_last_step_kib": last["rss_kib"],
            "requests_first_step": first["requests"],
            "requests_last_step": last["requests"],
            "ratio": last["rss_kib"] / first["rss_kib"],
        }
    finally:
        if server is not None:
            stop(server)
        stop(upstream)
    write_json("memory.json", results)


if __name__ == "__main__":
    main()
