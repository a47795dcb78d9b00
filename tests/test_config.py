from __future__ import annotations

import pytest

from prodloop.cli.init import config_template
from prodloop.config import parse_config
from prodloop.errors import ConfigError

SERVICE = """
services:
  chat:
    stable: v1
    keys: ["${GW_KEY}"]
    versions:
      v1:
        upstream: http://127.0.0.1:9000/v1/
        api_key: ${OPENAI_API_KEY}
"""


def test_template_defaults_are_the_guides_targets() -> None:
    config = parse_config(config_template(), environ={})
    assert config.slos == parse_config("", environ={}).slos  # the file spells the defaults out
    slos = {slo.name: slo for slo in config.slos.objectives}
    latency = slos["latency-p95"]
    assert (latency.kind, latency.percentile, latency.threshold_ms) == ("latency", 95, 2000)
    assert latency.alert is not None
    assert (latency.alert.above, latency.alert.window, latency.alert.for_) == (2500, "5m", "5m")
    errors = slos["error-rate"]
    assert (errors.kind, errors.bad, errors.objective) == ("ratio", "errors", 0.99)
    assert errors.alert is not None
    assert (errors.alert.above, errors.alert.window, errors.alert.for_) == (0.03, "5m", "5m")
    cost = slos["cost-per-request"]
    assert (cost.kind, cost.target) == ("average", 0.002)
    assert cost.alert is not None
    assert (cost.alert.above, cost.alert.window) == (0.003, "1h")
    success = slos["success-rate"]
    assert (success.kind, success.bad, success.objective) == ("ratio", "failures", 0.995)
    assert config.slos.window_days == 30
    assert config.gateway.port == 8080
    assert config.control.port == 8765


def test_secrets_resolve_from_the_environment_and_never_print() -> None:
    config = parse_config(SERVICE, environ={"GW_KEY": "gw-123", "OPENAI_API_KEY": "sk-abc"})
    version = config.services["chat"].versions["v1"]
    assert version.upstream == "http://127.0.0.1:9000/v1"
    assert version.api_key is not None and version.api_key.get() == "sk-abc"
    assert config.services["chat"].keys[0].get() == "gw-123"
    assert "sk-abc" not in repr(config)
    assert "gw-123" not in str(config.model_dump())
    assert config.missing_secrets() == []


def test_missing_secret_is_named_with_its_variable() -> None:
    config = parse_config(SERVICE, environ={"GW_KEY": "gw-123"})
    assert config.missing_secrets() == ["services.chat.versions.v1.api_key (${OPENAI_API_KEY})"]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("gateway:\n  port: 99999\n", 2, "gateway.port", "less than or equal to 65535"),
        ("gateway:\n  prot: 9000\n", 2, "gateway.prot", "unknown setting"),
        (
            SERVICE.replace("api_key: ${OPENAI_API_KEY}", "api_key: sk-live-123"),
            9,
            "services.chat.versions.v1.api_key",
            "environment reference",
        ),
        (SERVICE.replace("stable: v1", "stable: v9"), 3, "services.chat", "'v9' is not among"),
        (
            SERVICE.replace("http://127.0.0.1:9000/v1/", "ftp://x"),
            8,
            "services.chat.versions.v1.upstream",
            "http:// or https://",
        ),
        ("guardrails:\n  - name: g\n    kind: max_tokens\n", 2, "guardrails.0", "needs 'limit'"),
        (
            "guardrails:\n  - name: g\n    kind: blocked_pattern\n    pattern: '(['\n",
            2,
            "guardrails.0",
            "not a valid regular expression",
        ),
        (
            "slos:\n  objectives:\n    - name: e\n      kind: ratio\n      objective: 1\n",
            5,
            "slos.objectives.0.objective",
            "less than 1",
        ),
        (
            "slos:\n  objectives:\n    - {name: e, kind: ratio, objective: 0.9, services: [x]}\n",
            3,
            "slos.objectives.0.services.0",
            "unknown service 'x'",
        ),
        (
            "slos:\n  objectives:\n    - name: e\n      kind: ratio\n      objective: 0.9\n"
            "      alert: {above: 0.1, window: 1s}\n",
            6,
            "slos.objectives.0.alert.window",
            "shorter than the evaluation interval",
        ),
        (
            "paging:\n  routes:\n    - notifiers: [slack]\n",
            3,
            "paging.routes.0.notifiers.0",
            "unknown notifier 'slack'",
        ),
    ],
)
def test_invalid_config_names_field_and_line(
    text: str, line: int, field: str | None, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, path="prodloop.yaml", environ={})
    assert caught.value.line == line
    assert caught.value.field == field
    assert words in caught.value.message
    assert f"line {line}" in str(caught.value)


def test_broken_yaml_names_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("gateway:\n  port: 8080\n   host: x\n", environ={})
    assert caught.value.line == 3
    assert "not valid YAML" in caught.value.message


def test_env_overrides_nested_settings_and_database_url() -> None:
    config = parse_config(
        "gateway:\n  port: 8080\n",
        environ={
            "PRODLOOP_GATEWAY__PORT": "9100",
            "PRODLOOP_TELEMETRY__RAW_RETENTION_DAYS": "3",
            "PRODLOOP_DATABASE_URL": "postgresql://db/prodloop",
            "PRODLOOP_API_TOKEN": "not-a-setting",
        },
    )
    assert config.gateway.port == 9100
    assert config.telemetry.raw_retention_days == 3
    assert config.store.url == "postgresql://db/prodloop"


def test_bad_env_override_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("", environ={"PRODLOOP_GATEWAY__PORT": "eighty"})
    assert caught.value.field == "gateway.port"
