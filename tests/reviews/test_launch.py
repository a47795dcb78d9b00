"""declare-ga, the 2-hour watch through the loop, the launch post, `prodloop launch status`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from prodloop.cli.main import cli
from prodloop.clock import ManualClock
from prodloop.errors import ValidationError
from prodloop.loop import tick
from prodloop.releases.flags.store import flag_audit_log, get_flag
from prodloop.reviews.launch import LaunchConflict, declare_ga, launch_status, record_signoff
from prodloop.reviews.launch_events import read_events
from prodloop.store.schema import feedback, launch_events, launch_signoffs
from prodloop.telemetry.rollups import write_events
from tests.cli.conftest import run_cli
from tests.reviews.launch_data import (
    DOCS_URL,
    FEEDBACK_URL,
    STATUS_URL,
    LaunchStore,
    add_feedback,
    launch_store,
    make_launch_ready,
    request,
)

GA_AT = 1_795_780_800.0  # 2026-11-27T12:00:00Z


def test_declare_ga_refuses_naming_the_failing_lines_then_flips_the_flag(tmp_path: Path) -> None:
    store = launch_store(tmp_path)
    now = time.time()
    make_launch_ready(store, now)
    with store.engine.begin() as conn:
        conn.execute(delete(launch_signoffs).where(launch_signoffs.c.role == "operations"))
        conn.execute(delete(feedback))
    config = str(store.config_file)

    refused = run_cli("launch", "declare-ga", "--by", "Ada", "--config", config)
    assert refused.returncode == 1
    assert "GA refused: the launch checklist fails" in refused.stderr
    failing = [line.split()[1] for line in refused.stderr.splitlines() if line.startswith("FAIL")]
    assert failing == ["feedback:", "signoffs:"]
    assert "0 submissions (need ≥ 10)" in refused.stderr
    assert "missing: operations" in refused.stderr
    assert get_flag(store.engine, "launch").is_enabled is False
    assert read_events(store.engine) == []

    record_signoff(store.engine, store.config, by="Grace", role="operations", now=time.time())
    add_feedback(store.engine, time.time(), 10)
    done = run_cli("launch", "declare-ga", "--by", "Ada", "--config", config)
    assert done.returncode == 0, done.stderr
    assert "flag 'launch' serves its on variant to 100 %" in done.stdout
    flag = get_flag(store.engine, "launch")
    assert flag.is_enabled is True
    assert flag.rollout is not None and flag.rollout.weights == (("on", 100.0),)
    assert flag_audit_log(store.engine, "launch")[0].by == "Ada"
    events = read_events(store.engine)
    assert [event.kind for event in events] == ["ga_declared", "watch_started"]
    assert events[1].data["until"] == pytest.approx(events[1].at + 7200.0)

    with pytest.raises(LaunchConflict, match="its watch is running"):
        declare_ga(store.engine, store.config, time.time(), "Ada")
    status = CliRunner().invoke(cli, ["launch", "status", "--config", config])
    assert status.exit_code == 0
    assert status.stdout.startswith("watching: GA declared ")
    assert "signed off: operations by Grace" in status.stdout


def test_declare_ga_refuses_when_the_launch_flag_does_not_exist(tmp_path: Path) -> None:
    store = launch_store(tmp_path, extra="")
    make_launch_ready(store, GA_AT)
    config = store.config.model_copy(
        update={"launch": store.config.launch.model_copy(update={"flag": "go-live"})}
    )
    with pytest.raises(ValidationError, match="no flag 'go-live': create it with"):
        declare_ga(store.engine, config, GA_AT, "Ada")
    assert read_events(store.engine) == []


def _launch_steps(steps: list[str]) -> list[str]:
    # The loop also runs the scheduled reviews; only the watch's steps matter here.
    return [step for step in steps if step.startswith("launch ")]


def _declared(tmp_path: Path) -> tuple[LaunchStore, ManualClock]:
    store = launch_store(tmp_path)
    make_launch_ready(store, GA_AT)
    declare_ga(store.engine, store.config, GA_AT, "Ada")
    return store, ManualClock(GA_AT)


def test_a_clean_two_hour_watch_writes_the_launch_post(tmp_path: Path) -> None:
    store, clock = _declared(tmp_path)
    post = tmp_path / "docs" / "launch_2026-11-27.md"
    steps: list[str] = []
    while clock.now() < GA_AT + 7200.0:
        start = clock.now()
        write_events(store.engine, [request(start + i * 10.0) for i in range(60)])
        clock.advance(600.0)
        steps += _launch_steps(tick(store.engine, store.config, clock.now()).reviews)
        if clock.now() < GA_AT + 7200.0:
            assert not post.exists()
            assert launch_status(store.engine, store.config, clock.now()).stage == "watching"
    assert steps == [f"launch watch passed: GA; launch post written to {post}"]
    text = post.read_text()
    assert text.startswith("# chat v1 is generally available")
    for url in (DOCS_URL, STATUS_URL, FEEDBACK_URL):
        assert f"<{url}>" in text
    assert "- Requests served: 720" in text
    assert "error-rate: error_rate 0.00 % ≤ 1.00 %" in text
    assert "version v2 ramped through 50 → 100 % with 1 passing analysis" in text
    assert "- Merge → production: 11 min" in text
    kinds = [event.kind for event in read_events(store.engine)]
    assert kinds == ["ga_declared", "watch_started", "watch_passed", "post_written"]
    assert launch_status(store.engine, store.config, clock.now()).stage == "ga"
    # The loop keeps ticking after GA: nothing more happens.
    assert _launch_steps(tick(store.engine, store.config, clock.advance(600.0)).reviews) == []


def test_a_page_during_the_watch_fails_it_and_writes_no_post(tmp_path: Path) -> None:
    store, clock = _declared(tmp_path)
    steps: list[str] = []
    for _ in range(15):
        start = clock.now()
        write_events(store.engine, [request(start + i, error=i % 2 == 0) for i in range(40)])
        clock.advance(60.0)
        steps += _launch_steps(tick(store.engine, store.config, clock.now()).reviews)
        if steps:
            break
    assert len(steps) == 1
    assert steps[0].startswith("launch watch failed: page ")
    assert "fired on chat" in steps[0]
    assert "run `prodloop flags kill launch` to turn it off" in steps[0]
    failed_at = clock.now()
    assert failed_at < GA_AT + 900.0
    while clock.now() < GA_AT + 7500.0:
        assert _launch_steps(tick(store.engine, store.config, clock.advance(900.0)).reviews) == []
    assert not (tmp_path / "docs" / "launch_2026-11-27.md").exists()
    with store.engine.connect() as conn:
        kinds = [
            row[0]
            for row in conn.execute(select(launch_events.c.kind).order_by(launch_events.c.id))
        ]
    assert kinds == ["ga_declared", "watch_started", "watch_failed"]
    # The flag is not reverted by itself: people decide.
    assert get_flag(store.engine, "launch").rollout is not None
    state = launch_status(store.engine, store.config, clock.now())
    assert state.stage == "watch_failed"
    assert "fired on chat" in state.summary
