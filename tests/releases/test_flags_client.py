"""The local-evaluation client and the OpenFeature provider against a real control plane."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from prodloop.releases.flags.client import FlagClient
from prodloop.releases.flags.openfeature import ProdloopProvider
from tests.api.support import API_TOKEN, running_control_plane
from tests.gateway.servers import closed_port

NEW_PROMPT = {
    "key": "new-prompt",
    "enabled": True,
    "default_variant": "off",
    "rules": [{"attribute": "plan", "operator": "equals", "value": "pro", "variant": "on"}],
}
MODEL = {
    "key": "model",
    "kind": "multivariate",
    "enabled": True,
    "variants": {"mini": {"name": "gpt-4o-mini", "max_tokens": 256}, "big": {"name": "gpt-4o"}},
    "rollout": {"weights": {"mini": 50, "big": 50}},
}
NUMBERS = {
    "key": "temperature",
    "kind": "multivariate",
    "enabled": True,
    "variants": {"cold": 0.2, "warm": 1},
    "default_variant": "warm",
}


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def provider_cleanup() -> Iterator[None]:
    yield
    api.clear_providers()


def test_openfeature_sdk_through_the_provider(tmp_path: Path, provider_cleanup: None) -> None:
    with running_control_plane(tmp_path) as plane, plane.client() as http:
        for flag in (NEW_PROMPT, MODEL, NUMBERS):
            assert http.post("/api/v1/flags", json=flag).status_code == 201
        client = FlagClient(plane.url, API_TOKEN, poll_interval_s=0.05)
        api.set_provider(ProdloopProvider(client))
        of = api.get_client()

        pro = of.get_boolean_details(
            "new-prompt", False, EvaluationContext(targeting_key="u1", attributes={"plan": "pro"})
        )
        assert (pro.value, pro.reason, pro.variant, pro.error_code) == (
            True,
            Reason.TARGETING_MATCH,
            "on",
            None,
        )
        assert pro.flag_metadata == {"revision": 1}
        free = of.get_boolean_details("new-prompt", True, EvaluationContext("u1", {"plan": "free"}))
        assert (free.value, free.reason, free.variant) == (False, Reason.DEFAULT, "off")

        model = of.get_object_details("model", {}, EvaluationContext(targeting_key="u7"))
        assert model.reason == Reason.SPLIT
        assert model.value in (MODEL["variants"]["mini"], MODEL["variants"]["big"])  # type: ignore[index]
        again = of.get_object_details("model", {}, EvaluationContext(targeting_key="u7"))
        assert again.variant == model.variant  # sticky
        assert of.get_float_value("temperature", 0.0) == 1.0
        assert of.get_integer_value("temperature", 5) == 1

        missing = of.get_boolean_details("nope", True)
        assert (missing.value, missing.error_code, missing.reason) == (
            True,
            ErrorCode.FLAG_NOT_FOUND,
            Reason.ERROR,
        )
        mismatch = of.get_string_details("new-prompt", "fallback")
        assert (mismatch.value, mismatch.error_code) == ("fallback", ErrorCode.TYPE_MISMATCH)

        # A kill reaches the client on its next poll; an unchanged config is a 304.
        assert http.post("/api/v1/flags/new-prompt/kill").status_code == 200
        wait_until(lambda: client.revision("new-prompt") == 2)
        killed = of.get_boolean_details(
            "new-prompt", True, EvaluationContext("u1", {"plan": "pro"})
        )
        assert (killed.value, killed.reason) == (False, Reason.DISABLED)
        wait_until(lambda: client.not_modified > 0)
    # The control plane is gone: the client keeps serving the last good config.
    failures = client.failures
    wait_until(lambda: client.failures > failures)
    assert client.last_error is not None
    after = of.get_boolean_details("new-prompt", True, EvaluationContext("u1", {"plan": "pro"}))
    assert (after.value, after.reason, after.error_code) == (False, Reason.DISABLED, None)
    assert client.boolean("new-prompt", True) is False
    assert client.object("model", None, {"targetingKey": "u7"}) == model.value
    client.close()


def test_a_client_that_never_reached_the_server_serves_defaults(provider_cleanup: None) -> None:
    client = FlagClient(f"http://127.0.0.1:{closed_port()}", API_TOKEN, start=False)
    assert client.refresh() is False
    assert (client.is_ready, client.failures) == (False, 1)
    assert client.boolean("anything", True) is True
    assert client.string("anything", "x") == "x"
    api.set_provider(ProdloopProvider(client))
    details = api.get_client().get_boolean_details("anything", True)
    assert (details.value, details.reason, details.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.PROVIDER_NOT_READY,
    )
    client.close()


def test_a_config_that_does_not_parse_is_a_parse_error(provider_cleanup: None) -> None:
    broken = {"flags": {"f": {"rules": [{"attribute": "a", "operator": "regex", "value": "("}]}}}
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, json=broken))
    client = FlagClient("http://flags.invalid", start=False, transport=transport)
    assert client.refresh() is False
    assert (client.is_ready, client.last_error_code) == (False, "PARSE_ERROR")
    api.set_provider(ProdloopProvider(client))
    details = api.get_client().get_integer_details("f", 3)
    assert (details.value, details.error_code, details.reason) == (
        3,
        ErrorCode.PARSE_ERROR,
        Reason.ERROR,
    )
    client.close()


def test_local_evaluation_is_typed() -> None:
    client = FlagClient("http://127.0.0.1:9", start=False)
    client.load({"flags": {"new-prompt": NEW_PROMPT, "model": MODEL, "temperature": NUMBERS}})
    assert client.boolean("new-prompt", False, {"plan": "pro"}) is True
    assert client.boolean("model", True) is True  # not a boolean: the default
    assert client.float("temperature", 0.0) == 1.0
    assert client.integer("temperature", 7) == 1
    assert client.string("temperature", "s") == "s"
    detail = client.details("model", None, {"targetingKey": "u1"})
    assert (detail.reason, detail.error_code) == ("SPLIT", None)
    client.close()
