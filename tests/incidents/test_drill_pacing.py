"""Paced drills: simulated time at N× real time, and a person's acknowledgement on it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prodloop.incidents.drills import SCENARIOS, run_drill
from prodloop.incidents.drills.pacing import PacedClock
from prodloop.incidents.lifecycle import acknowledge_incident, list_incidents, load_incident
from prodloop.store import connect

START = 1_767_258_000.0


def test_a_paced_clock_waits_for_real_time_and_maps_both_ways() -> None:
    real = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real[0] += seconds

    clock = PacedClock(START, 60.0, real=lambda: real[0], sleep=sleep)
    clock.advance(15)
    assert slept == [0.25]  # 15 simulated seconds at 60x
    real[0] += 1.0  # the drill's own work took longer than the pace: no extra wait
    clock.advance(15)
    assert slept == [0.25]
    assert clock.sim_at(1002.0) == START + 120
    assert clock.real_at(START + 120) == 1002.0

    fast = PacedClock(START, 0.0, real=lambda: 0.0, sleep=sleep)
    fast.advance(3600)
    assert fast.now() == START + 3600 and slept == [0.25]


def test_the_drill_waits_for_a_person_and_puts_their_ack_on_its_clock(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'drill.db'}"
    config_path = tmp_path / "drill.yaml"
    acked_at: list[float] = []

    def person() -> None:
        """What `prodloop incident ack ID --by alice` does: an ack stamped in real time."""
        engine = connect(store_url, migrate=False)  # alembic is not thread-safe
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                opened = list_incidents(engine)
                if opened:
                    time.sleep(0.2)  # a person takes a moment
                    acked_at.append(time.time())
                    acknowledge_incident(engine, opened[0].id, "alice", acked_at[0])
                    return
                time.sleep(0.02)
        finally:
            engine.dispose()

    connect(store_url).dispose()  # migrated once, before two threads open it
    helper = threading.Thread(target=person)
    helper.start()
    started = time.time()
    lines: list[str] = []
    report = run_drill(
        SCENARIOS["upstream-outage"],
        store_url=store_url,
        speed=600.0,
        is_auto_ack=False,
        now_start=START,
        echo=lines.append,
        output=tmp_path / "drill.md",
        config_path=config_path,
    )
    helper.join(10)
    assert acked_at
    hint = f"waiting for a person: prodloop incident ack {report.incident_id} --by NAME"
    assert f"{hint} --config {config_path}" in lines
    assert "simulated time, paced at 600× real time" in report.clock
    incident = load_incident(connect(store_url), report.incident_id or 0)
    assert incident.acknowledged_at is not None
    # The ack was stamped in real time and moved onto the drill's clock: between the
    # detection and the resolution, and no later than the real moment mapped at 600x.
    assert incident.detected_at <= incident.acknowledged_at <= (incident.resolved_at or 0)
    assert incident.acknowledged_at <= START + (acked_at[0] - started) * 600 + 15
    kinds = [kind for _, kind, _ in report.timeline]
    assert kinds.index("detected") < kinds.index("acknowledged") < kinds.index("mitigation_started")
    ack = next(m for m in report.measures if m.name == "acknowledge")
    assert ack.seconds == incident.acknowledged_at - report.fault_at
    assert "alice acknowledged" in [message for _, _, message in report.timeline]


def test_nobody_acknowledging_fails_the_drill(tmp_path: Path) -> None:
    report = run_drill(
        SCENARIOS["upstream-outage"],
        store_url=f"sqlite:///{tmp_path / 'drill.db'}",
        speed=1_000_000.0,
        is_auto_ack=False,
        now_start=START,
        limit_s=300.0,
        output=tmp_path / "drill.md",
    )
    assert not report.is_passed
    assert report.notes == (
        f"Nobody acknowledged incident {report.incident_id} within 5 simulated minutes: gave up.",
    )
    ack = next(m for m in report.measures if m.name == "acknowledge")
    assert ack.seconds is None and not ack.is_met
    assert "gave up" in (tmp_path / "drill.md").read_text(encoding="utf-8")
