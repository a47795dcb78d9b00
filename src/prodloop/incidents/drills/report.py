"""What a drill measured: times against the runbook's targets, the timeline, the Markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prodloop.incidents.runbooks import TARGETS, Runbook

# The guide's numbers, for a target the covering runbook does not set: an alert within
# the 5-minute windows, the public status page within 15 minutes, mitigated in 30.
GUIDE_TARGETS_S: Mapping[str, float | None] = {
    "detect": 300.0,
    "page": 300.0,
    "acknowledge": None,
    "mitigate": 1800.0,
    "first_update": 900.0,
}
GUIDE = "the guide"


@dataclass(frozen=True, slots=True)
class Target:
    """A target in seconds and where it came from (a runbook's path, or the guide)."""

    seconds: float | None
    source: str


def drill_targets(runbook: Runbook | None) -> dict[str, Target]:
    """Every target of a drill: the covering runbook's `targets`, else the guide's."""
    found: dict[str, Target] = {}
    for name in TARGETS:
        if runbook is not None and name in runbook.targets:
            found[name] = Target(runbook.targets[name], runbook.path)
        else:
            found[name] = Target(GUIDE_TARGETS_S[name], GUIDE)
    return found


@dataclass(frozen=True, slots=True)
class Measure:
    """One measured time against its target, in seconds from the fault."""

    name: str
    seconds: float | None
    target_s: float | None
    source: str = GUIDE

    @property
    def is_met(self) -> bool:
        """Measured, and within the target when there is one."""
        if self.seconds is None:
            return False
        return self.target_s is None or self.seconds <= self.target_s


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """What the real requests through the gateway measured, fault off and fault on."""

    requests: int
    baseline_error_rate: float
    fault_error_rate: float
    baseline_p95_ms: float
    fault_p95_ms: float
    token_multiplier: float  # mean tokens with the fault over mean tokens without
    wall_s: float
    where: str  # e.g. "demo gateway on 127.0.0.1:PORT"


@dataclass(frozen=True, slots=True)
class DrillReport:
    """What a drill measured and where it left its files."""

    scenario: str
    incident_id: int | None
    fault_at: float
    measures: list[Measure]
    timeline: list[tuple[float, str, str]]  # (seconds from the fault, kind, message)
    is_rolled_back: bool
    clock: str  # how the times were taken: simulated (and at which speed) or real
    live: LiveFigures | None = None
    report_path: Path | None = None
    runbook_path: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)
    is_drill_marked: bool = True  # an incident found is marked as a drill's, on any target

    @property
    def is_passed(self) -> bool:
        """Every target met (and, for a canary, the rollback completed)."""
        return all(m.is_met for m in self.measures)


def measures_of(
    timeline: Sequence[tuple[float, str, str]], targets: Mapping[str, Target], is_canary: bool
) -> tuple[list[Measure], bool]:
    """The drill's measures from its timeline (seconds from the fault) and its targets."""
    firsts: dict[str, float] = {}
    for at, kind, _ in timeline:
        firsts.setdefault(kind, at)
    detected = firsts.get("detected")
    first_update = firsts.get("status_update")
    since_detect = None if detected is None or first_update is None else first_update - detected

    def measure(name: str, label: str, seconds: float | None) -> Measure:
        target = targets[name]
        return Measure(label, seconds, target.seconds, target.source)

    measures = [
        measure("detect", "detect", detected),
        measure("page", "page", firsts.get("paged")),
        measure("acknowledge", "acknowledge", firsts.get("acknowledged")),
        measure("mitigate", "mitigate", firsts.get("mitigation_done")),
        # Counted from detection, as the 15-minute rule is.
        measure("first_update", "first update", since_detect),
    ]
    is_rolled_back = any(
        kind == "mitigation_started" and "rolled" in message.lower()
        for _, kind, message in timeline
    )
    if is_canary:
        rolled_at = firsts.get("mitigation_done") if is_rolled_back else None
        measures.append(measure("mitigate", "rollback done", rolled_at))
    return measures, is_rolled_back


def _fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.0f} s"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


def drill_markdown(report: DrillReport) -> str:
    """The drill report as Markdown: verdict, measured times against targets, timeline."""
    verdict = "passed" if report.is_passed else "FAILED"
    lines = [
        f"# Drill: {report.scenario}",
        "",
        f"Result: **{verdict}** — incident {report.incident_id}"
        + (" (marked as a drill)." if report.is_drill_marked else "."),
        f"Times are seconds from the moment the fault was turned on ({report.clock}); the "
        "first status update is counted from detection, as the 15-minute rule is.",
        "",
    ]
    if report.live is not None:
        live = report.live
        lines += [
            "## Through the gateway (real time)",
            "",
            f"{live.requests} requests through the {live.where} in {live.wall_s:.1f} s, "
            "half with the fault off, half with it on:",
            "",
            "| | fault off | fault on |",
            "|---|---|---|",
            f"| error rate | {_pct(live.baseline_error_rate)} | {_pct(live.fault_error_rate)} |",
            f"| latency p95 | {live.baseline_p95_ms:.0f} ms | {live.fault_p95_ms:.0f} ms |",
            f"| tokens per request | 1× | {live.token_multiplier:.2f}× |",
            "",
        ]
    lines += [
        "## Against the targets",
        "",
        "| step | measured | target | from | met |",
        "|---|---|---|---|---|",
    ]
    for m in report.measures:
        lines.append(f"| {m.name} | {_fmt(m.seconds)} | {_fmt(m.target_s)} | {m.source} | "
                     f"{'yes' if m.is_met else 'no'} |")  # fmt: skip
    lines += ["", "## Timeline", "", "| at | step | what |", "|---|---|---|"]
    lines += [f"| +{at:.0f} s | {kind} | {message} |" for at, kind, message in report.timeline]
    for note in report.notes:
        lines += ["", note]
    if report.runbook_path:
        lines += ["", f"Recorded on runbook `{report.runbook_path}`."]
    return "\n".join(lines) + "\n"


def write_report(report: DrillReport, path: Path) -> Path:
    """Write the Markdown report to `path` (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drill_markdown(report), encoding="utf-8")
    return path
