"""Drills: every scenario, through the gateway and then in compressed time, against targets.

Each scenario runs `run_drill` on a fresh SQLite demo store. Real time: 80 requests
through a real gateway to the fake upstream, 40 with the fault off and 40 with it on
(the rule reaches the gateway through its runtime-fault poller); the error rate, p95
latency and token multiplier it measured are recorded. Simulated time: traffic replayed
from those events at 5 requests per simulated second, the loop ticking every 15 s of a
manual clock, the on-call acknowledging by itself, targets from the shipped runbooks.
Times are seconds from the moment the fault went on (the first status update: from
detection). Prints JSON, then a Markdown table; writes bench/.work/drills.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from prodloop.incidents.drills import SCENARIOS, run_drill

WORK = Path(__file__).resolve().parent / ".work"
RUNBOOKS = Path(__file__).resolve().parents[1] / "ops" / "runbooks"


def _file(path: str | None) -> str | None:
    return None if path is None else Path(path).name


def run_all() -> list[dict[str, Any]]:
    """One row per scenario: figures, targets, whether each was met, wall time."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        runbooks = Path(folder) / "runbooks"  # a copy: a drill sets last_drilled
        shutil.copytree(RUNBOOKS, runbooks)
        for name, scenario in SCENARIOS.items():
            started = time.perf_counter()
            report = run_drill(
                scenario,
                store_url=f"sqlite:///{Path(folder) / name}.db",
                output=Path(folder) / f"{name}.md",
                runbooks_dir=runbooks,
            )
            live = report.live
            rows.append(
                {
                    "scenario": name,
                    "passed": report.is_passed,
                    "wall_s": round(time.perf_counter() - started, 2),
                    "runbook": None
                    if report.runbook_path is None
                    else Path(report.runbook_path).name,
                    "live": None
                    if live is None
                    else {
                        "requests": live.requests,
                        "wall_s": round(live.wall_s, 2),
                        "error_rate": [live.baseline_error_rate, live.fault_error_rate],
                        "p95_ms": [round(live.baseline_p95_ms, 1), round(live.fault_p95_ms, 1)],
                        "token_multiplier": round(live.token_multiplier, 3),
                    },
                    "measures": {
                        m.name: {
                            "seconds": m.seconds,
                            "target_s": m.target_s,
                            "met": m.is_met,
                            "source": m.source if m.source == "the guide" else _file(m.source),
                        }
                        for m in report.measures
                    },
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, one column per step."""
    steps = ["detect", "page", "acknowledge", "mitigate", "first update", "rollback done"]
    lines = [
        "| scenario | " + " | ".join(steps) + " | passed | wall |",
        "|---" * (len(steps) + 3) + "|",
    ]
    for row in rows:
        cells = []
        for step in steps:
            measure = row["measures"].get(step)
            if measure is None:
                cells.append("n/a")
                continue
            target = "" if measure["target_s"] is None else f" (≤ {measure['target_s']:.0f})"
            seconds = measure["seconds"]
            cells.append(("—" if seconds is None else f"{seconds:.0f} s") + target)
        lines.append(
            f"| {row['scenario']} | "
            + " | ".join(cells)
            + f" | {row['passed']} | {row['wall_s']} s |"
        )
    return "\n".join(lines)


def live_markdown(rows: list[dict[str, Any]]) -> str:
    """What the real burst through the gateway measured, fault off → on."""
    lines = [
        "| scenario | requests | error rate | p95 latency | tokens | burst wall |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        live = row["live"]
        off, on = live["error_rate"]
        p95_off, p95_on = live["p95_ms"]
        lines.append(
            f"| {row['scenario']} | {live['requests']} | {off:.0%} → {on:.0%} |"
            f" {p95_off:.0f} → {p95_on:.0f} ms | ×{live['token_multiplier']:.2f} |"
            f" {live['wall_s']} s |"
        )
    return "\n".join(lines)


def main() -> None:
    rows = run_all()
    WORK.mkdir(exist_ok=True)
    report = {"measured_at": time.time(), "scenarios": rows}
    (WORK / "drills.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(rows, indent=2))
    print()
    print(markdown(rows))
    print()
    print(live_markdown(rows))


if __name__ == "__main__":
    main()
