"""Where prodloop's gateway spends its CPU under load: a py-spy profile during wrk at c=32.

`py-spy record` (PyPI, installed by bench/setup.sh) samples the `prodloop up
--gateway-only` process while wrk drives it as in the throughput benchmark. The raw
stacks are kept in bench/.work/profile.txt; profile.json holds, per thread, the share of
busy samples by the module running on top (self time) and the prodloop functions that
were on the stack most often (inclusive time).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from typing import Any

from common import WORK, log, run_wrk, start_prodloop, start_upstream, stop, write_json

PY_SPY = WORK / "tools-venv" / "bin" / "py-spy"
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def module_of(path: str) -> str:
    """A readable bucket for a frame's file: prodloop's own modules, or a library's name."""
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "prodloop":
        return ".".join(parts[:3])
    if parts[0] in ("asyncio", "concurrent", "threading", "selectors", "json", "http"):
        return parts[0]
    return parts[0]


def parse(raw: str) -> dict[str, Any]:
    threads: dict[str, Counter[str]] = {}
    inclusive: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?"
        thread = "writer" if "telemetry-writer" in thread else thread
        totals[thread] += count
        leaf = FRAME.match(frames[-1])
        # Only the thread's own frame: native code with no Python frame on top.
        bucket = module_of(leaf.group("file")) if leaf else "(native)"
        threads.setdefault(thread, Counter())[bucket] += count
        seen = set()
        for frame in frames[1:]:
            match = FRAME.match(frame)
            if (
                match
                and match.group("file").startswith("prodloop/")
                and not match.group("file").startswith(("prodloop/cli/", "prodloop/server"))
            ):
                name = f"{match.group('file').removesuffix('.py')}:{match.group('func')}"
                if name not in seen:
                    seen.add(name)
                    inclusive.setdefault(thread, Counter())[name] += count
    result: dict[str, Any] = {"samples": dict(totals), "threads": {}}
    for thread, counter in threads.items():
        total = totals[thread] or 1
        result["threads"][thread] = {
            "samples": totals[thread],
            "self_by_module": [
                {"module": name, "share": n / total} for name, n in counter.most_common(12)
            ],
            "prodloop_inclusive": [
                {"function": name, "share": n / total}
                for name, n in inclusive.get(thread, Counter()).most_common(15)
            ],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds sampled")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    args = parser.parse_args()
    if not PY_SPY.exists():
        raise SystemExit("py-spy is not installed (run bench/setup.sh)")

    upstream = start_upstream("profile-upstream")
    server = None
    try:
        server, target = start_prodloop(upstream, name="prodloop-profile")
        run_wrk(target, duration_s=3)  # warm-up
        out = WORK / "profile.txt"
        spy = subprocess.Popen(
            [
                str(PY_SPY), "record", "--pid", str(server.pid), "--duration", str(args.duration),
                "--rate", str(args.rate), "--format", "raw", "--threads", "--nonblocking",
                "--output", str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        load = run_wrk(target, duration_s=args.duration + 2)
        spy.wait(timeout=args.duration + 60)
        raw = out.read_text(encoding="utf-8")
        profile = parse(raw)
        # Which event loop runs the gateway: asyncio's own (pure Python) or uvloop.
        if "BaseEventLoop._run_once" in raw:
            profile["event_loop"] = "asyncio (the standard library's pure-Python loop)"
        elif "uvloop" in raw:
            profile["event_loop"] = "uvloop"
        profile["requests_per_s_while_sampled"] = load["requests_per_s"]
        profile["sampler"] = (
            f"py-spy record --rate {args.rate} --nonblocking, {args.duration} s, during"
            " wrk -t2 -c32"
        )
        samples = sum(profile["samples"].values())
        log(f"profiled {samples} samples at {load['requests_per_s']:,.0f} req/s")
    finally:
        if server is not None:
            stop(server)
        stop(upstream)
    write_json("profile.json", profile)


if __name__ == "__main__":
    main()
