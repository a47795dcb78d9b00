"""Silences: matching alerts are recorded but nobody is paged, through the API and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from prodloop.alerting.paging import run_paging
from prodloop.alerting.silences import (
    create_silence,
    expire_silence,
    list_silences,
    parse_matchers,
)
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.store import connect
from prodloop.store.schema import alert_paging
from tests.alerting.recorder import (
    SLACK_PATH,
    T0,
    Recorder,
    environ,
    insert_alert,
    paging_yaml,
    recording_server,
)
from tests.api.support import running_control_plane
from tests.cli.conftest import run_cli

HOUR = 3600.0


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


def test_matchers_parse_and_name_what_is_wrong() -> None:
    assert parse_matchers(["service=chat", "alertname=ErrorRateAboveThreshold"]) == {
        "service": "chat",
        "alertname": "ErrorRateAboveThreshold",
    }
    for bad, message in [
        ("service", "'service' is not a matcher (use label=value)"),
        ("service=", "'service=' is not a matcher (use label=value)"),
        ("2x=chat", "'2x' is not a label name"),
    ]:
        with pytest.raises(ValidationError) as error:
            parse_matchers([bad], field="--match")
        assert (error.value.field, error.value.message) == ("--match", message)
    with pytest.raises(ValidationError, match="give at least one matcher"):
        parse_matchers([])


def test_create_list_and_expire(sqlite_url: str) -> None:
    engine = connect(sqlite_url)
    made = create_silence(
        engine,
        matchers={"service": "chat"},
        ends_at=T0 + 2 * HOUR,
        reason="deploying a fix",
        created_by="alice",
        now=T0,
    )
    later = create_silence(
        engine,
        matchers={"slo": "latency-p95"},
        starts_at=T0 + HOUR,
        ends_at=T0 + 3 * HOUR,
        reason="load test",
        created_by="bob",
        now=T0,
    )

    assert [(s.id, s.status(T0)) for s in list_silences(engine, T0)] == [
        (later.id, "pending"),
        (made.id, "active"),
    ]
    lifted = expire_silence(engine, made.id, T0 + 60)
    assert lifted.status(T0 + 60) == "expired" and lifted.expired_at == T0 + 60
    assert [s.id for s in list_silences(engine, T0 + 60)] == [later.id]
    assert len(list_silences(engine, T0 + 60, include_expired=True)) == 2
    assert [s.id for s in list_silences(engine, T0 + 3 * HOUR)] == []
    with pytest.raises(NotFoundError):
        expire_silence(engine, 999, T0)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"matchers": {}}, "matchers"),
        ({"ends_at": T0 - 1}, "ends_at"),
        ({"reason": "  "}, "reason"),
        ({"created_by": ""}, "created_by"),
    ],
)
def test_bad_silences_are_refused(sqlite_url: str, changes: dict, field: str) -> None:
    engine = connect(sqlite_url)
    fields = {
        "matchers": {"service": "chat"},
        "ends_at": T0 + HOUR,
        "reason": "why",
        "created_by": "alice",
        **changes,
    }
    with pytest.raises(ValidationError) as error:
        create_silence(engine, now=T0, **fields)
    assert error.value.field == field


def test_silenced_alert_is_recorded_not_paged_until_the_silence_is_lifted(
    store_url: str, recorder: Recorder
) -> None:
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    engine = connect(store_url)
    silence = create_silence(
        engine,
        matchers={"service": "chat", "slo": "error-rate"},
        ends_at=T0 + HOUR,
        reason="known issue",
        created_by="alice",
        now=T0 - 60,
    )
    alert_id = insert_alert(engine, at=T0)
    other_id = insert_alert(engine, slo="latency-p95", at=T0, value=2600.0, threshold=2500.0)
    with httpx.Client() as http:
        muted = run_paging(engine, config, T0, http=http)
        still = run_paging(engine, config, T0 + 20 * 60, http=http)
        expire_silence(engine, silence.id, T0 + 30 * 60)
        lifted = run_paging(engine, config, T0 + 30 * 60, http=http)

    assert (muted.silenced, muted.paged, still.escalated) == (1, 1, 1)
    slack = recorder.bodies(SLACK_PATH)
    assert "LatencyP95AboveThreshold" in slack[0]["text"]
    assert lifted.paged == 1
    assert "ErrorRateAboveThreshold" in slack[-1]["text"]
    with engine.connect() as conn:
        rows = {r["alert_id"]: r for r in conn.execute(select(alert_paging)).mappings()}
    assert rows[alert_id]["notified_at"] == T0 + 30 * 60
    assert rows[other_id]["notified_at"] == T0
    engine.dispose()


def test_a_silence_after_the_page_mutes_repeats_and_escalation(
    sqlite_url: str, recorder: Recorder
) -> None:
    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    engine = connect(sqlite_url)
    insert_alert(engine, at=T0)
    with httpx.Client() as http:
        run_paging(engine, config, T0, http=http)
        create_silence(
            engine,
            matchers={"service": "chat"},
            ends_at=T0 + 6 * HOUR,
            reason="on it",
            created_by="bob",
            now=T0 + 60,
        )
        during = [run_paging(engine, config, T0 + h * HOUR, http=http) for h in (0.5, 4.5)]
        after = run_paging(engine, config, T0 + 6 * HOUR, http=http)

    assert all(r.escalated == 0 and r.repeated == 0 for r in during)
    assert after.escalated == 1  # the overdue level is paged once the silence ends


def test_silences_over_the_api(tmp_path: Path, recorder: Recorder) -> None:
    with running_control_plane(
        tmp_path,
        control_yaml=paging_yaml(recorder.url),
        clock=ManualClock(T0),
        environ=environ(recorder.url),
    ) as plane:
        with plane.client() as http:
            created = http.post(
                "/api/v1/silences",
                json={
                    "matchers": {"service": "chat"},
                    "duration": "2h",
                    "reason": "maintenance",
                    "created_by": "alice",
                },
            )
            listed = http.get("/api/v1/silences")
            bad_duration = http.post(
                "/api/v1/silences",
                json={"matchers": {"service": "chat"}, "duration": "soon", "reason": "x",
                      "created_by": "a"},
            )  # fmt: skip
            both = http.post(
                "/api/v1/silences",
                json={"matchers": {"a": "b"}, "reason": "x", "created_by": "a"},
            )
            deleted = http.delete(f"/api/v1/silences/{created.json()['id']}")
            missing = http.delete("/api/v1/silences/999")
            after = http.get("/api/v1/silences", params={"all": "true"})
        with plane.client(token="test-ingest-key") as ingest:
            forbidden = ingest.post(
                "/api/v1/silences",
                json={"matchers": {"a": "b"}, "duration": "1h", "reason": "x", "created_by": "a"},
            )

    assert created.status_code == 201, created.text
    assert created.json() == {
        "id": 1,
        "matchers": {"service": "chat"},
        "starts_at": T0,
        "ends_at": T0 + 2 * HOUR,
        "reason": "maintenance",
        "created_by": "alice",
        "created_at": T0,
        "expired_at": None,
        "status": "active",
    }
    assert [s["id"] for s in listed.json()["silences"]] == [1]
    assert bad_duration.status_code == 422
    assert bad_duration.json()["error"]["field"] == "duration"
    assert both.status_code == 422 and "either duration or ends_at" in both.text
    assert deleted.status_code == 200 and deleted.json()["status"] == "expired"
    assert missing.status_code == 404
    assert after.json()["silences"][0]["status"] == "expired"
    assert forbidden.status_code == 403


def _config_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "prodloop.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'cli.db'}\n" + paging_yaml(url))
    return path


def test_silence_commands(tmp_path: Path, recorder: Recorder) -> None:
    env = {**environ(recorder.url), "PRODLOOP_CONFIG": str(_config_file(tmp_path, recorder.url))}
    made = run_cli(
        "alerts", "silence", "--match", "service=chat", "--match", "slo=error-rate",
        "--for", "2h", "--reason", "deploying a fix", "--by", "alice", env=env,
    )  # fmt: skip
    listed = run_cli("alerts", "silences", env=env)
    lifted = run_cli("alerts", "unsilence", "1", env=env)
    empty = run_cli("alerts", "silences", env=env)
    bad_for = run_cli(
        "alerts", "silence", "--match", "service=chat", "--for", "2 hours", "--reason", "x",
        "--by", "a", env=env,
    )  # fmt: skip
    bad_match = run_cli(
        "alerts", "silence", "--match", "service", "--for", "1h", "--reason", "x", "--by", "a",
        env=env,
    )  # fmt: skip
    unknown = run_cli("alerts", "unsilence", "42", env=env)

    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("silenced: 1  active  service=chat,slo=error-rate  until ")
    assert "by alice: deploying a fix" in made.stdout
    assert listed.stdout.startswith("1  active  service=chat,slo=error-rate")
    assert lifted.returncode == 0 and "1  expired" in lifted.stdout
    assert empty.stdout.strip() == "no silences"
    assert bad_for.returncode == 2
    assert "--for: not a duration: '2 hours'" in bad_for.stderr
    assert bad_match.returncode == 2
    assert "--match: 'service' is not a matcher (use label=value)" in bad_match.stderr
    assert unknown.returncode == 2 and "no silence 42" in unknown.stderr


def test_acknowledged_while_silenced_is_announced_once_and_never_escalates(
    sqlite_url: str, recorder: Recorder
) -> None:
    from prodloop.alerting.acks import acknowledge

    config = parse_config(paging_yaml(recorder.url), environ=environ(recorder.url))
    engine = connect(sqlite_url)
    silence = create_silence(
        engine,
        matchers={"service": "chat"},
        ends_at=T0 + HOUR,
        reason="known issue",
        created_by="alice",
        now=T0,
    )
    alert_id = insert_alert(engine, at=T0)
    with httpx.Client() as http:
        run_paging(engine, config, T0, http=http)
        acknowledge(engine, alert_id, "alice", T0 + 60)
        expire_silence(engine, silence.id, T0 + 120)
        lifted = run_paging(engine, config, T0 + 120, http=http)
        later = [run_paging(engine, config, T0 + m * 60, http=http) for m in (15, 30, 60)]

    assert (lifted.paged, lifted.acknowledged) == (1, 0)
    assert all(r.escalated == 0 and r.acknowledged == 0 and r.repeated == 0 for r in later)
    [slack] = recorder.bodies(SLACK_PATH)
    assert {"type": "mrkdwn", "text": "*Acknowledged*\nalice at 2026-01-01 00:01 UTC"} in (
        slack["blocks"][1]["fields"]
    )
    engine.dispose()
