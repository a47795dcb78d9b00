"""The demo: wall time of `prodloop demo` after setup (the target is under 3 minutes).

Each run is `prodloop demo` (full size: ten simulated days, every request through a real
gateway and every feedback and analytics event through the real public ingest) started
as a subprocess in a fresh temporary folder, as `make demo` runs it once .venv exists.
Wall time from the start of the process to its exit; the counts are read from what the
demo prints. Prints JSON and a Markdown line; writes bench/.work/demo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PRODLOOP = ROOT / ".venv" / "bin" / "prodloop"
TARGET_S = 180.0
_COUNTS = re.compile(
    r"(\d+) requests through the gateway, (\d+) analytics events and (\d+) feedback"
)


def run_once(quick: bool) -> dict[str, Any]:
    """One `prodloop demo` in a fresh folder: wall time, exit code and what it counted."""
    with tempfile.TemporaryDirectory(prefix="prodloop-bench-demo-") as folder:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PRODLOOP_")}
        command = [str(PRODLOOP), "demo", *(["--quick"] if quick else [])]
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=folder, env=environ, capture_output=True, text=True, timeout=900
        )
        wall_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"prodloop demo failed ({done.returncode}):\n{done.stderr[-2000:]}")
    counts = _COUNTS.search(done.stdout)
    passing = re.findall(r"launch check`: (\d+) of (\d+) lines pass", done.stdout)
    return {
        "wall_s": round(wall_s, 2),
        "requests": int(counts.group(1)) if counts else None,
        "analytics_events": int(counts.group(2)) if counts else None,
        "feedback": int(counts.group(3)) if counts else None,
        "checklist": f"{passing[-1][0]} of {passing[-1][1]}" if passing else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs of the full demo")
    parser.add_argument("--quick", action="store_true", help="time `prodloop demo --quick`")
    args = parser.parse_args()
    runs = [run_once(args.quick) for _ in range(args.runs)]
    walls = [run["wall_s"] for run in runs]
    report = {
        "measured_at": time.time(),
        "command": "prodloop demo" + (" --quick" if args.quick else ""),
        "runs": runs,
        "wall_s": {
            "median": statistics.median(walls),
            "min": min(walls),
            "max": max(walls),
        },
        "target_s": TARGET_S,
        "is_met": max(walls) < TARGET_S,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "demo.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    first = runs[0]
    print(
        f"\n| `{report['command']}` | {report['wall_s']['median']} s "
        f"[{report['wall_s']['min']} – {report['wall_s']['max']}] over {len(runs)} runs | "
        f"{first['requests']} requests, {first['analytics_events']} events, "
        f"{first['feedback']} feedback | checklist {first['checklist']} | "
        f"< {TARGET_S:.0f} s: {'met' if report['is_met'] else 'missed'} |"
    )


if __name__ == "__main__":
    main()
