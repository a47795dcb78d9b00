"""Drills in compressed time: every scenario, its measured times against the guide's targets.

Each scenario runs `run_drill` on a fresh SQLite demo store: simulated traffic at 5
requests per simulated second, the loop ticking every 15 s of a manual clock, the on-call
acknowledging by itself. Times are seconds from the moment the fault went on (the first
status update: from detection). Prints JSON, then a Markdown table; writes
bench/.work/drills.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from prodloop.incidents.drills import SCENARIOS, run_drill

WORK = Path(__file__).resolve().parent / ".work"


def run_all() -> list[dict[str, Any]]:
    """One row per scenario: figures, targets, whether each was met, wall time."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, scenario in SCENARIOS.items():
            started = time.perf_counter()
            report = run_drill(
                scenario,
                store_url=f"sqlite:///{Path(folder) / name}.db",
                output=Path(folder) / f"{name}.md",
            )
            rows.append(
                {
                    "scenario": name,
                    "passed": report.is_passed,
                    "wall_s": round(time.perf_counter() - started, 2),
                    "measures": {
                        m.name: {"seconds": m.seconds, "target_s": m.target_s, "met": m.is_met}
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
            cells.append(f"{measure['seconds']:.0f} s{target}")
        lines.append(
            f"| {row['scenario']} | "
            + " | ".join(cells)
            + f" | {row['passed']} | {row['wall_s']} s |"
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


if __name__ == "__main__":
    main()
