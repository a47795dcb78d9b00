"""Record what the benchmarks run on, and when: `machine.py start` / `machine.py end`."""

from __future__ import annotations

import os
import sys
import time

from common import machine_info, read_json, write_json


def main() -> None:
    stage = sys.argv[1] if len(sys.argv) > 1 else "start"
    load = [round(x, 2) for x in os.getloadavg()]
    if stage == "start":
        info = machine_info()
        info["started"] = time.time()
        info["load_at_start"] = load
        info["command"] = os.environ.get("BENCH_COMMAND", "make bench")
        info["quick"] = os.environ.get("BENCH_QUICK") == "1"
        write_json("machine.json", info)
    else:
        info = read_json("machine.json") or {}
        info["ended"] = time.time()
        info["load_at_end"] = load
        info["failed"] = [name for name in os.environ.get("BENCH_FAILED", "").split() if name]
        write_json("machine.json", info)


if __name__ == "__main__":
    main()
