"""Acknowledging: by id (API, CLI) and by signed link; tampered or expired links are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodloop.alerting.acks import (
    AckLinkError,
    AckLinkExpiredError,
    AlertStateError,
    ack_link,
    acknowledge,
    sign_ack_token,
    verify_ack_token,
)
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.store import connect
from tests.alerting.recorder import (
    SIGNING_KEY,
    T0,
    Recorder,
    environ,
    insert_alert,
    paging_yaml,
    recording_server,
    resolve_alert,
)
from tests.api.support import ControlPlane, running_control_plane
from tests.cli.conftest import run_cli

DAY = 86_400.0


def test_a_signed_token_round_trips_until_it_expires() -> None:
    token = sign_ack_token(12, T0 + DAY, SIGNING_KEY)

    assert token.startswith(f"12.{int(T0 + DAY)}.")
    assert verify_ack_token(token, SIGNING_KEY, T0) == 12
    assert verify_ack_token(token, SIGNING_KEY, T0 + DAY - 1) == 12
    with pytest.raises(AckLinkExpiredError) as expired:
        verify_ack_token(token, SIGNING_KEY, T0 + DAY)
    assert expired.value.status_code == 410
    assert "expired at 2026-01-02 00:00 UTC" in expired.value.message
    assert "prodloop alerts ack 12" in expired.value.message


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: "13" + t[2:],  # another alert
        lambda t: t.replace(f".{int(T0 + DAY)}.", f".{int(T0 + 9 * DAY)}."),  # longer life
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # forged signature
    ],
)
def test_a_changed_token_is_refused(tamper: object) -> None:
    token = sign_ack_token(12, T0 + DAY, SIGNING_KEY)
    with pytest.raises(AckLinkError) as refused:
        verify_ack_token(tamper(token), SIGNING_KEY, T0)  # type: ignore[operator]
    assert refused.value.status_code == 403
    assert "signature does not match" in refused.value.message


@pytest.mark.parametrize("token", ["", "12", "12.x.sig", "a.b.c", "12.1.2.3"])
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(AckLinkError, match="malformed"):
        verify_ack_token(token, SIGNING_KEY, T0)


def test_a_token_signed_with_another_key_is_refused() -> None:
    with pytest.raises(AckLinkError):
        verify_ack_token(sign_ack_token(12, T0 + DAY, "other-key"), SIGNING_KEY, T0)


def test_links_use_the_public_url_and_the_ttl() -> None:
    config = parse_config(paging_yaml("http://x"), environ=environ("http://x"))
    link = ack_link(config.paging, 5, T0)
    no_key = parse_config("paging: {}", environ={})

    assert link is not None and link.startswith(f"http://prodloop.example/ack/5.{int(T0 + DAY)}.")
    assert ack_link(no_key.paging, 5, T0) is None


def test_acknowledge_rules(store_url: str) -> None:
    engine = connect(store_url)
    firing = insert_alert(engine)
    pending = insert_alert(engine, slo="latency-p95", state="pending")
    resolved = insert_alert(engine, slo="success-rate")
    resolve_alert(engine, resolved, T0 + 60)

    first = acknowledge(engine, firing, " alice ", T0 + 120)
    second = acknowledge(engine, firing, "bob", T0 + 180)

    assert (first.alert.acked_by, first.alert.acked_at, first.was_already_acked) == (
        "alice",
        T0 + 120,
        False,
    )
    assert (second.alert.acked_by, second.was_already_acked) == ("alice", True)
    with pytest.raises(NotFoundError, match="no alert 999"):
        acknowledge(engine, 999, "alice", T0)
    for alert_id, state in ((pending, "pending"), (resolved, "resolved")):
        with pytest.raises(AlertStateError) as refused:
            acknowledge(engine, alert_id, "alice", T0)
        assert refused.value.status_code == 409
        assert f"alert {alert_id} is {state}" in refused.value.message
    with pytest.raises(ValidationError) as nobody:
        acknowledge(engine, firing, "  ", T0)
    assert nobody.value.field == "by"
    engine.dispose()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def plane(tmp_path: Path, recorder: Recorder, clock: ManualClock) -> Iterator[ControlPlane]:
    with running_control_plane(
        tmp_path,
        control_yaml=paging_yaml(recorder.url),
        clock=clock,
        environ=environ(recorder.url),
    ) as control:
        yield control


def _path(link: str | None) -> str:
    assert link is not None
    return link.removeprefix("http://prodloop.example")


def test_signed_link_acknowledges_once_and_then_says_so(plane: ControlPlane) -> None:
    alert_id = insert_alert(plane.engine)
    link = _path(ack_link(plane.config.paging, alert_id, T0))
    with plane.client(token=None) as public:
        page = public.get(link)
        again = public.get(link, headers={"accept": "application/json"})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>Alert {alert_id} acknowledged</h1>" in page.text
    assert (
        "ErrorRateAboveThreshold on chat: acknowledged by ack link at 2026-01-01 00:00:00 UTC"
        in (page.text)
    )
    assert again.status_code == 200
    assert again.json()["already_acknowledged"] is True
    assert again.json()["alert"]["acked_by"] == "ack link"


def test_signed_link_can_name_who_clicked(plane: ControlPlane) -> None:
    alert_id = insert_alert(plane.engine)
    link = _path(ack_link(plane.config.paging, alert_id, T0))
    with plane.client(token=None) as public:
        answer = public.post(link, params={"by": "alice"}, headers={"accept": "application/json"})
        bad_name = public.get(link, params={"by": "x" * 129})

    assert answer.status_code == 200 and answer.json()["alert"]["acked_by"] == "alice"
    assert bad_name.status_code == 422


def test_tampered_and_expired_links_are_refused(plane: ControlPlane, clock: ManualClock) -> None:
    alert_id = insert_alert(plane.engine)
    link = _path(ack_link(plane.config.paging, alert_id, T0))
    other = insert_alert(plane.engine, slo="latency-p95")
    forged = link.replace(f"/ack/{alert_id}.", f"/ack/{other}.")
    with plane.client(token=None) as public:
        tampered = public.get(forged)
        garbage = public.get("/ack/not-a-token")
        clock.advance(DAY)
        expired = public.get(link)

    assert tampered.status_code == 403
    assert tampered.json() == {
        "error": {
            "message": "the acknowledge link's signature does not match (was the link changed?)",
            "field": "token",
        }
    }
    assert garbage.status_code == 403
    assert expired.status_code == 410
    assert "expired at 2026-01-02 00:00 UTC" in expired.json()["error"]["message"]
    with plane.engine.connect() as conn:
        from prodloop.alerting.acks import get_alert

        assert get_alert(conn, alert_id).acked_at is None
        assert get_alert(conn, other).acked_at is None


def test_links_are_off_without_a_signing_key(tmp_path: Path, recorder: Recorder) -> None:
    env = environ(recorder.url)
    del env["T_SIGNING_KEY"]
    with (
        running_control_plane(
            tmp_path, control_yaml=paging_yaml(recorder.url), environ=env
        ) as plane,
        plane.client(token=None) as public,
    ):
        answer = public.get("/ack/" + sign_ack_token(1, T0 + DAY, SIGNING_KEY))
    assert answer.status_code == 404
    assert answer.json()["error"]["field"] == "paging.signing_key"


def test_acknowledge_over_the_api(plane: ControlPlane) -> None:
    alert_id = insert_alert(plane.engine)
    with plane.client() as http:
        acked = http.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "alice"})
        missing = http.post("/api/v1/alerts/999/ack", json={"by": "alice"})
        no_by = http.post(f"/api/v1/alerts/{alert_id}/ack", json={})
        extra = http.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "a", "note": "x"})
    with plane.client(token="test-ingest-key") as ingest:
        forbidden = ingest.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "eve"})
    with plane.client(token=None) as anonymous:
        unauthorised = anonymous.post(f"/api/v1/alerts/{alert_id}/ack", json={"by": "eve"})

    assert acked.status_code == 200
    body = acked.json()
    assert (body["alert"]["acked_by"], body["alert"]["acked_at"]) == ("alice", T0)
    assert body["already_acknowledged"] is False
    assert missing.status_code == 404
    assert missing.json()["error"] == {"message": "no alert 999", "field": "id"}
    assert no_by.status_code == 422 and no_by.json()["error"]["field"] == "by"
    assert extra.status_code == 422
    assert forbidden.status_code == 403
    assert unauthorised.status_code == 401


def test_ack_command(tmp_path: Path, recorder: Recorder) -> None:
    config_file = tmp_path / "prodloop.yaml"
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    config_file.write_text(f"store:\n  url: {store}\n" + paging_yaml(recorder.url))
    engine = connect(store)
    alert_id = insert_alert(engine)
    env = {**environ(recorder.url), "PRODLOOP_CONFIG": str(config_file)}

    acked = run_cli("alerts", "ack", str(alert_id), "--by", "alice", env=env)
    again = run_cli("alerts", "ack", str(alert_id), "--by", "bob", env=env)
    unknown = run_cli("alerts", "ack", "999", "--by", "alice", env=env)
    not_a_number = run_cli("alerts", "ack", "abc", "--by", "alice", env=env)

    assert acked.returncode == 0, acked.stderr
    assert acked.stdout.strip() == (
        f"acknowledged alert {alert_id} (ErrorRateAboveThreshold on chat)"
    )
    assert again.returncode == 0 and "already acknowledged by alice" in again.stdout
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: id: no alert 999"
    assert not_a_number.returncode == 2
    assert "'abc' is not a valid integer" in not_a_number.stderr
    engine.dispose()
