"""The fake upstream of the benchmarks: `prodloop demo-upstream` with a set chunk count.

`prodloop demo-upstream --profile fast` has no option for the number of chunks of a
streamed answer, so this builds the same server from `prodloop.demo.upstream` with the
profile's `stream_chunks` (and as many output tokens, one word per chunk) replaced. The
`fast` profile adds no latency: every figure measured through it is the proxy's own.
`--latency-ms` makes a paced variant whose streams space their chunks evenly.
"""

from __future__ import annotations

import argparse
import dataclasses

from prodloop.demo.upstream import PROFILES, run_upstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", default="fast", choices=sorted(PROFILES))
    parser.add_argument("--chunks", type=int, default=50, help="content chunks per stream")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="time of every answer; a stream spreads it between its chunks (default: none)",
    )
    args = parser.parse_args()
    profile = dataclasses.replace(
        PROFILES[args.profile],
        stream_chunks=args.chunks,
        output_tokens=max(args.chunks, PROFILES[args.profile].output_tokens),
    )
    if args.latency_ms > 0:
        profile = dataclasses.replace(
            profile, latency_p50_ms=args.latency_ms, latency_p95_ms=args.latency_ms, ttft_ms=0.0
        )
    print(
        f"fake upstream '{profile.name}' ({args.chunks} chunks a stream,"
        f" {args.latency_ms:g} ms an answer) on {args.port}"
    )
    run_upstream(args.host, args.port, profile)


if __name__ == "__main__":
    main()
