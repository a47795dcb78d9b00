"""/api/v1/flags over HTTP against a real control plane."""

from __future__ import annotations

from typing import Any

from tests.api.support import INGEST_KEY, ControlPlane

FLAG = {
    "key": "new-prompt",
    "description": "the v2 system prompt",
    "rules": [{"attribute": "plan", "operator": "equals", "value": "pro", "variant": "on"}],
}


def create(control: ControlPlane, body: dict[str, Any] | None = None) -> dict[str, Any]:
    with control.client() as http:
        response = http.post("/api/v1/flags", json=body or FLAG)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def test_create_read_change_kill_and_audit(control: ControlPlane) -> None:
    created = create(control)
    assert (created["key"], created["revision"], created["enabled"]) == ("new-prompt", 1, False)
    assert created["updated_by"] == "control.api_tokens[0]"
    with control.client() as http:
        assert http.get("/api/v1/flags/new-prompt").json() == created
        assert [f["key"] for f in http.get("/api/v1/flags").json()["flags"]] == ["new-prompt"]

        patched = http.patch(
            "/api/v1/flags/new-prompt",
            json={"enabled": True},
            headers={"x-prodloop-actor": "ann"},
        )
        assert patched.status_code == 200, patched.text
        assert (patched.json()["enabled"], patched.json()["revision"]) == (True, 2)
        assert patched.json()["rules"] == FLAG["rules"]  # PATCH keeps what it is not given

        put = http.put("/api/v1/flags/new-prompt", json={"enabled": True})
        assert put.status_code == 200, put.text
        assert (put.json()["rules"], put.json()["description"]) == ([], "")  # PUT replaces

        rolled = http.post("/api/v1/flags/new-prompt/rollout", json={"percent": 100})
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["rollout"] == {"weights": {"on": 100.0}}

        control.clock.advance(60)  # type: ignore[attr-defined]
        killed = http.post("/api/v1/flags/new-prompt/kill")
        assert killed.status_code == 200
        assert (killed.json()["enabled"], killed.json()["revision"]) == (False, 5)

        audit = http.get("/api/v1/flags/new-prompt/audit").json()["entries"]
    assert [e["action"] for e in audit] == ["kill", "rollout", "set", "set", "create"]
    assert audit[3]["by"] == "ann (control.api_tokens[0])"
    assert audit[2]["by"] == "control.api_tokens[0]"
    assert audit[0]["at"] == audit[1]["at"] + 60
    assert audit[0]["before"]["enabled"] is True and audit[0]["after"]["enabled"] is False


def test_a_rule_that_cannot_compile_is_a_422_naming_the_field(control: ControlPlane) -> None:
    bad = {
        **FLAG,
        "rules": [{"attribute": "v", "operator": "semver_gt", "value": "x", "variant": "on"}],
    }
    with control.client() as http:
        response = http.post("/api/v1/flags", json=bad)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "rules[0].value"
        assert "semantic version" in response.json()["error"]["message"]
        assert http.get("/api/v1/flags/new-prompt").status_code == 404

    create(control)
    with control.client() as http:
        split = {"weights": {"on": 60, "off": 30}}
        response = http.patch("/api/v1/flags/new-prompt", json={"rollout": split})
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "rollout.weights"
        response = http.patch(
            "/api/v1/flags/new-prompt",
            json={
                "rules": [{"attribute": "a", "operator": "matches", "value": "x", "variant": "on"}]
            },
        )
        assert (response.status_code, response.json()["error"]["field"]) == (
            422,
            "rules[0].operator",
        )
        response = http.patch("/api/v1/flags/new-prompt", json={"revision": 7})
        assert (response.status_code, response.json()["error"]["field"]) == (422, "revision")
        response = http.post("/api/v1/flags/new-prompt/rollout", json={"percent": 101})
        assert (response.status_code, response.json()["error"]["field"]) == (422, "percent")
        assert http.get("/api/v1/flags/new-prompt").json()["revision"] == 1
        assert http.post("/api/v1/flags", json=FLAG).status_code == 409
        assert http.post("/api/v1/flags/nope/kill").status_code == 404


def test_the_config_is_served_with_an_etag_and_304(control: ControlPlane) -> None:
    create(control)
    with control.client() as http:
        first = http.get("/api/v1/flags/config")
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert first.json()["etag"] == etag
        assert set(first.json()["flags"]) == {"new-prompt"}
        again = http.get("/api/v1/flags/config", headers={"if-none-match": etag})
        assert (again.status_code, again.content) == (304, b"")
        http.post("/api/v1/flags/new-prompt/kill")
        changed = http.get("/api/v1/flags/config", headers={"if-none-match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag


def test_flags_need_an_api_token(control: ControlPlane) -> None:
    with control.client(token=None) as http:
        assert http.get("/api/v1/flags").status_code == 401
    with control.client(token=INGEST_KEY) as http:
        assert http.get("/api/v1/flags/config").status_code == 403
        assert http.post("/api/v1/flags", json=FLAG).status_code == 403
        assert http.post("/ofrep/v1/evaluate/flags", json={}).status_code == 403
