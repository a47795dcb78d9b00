"""The launch demo's folder and its prodloop.yaml.

Everything the demo writes lives under one folder (`.prodloop/demo/` by default) so the
project stays clean: the store, the config `prodloop up --config` explores it with, the
runbooks the drill exercises, post-mortems, reviews, drill reports and the launch post.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from prodloop.incidents.runbooks import shipped_runbooks

PRODUCTION = "chat"
STAGING = "chat-staging"
LAUNCH_FLAG = "launch"
EXPERIMENT_FLAG = "answer-style"
ON_CALL = "dana"
# Canary steps of the demo's deploys: one judged step, then all traffic. The judge looks
# every 10 minutes, so a version that fails a tenth of its users is paged on first
# (error rate over 3 % for 5 minutes, the guide's alert) and rolled back on that page.
CANARY_STEPS = (20.0, 100.0)


@dataclass(frozen=True, slots=True)
class DemoPaths:
    """Where the demo keeps what it makes, all under `root`."""

    root: Path

    @property
    def store(self) -> Path:
        return self.root / "prodloop.db"

    @property
    def config(self) -> Path:
        return self.root / "prodloop.yaml"

    @property
    def runbooks(self) -> Path:
        return self.root / "runbooks"

    @property
    def postmortems(self) -> Path:
        return self.root / "postmortems"

    @property
    def reviews(self) -> Path:
        return self.root / "reviews"

    @property
    def drills(self) -> Path:
        return self.root / "drills"

    @property
    def drill_store(self) -> Path:
        return self.root / "drill.db"

    @property
    def roadmap(self) -> Path:
        return self.root / "roadmap.yaml"


@dataclass(frozen=True, slots=True)
class Ports:
    """Where the demo's servers listen; None leaves prodloop's defaults in the file."""

    gateway: int | None = None
    control: int | None = None
    healthy_upstream: int = 9000
    regressed_upstream: int = 9001


KEY_ENVS = {
    PRODUCTION: "PRODLOOP_DEMO_CHAT_KEY",
    STAGING: "PRODLOOP_DEMO_STAGING_KEY",
}
INGEST_KEY_ENV = "PRODLOOP_DEMO_INGEST_KEY"


def config_text(store_url: str, paths: DemoPaths, ports: Ports, *, has_keys: bool) -> str:
    """The demo's prodloop.yaml: two services, the guide's SLOs, paging to the on-call.

    Without `has_keys` (the file left for `prodloop up`) the run's throwaway gateway and
    ingest keys are left out, so it starts without them: nothing can send traffic to it.
    """
    gateway_port = f"\n  port: {ports.gateway}" if ports.gateway else ""
    control = [f"  port: {ports.control}"] if ports.control else []
    if has_keys:
        control.insert(0, f'  ingest_keys: ["${{{INGEST_KEY_ENV}}}"]')
    control_block = "control:\n" + "\n".join(control) + "\n" if control else ""
    healthy = f"http://127.0.0.1:{ports.healthy_upstream}/v1"

    def keys(service: str) -> str:
        return f'\n    keys: ["${{{KEY_ENVS[service]}}}"]' if has_keys else ""

    note = (
        ""
        if has_keys
        else (
            "# The demo's throwaway keys are left out: give the services `keys` (and\n"
            "# control.ingest_keys) to send traffic through this config.\n"
        )
    )
    return f"""# Written by `prodloop demo`: the launch rehearsal's configuration.
# Explore what it left with `prodloop up --config {paths.config}`.
{note}store:
  url: "{store_url}"
gateway:
  flags: [{LAUNCH_FLAG}, {EXPERIMENT_FLAG}]{gateway_port}
{control_block}services:
  {PRODUCTION}:
    stable: v1{keys(PRODUCTION)}
    versions:
      v1: {{upstream: "{healthy}"}}
  {STAGING}:
    stable: v1{keys(STAGING)}
    versions:
      v1: {{upstream: "{healthy}"}}
releases:
  steps: [{", ".join(f"{step:g}" for step in CANARY_STEPS)}]
  hold: 5m
  analysis_interval: 10m
alerts:
  runbooks_dir: "{paths.runbooks}"
paging:
  notifiers:
    console: {{kind: console}}
  people:
    {ON_CALL}: {{notify: [console], email: dana@example.com}}
  schedules:
    primary: {{rotation: weekly, people: [{ON_CALL}], start: 2026-01-05}}
  escalation_policies:
    {PRODUCTION}:
      levels:
        - {{targets: ["schedule:primary"], after: 15m}}
  routes:
    - match: {{severity: page}}
      notifiers: [console]
      escalation_policy: {PRODUCTION}
    - match: {{}}
      notifiers: [console]
incidents:
  postmortem_dir: "{paths.postmortems}"
reviews:
  output_dir: "{paths.reviews}"
grooming:
  roadmap_file: "{paths.roadmap}"
launch:
  flag: {LAUNCH_FLAG}
  service: {PRODUCTION}
  staging_service: {STAGING}
  post_dir: "{paths.root}"
  docs_url: https://docs.example.com/chat
  status_url: http://127.0.0.1:8765/status
  feedback_url: https://github.com/example/chat/discussions
"""


ROADMAP = """# Roadmap items ranked beside feedback and post-mortem actions (RICE).
- backlog_id: RM-1
  title: Answer follow-up questions with the conversation's context
  reach: 800
  impact: 2
  confidence: 0.8
  effort: 3
- backlog_id: RM-2
  title: Export a conversation as Markdown
  reach: 300
  impact: 1
  confidence: 0.9
  effort: 1
"""


def _shipped_runbooks() -> Path:
    """The project's runbooks (./ops/runbooks), else the ones prodloop ships."""
    own = Path("ops/runbooks")
    if own.is_dir() and any(own.glob("*.md")):
        return own
    return Path(str(shipped_runbooks()))


def prepare_folder(paths: DemoPaths, *, is_own_store: bool) -> None:
    """A fresh demo folder: the last run's files go, the runbooks are copied in."""
    if paths.root.exists():
        for child in (paths.runbooks, paths.postmortems, paths.reviews, paths.drills):
            shutil.rmtree(child, ignore_errors=True)
        for file in (paths.drill_store, *paths.root.glob("launch_*.md")):
            file.unlink(missing_ok=True)
        if is_own_store:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{paths.store}{suffix}").unlink(missing_ok=True)
    paths.runbooks.mkdir(parents=True, exist_ok=True)
    for runbook in _shipped_runbooks().glob("*.md"):
        shutil.copyfile(runbook, paths.runbooks / runbook.name)
    paths.roadmap.write_text(ROADMAP, encoding="utf-8")
