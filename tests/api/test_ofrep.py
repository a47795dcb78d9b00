"""The OpenFeature Remote Evaluation Protocol endpoints over HTTP."""

from __future__ import annotations

from tests.api.support import ControlPlane

COLOUR = {
    "key": "colour",
    "kind": "multivariate",
    "enabled": True,
    "variants": {"red": "#f00", "blue": "#00f"},
    "default_variant": "blue",
    "rules": [{"attribute": "plan", "operator": "equals", "value": "pro", "variant": "red"}],
}


def setup_flags(control: ControlPlane) -> None:
    with control.client() as http:
        assert http.post("/api/v1/flags", json=COLOUR).status_code == 201
        assert http.post("/api/v1/flags", json={"key": "dark-mode"}).status_code == 201


def test_evaluate_one_flag(control: ControlPlane) -> None:
    setup_flags(control)
    with control.client() as http:
        pro = http.post("/ofrep/v1/evaluate/flags/colour", json={"context": {"plan": "pro"}})
        assert pro.status_code == 200
        assert pro.json() == {
            "key": "colour",
            "value": "#f00",
            "reason": "TARGETING_MATCH",
            "variant": "red",
            "metadata": {"revision": 1},
        }
        free = http.post("/ofrep/v1/evaluate/flags/colour", json={"context": {"plan": "free"}})
        assert (free.json()["value"], free.json()["reason"]) == ("#00f", "DEFAULT")
        off = http.post("/ofrep/v1/evaluate/flags/dark-mode", json={"context": {}})
        assert (off.json()["value"], off.json()["reason"]) == (False, "DISABLED")


def test_errors_follow_the_protocol(control: ControlPlane) -> None:
    setup_flags(control)
    with control.client() as http:
        missing = http.post("/ofrep/v1/evaluate/flags/nope", json={"context": {}})
        assert missing.status_code == 404
        assert missing.json() == {
            "key": "nope",
            "errorCode": "FLAG_NOT_FOUND",
            "errorDetails": "no flag 'nope'",
        }
        bad = http.post(
            "/ofrep/v1/evaluate/flags/colour", json={"context": ["not", "an", "object"]}
        )
        assert bad.status_code == 400
        assert (bad.json()["key"], bad.json()["errorCode"]) == ("colour", "INVALID_CONTEXT")
        garbled = http.post(
            "/ofrep/v1/evaluate/flags/colour",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert (garbled.status_code, garbled.json()["errorCode"]) == (400, "PARSE_ERROR")
        bulk_bad = http.post("/ofrep/v1/evaluate/flags", json={"context": "nope"})
        assert (bulk_bad.status_code, bulk_bad.json()["errorCode"]) == (400, "INVALID_CONTEXT")


def test_bulk_evaluation_with_etag(control: ControlPlane) -> None:
    setup_flags(control)
    body = {"context": {"plan": "pro", "targetingKey": "u1"}}
    with control.client() as http:
        first = http.post("/ofrep/v1/evaluate/flags", json=body)
        assert first.status_code == 200
        results = {f["key"]: f for f in first.json()["flags"]}
        assert (results["colour"]["value"], results["dark-mode"]["reason"]) == ("#f00", "DISABLED")
        etag = first.headers["etag"]

        same = http.post("/ofrep/v1/evaluate/flags", json=body, headers={"if-none-match": etag})
        assert (same.status_code, same.content) == (304, b"")
        other_context = http.post(
            "/ofrep/v1/evaluate/flags",
            json={"context": {"plan": "free"}},
            headers={"if-none-match": etag},
        )
        assert other_context.status_code == 200

        assert http.patch("/api/v1/flags/dark-mode", json={"enabled": True}).status_code == 200
        changed = http.post("/ofrep/v1/evaluate/flags", json=body, headers={"if-none-match": etag})
        assert changed.status_code == 200
        results = {f["key"]: f for f in changed.json()["flags"]}
        assert (results["dark-mode"]["value"], results["dark-mode"]["reason"]) == (True, "STATIC")
