"""The surfaces people touch: `prodloop incident|status|postmortem` and /api/v1/incidents."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.incidents.lifecycle import list_incidents, load_incident
from prodloop.releases.control import promote_rollout
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.store import connect
from tests.api.support import running_control_plane
from tests.cli.conftest import run_cli
from tests.incidents.test_lifecycle import START, drive, incident_yaml

TIMELINE_KINDS = (
    "detected",
    "paged",
    "mitigation_proposed",
    "status_update",
    "acknowledged",
    "mitigation_started",
    "mitigation_done",
    "resolved",
)


def _no_probe(_upstream: str, _timeout_s: float) -> None:
    """Every upstream answers."""


def _update(http: httpx.Client, iid: int, status: str, message: str) -> httpx.Response:
    body = {"status": status, "message": message, "by": "bob"}
    return http.post(f"/api/v1/incidents/{iid}/updates", json=body)


def test_cli_updates_acks_resolves_and_drafts(tmp_path: Path) -> None:
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n" + incident_yaml())
    config = parse_config(config_file.read_text(), environ={})
    engine = connect(config.store.url)
    clock = ManualClock(START)
    drive(engine, config, clock, 8, 1.0)
    (incident,) = list_incidents(engine)

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(*args, "--config", str(config_file), env={"USER": "alice"})
        return done.returncode, done.stdout, done.stderr

    code, out, _ = cli("incident", "list")
    assert code == 0 and "SEV1" in out and "alice" in out
    for args, field in [
        (("--status", "fixed", "--message", "x"), "status"),
        (("--status", "identified", "--message", " "), "message"),
    ]:
        code, _, err = cli("status", "update", str(incident.id), *args)
        assert code == 2, err
        assert f"error: {field}:" in err
    code, _, err = cli("status", "update", "99", "--status", "identified", "--message", "x")
    assert code == 2 and "no incident 99" in err
    code, _, err = cli("incident", "mitigate", str(incident.id))
    assert code == 2 and "--rollback" in err

    code, out, _ = cli("status", "update", str(incident.id), "--status", "identified",
                       "--message", "Upstream is down.", "--by", "bob")  # fmt: skip
    assert code == 0 and "identified" in out
    assert cli("incident", "ack", str(incident.id))[0] == 0
    code, out, _ = cli("incident", "show", str(incident.id), "--json")
    shown = json.loads(out)
    assert shown["status"] == "identified" and shown["acknowledged_at"] is not None
    kinds = [entry["kind"] for entry in shown["timeline"]]
    assert kinds[:2] == ["detected", "paged"] and "acknowledged" in kinds
    assert [u["message"] for u in shown["updates"]] == ["Upstream is down."]
    code, out, _ = cli("incident", "show", str(incident.id))
    assert "timeline:" in out and "status_update (bob): identified: Upstream is down." in out

    assert cli("incident", "resolve", str(incident.id), "--message", "Fixed.")[0] == 0
    code, _, err = cli("status", "update", str(incident.id), "--status", "monitoring",
                       "--message", "x")  # fmt: skip
    assert code == 2 and "was resolved" in err

    code, out, _ = cli("postmortem", "draft", str(incident.id), "--output-dir",
                       str(tmp_path / "pm"), "--action", "Add a retry;bob;GH-9")  # fmt: skip
    assert code == 0, out
    (written,) = (tmp_path / "pm").glob("2026-01-01-*.md")
    text = written.read_text()
    assert "## Root causes" in text and "| Add a retry | bob | GH-9 |" in text
    assert load_incident(engine, incident.id).status == "resolved"


def test_api_lists_shows_updates_acks_and_mitigates(tmp_path: Path) -> None:
    clock = ManualClock(START)
    with running_control_plane(tmp_path, control_yaml=incident_yaml(), clock=clock) as plane:
        engine, config = plane.engine, plane.config
        drive(engine, config, clock, 4, 0.0)
        request = DeployRequest(service="chat", version="v2", upstream="http://127.0.0.1:9/v1",
                                deployed_by="carol")  # fmt: skip
        register_deployment(engine, config, request, clock.now(), probe=_no_probe)
        promote_rollout(engine, config, "chat", clock.now(), by="carol")
        drive(engine, config, clock, 8, 1.0)

        with plane.client(token=None) as anonymous:
            assert anonymous.get("/api/v1/incidents").status_code == 401
        with plane.client() as http:
            listed = http.get("/api/v1/incidents", params={"status": "open"}).json()
            (incident,) = listed["incidents"]
            iid = incident["id"]
            assert incident["severity"] == "SEV1" and incident["assignee"] == "alice"
            shown = http.get(f"/api/v1/incidents/{iid}").json()
            assert "mitigation_proposed" in [e["kind"] for e in shown["timeline"]]

            bad = [
                ({"status": "fixed", "message": "x", "by": "bob"}, 422, "status"),
                ({"status": "identified", "message": "", "by": "bob"}, 422, "message"),
            ]
            for body, code, field in bad:
                response = http.post(f"/api/v1/incidents/{iid}/updates", json=body)
                assert response.status_code == code, response.text
                assert response.json()["error"]["field"] == field
            response = _update(http, 999, "identified", "x")
            assert response.status_code == 404
            assert http.get("/api/v1/incidents", params={"status": "nope"}).status_code == 422

            clock.advance(60)
            assert "v2 is bad" not in http.get("/status/api/v2/incidents.json").text
            response = _update(http, iid, "identified", "v2 is bad")
            assert response.status_code == 201
            # Public at once: the post drops the page's cache, whatever its refresh period.
            assert "v2 is bad" in http.get("/status/api/v2/incidents.json").text
            assert response.json()["incident"]["first_update_at"] == clock.now()
            response = http.post(f"/api/v1/incidents/{iid}/ack", json={"by": "alice"})
            assert response.status_code == 200 and response.json()["acknowledged_at"] == clock.now()
            response = http.post(f"/api/v1/incidents/{iid}/mitigate", json={"by": "alice"})
            assert response.status_code == 200, response.text
            assert response.json()["rollback"]["to_version"] == "v1"

            response = _update(http, iid, "resolved", "ok")
            assert response.status_code == 201
            response = _update(http, iid, "monitoring", "x")
            assert response.status_code == 409
            assert response.json()["error"]["field"] == "status"
            kinds = [e["kind"] for e in http.get(f"/api/v1/incidents/{iid}").json()["timeline"]]
            assert set(TIMELINE_KINDS) <= set(kinds)

            # A drill's incident, once marked, leaves the public page at once.
            assert "v2 is bad" in http.get("/status/api/v2/incidents.json").text
            assert http.post("/api/v1/incidents/999/drill", json={"by": "d"}).status_code == 404
            marked = http.post(f"/api/v1/incidents/{iid}/drill", json={"by": "drill-bot"})
            assert marked.status_code == 200 and marked.json()["is_drill"] is True
            assert "v2 is bad" not in http.get("/status/api/v2/incidents.json").text
