"""Drills: a simulated incident run through prodloop's own loop, measured against targets.

`run_drill` runs one on a demo store (a real burst through a gateway, then the incident
in compressed time; see `runner`); `run_remote_drill` runs one against a staging
prodloop over its API and gateway, in real time (see `remote`).
"""

from __future__ import annotations

from prodloop.incidents.drills.remote import RemoteTarget, run_remote_drill
from prodloop.incidents.drills.report import (
    GUIDE_TARGETS_S,
    DrillReport,
    LiveFigures,
    Measure,
    Target,
    drill_markdown,
    drill_targets,
)
from prodloop.incidents.drills.runner import ON_CALL, drill_config, drill_config_text, run_drill
from prodloop.incidents.drills.scenarios import SCENARIOS, SERVICE, Scenario, scenario_named

__all__ = [
    "GUIDE_TARGETS_S",
    "ON_CALL",
    "SCENARIOS",
    "SERVICE",
    "DrillReport",
    "LiveFigures",
    "Measure",
    "RemoteTarget",
    "Scenario",
    "Target",
    "drill_config",
    "drill_config_text",
    "drill_markdown",
    "drill_targets",
    "run_drill",
    "run_remote_drill",
    "scenario_named",
]
