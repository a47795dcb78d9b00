"""The OpenSLO export: valid v1 documents that say what the config says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from prodloop.config import Config, parse_config
from prodloop.errors import ValidationError
from prodloop.slo.export import openslo_documents, render_openslo
from prodloop.slo.export.openslo import object_name
from tests.support import require_binary

RFC1123 = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
KINDS = {"Service", "SLI", "SLO", "AlertPolicy", "AlertNotificationTarget"}

CONFIG = """
services:
  chat:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
  search:
    stable: v1
    versions:
      v1: {upstream: "http://127.0.0.1:9/v1"}
paging:
  notifiers:
    console: {kind: console}
    oncall: {kind: pagerduty, routing_key: "${PD_KEY}"}
  routes:
    - {match: {severity: page}, notifiers: [oncall]}
    - {notifiers: [console], send_resolved: false}
"""


def documents(config: Config) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(render_openslo(config)))


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG, environ={"PD_KEY": "x"})


@pytest.fixture(scope="module")
def docs(config: Config) -> list[dict[str, Any]]:
    return documents(config)


def test_documents_are_openslo_v1_with_valid_names_and_references(
    docs: list[dict[str, Any]],
) -> None:
    assert all(doc["apiVersion"] == "openslo/v1" for doc in docs)
    assert {doc["kind"] for doc in docs} == KINDS
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(names) == len(set(names))
    for _, name in names:
        assert RFC1123.match(name), name
    services, slis = by_kind(docs, "Service"), by_kind(docs, "SLI")
    policies, targets = by_kind(docs, "AlertPolicy"), by_kind(docs, "AlertNotificationTarget")
    for slo in by_kind(docs, "SLO").values():
        spec = slo["spec"]
        assert spec["service"] in services
        assert spec["indicatorRef"] in slis
        assert spec["budgetingMethod"] == "Occurrences"
        assert spec["timeWindow"] == [{"duration": "30d", "isRolling": True}]
        assert len(spec["objectives"]) == 1
        assert 0.0 <= spec["objectives"][0]["target"] < 1.0
        for ref in spec.get("alertPolicies", []):
            assert ref["alertPolicyRef"] in policies
    for policy in policies.values():
        (condition,) = policy["spec"]["conditions"]
        assert condition["kind"] == "AlertCondition"
        assert condition["spec"]["condition"]["kind"] == "burnrate"
        assert condition["spec"]["condition"]["op"] == "gt"
        for target in policy["spec"]["notificationTargets"]:
            assert target["targetRef"] in targets
    for sli in slis.values():
        metric = sli["spec"]["ratioMetric"]
        assert metric["counter"] is True
        assert set(metric) == {"counter", "bad", "total"}


def test_every_service_gets_every_slo_with_its_objective(
    config: Config, docs: list[dict[str, Any]]
) -> None:
    slos = by_kind(docs, "SLO")
    for service in ("chat", "search"):
        for slo in config.slos.objectives:
            doc = slos[f"{service}-{slo.name}"]
            assert doc["metadata"]["annotations"]["prodloop/slo"] == slo.name
            expected = slo.good_objective if slo.kind != "average" else 0.0
            assert doc["spec"]["objectives"][0]["target"] == expected
    assert slos["chat-success-rate"]["spec"]["objectives"][0]["target"] == 0.995
    assert slos["chat-latency-p95"]["spec"]["objectives"][0]["target"] == 0.95


def test_alerts_become_burn_rate_conditions(docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "AlertPolicy")

    def condition(name: str) -> dict[str, Any]:
        return policies[name]["spec"]["conditions"][0]["spec"]

    # The SRE workbook's windows, with the factors of a 30-day SLO.
    for suffix, factor, long, severity in (
        ("burn-1h-5m", 14.4, "1h", "page"),
        ("burn-6h-30m", 6.0, "6h", "page"),
        ("burn-1d-2h", 3.0, "1d", "ticket"),
        ("burn-3d-6h", 1.0, "3d", "ticket"),
    ):
        spec = condition(f"chat-success-rate-{suffix}")
        assert spec["condition"]["threshold"] == factor
        assert spec["condition"]["lookbackWindow"] == long
        assert spec["condition"]["alertAfter"] == "0m"
        assert spec["severity"] == severity
    short = policies["chat-success-rate-burn-1h-5m"]["metadata"]["annotations"]
    assert short["prodloop/short-window"] == "5m"
    # 3 % errors for 5 minutes on a 99 % SLO is a burn rate of 3 over 5 minutes.
    errors = condition("chat-error-rate-threshold")["condition"]
    assert errors == {"kind": "burnrate", "op": "gt", "threshold": 3.0, "lookbackWindow": "5m",
                      "alertAfter": "5m"}  # fmt: skip
    # $0.003 on a $0.002 target over an hour is a burn of 1.5.
    cost = condition("chat-cost-per-request-threshold")["condition"]
    assert (cost["threshold"], cost["lookbackWindow"], cost["alertAfter"]) == (1.5, "1h", "0m")


def test_latency_threshold_alert_gets_an_alert_only_slo(docs: list[dict[str, Any]]) -> None:
    slo = by_kind(docs, "SLO")["chat-latency-p95-alert"]
    assert slo["metadata"]["annotations"]["prodloop/alert-only"] == "true"
    assert slo["spec"]["objectives"][0]["target"] == 0.95
    sli = by_kind(docs, "SLI")["chat-latency-p95-alert"]
    assert 'le="2.5"' in sli["spec"]["ratioMetric"]["bad"]["metricSource"]["spec"]["query"]
    policy = by_kind(docs, "AlertPolicy")[slo["spec"]["alertPolicies"][0]["alertPolicyRef"]]
    condition = policy["spec"]["conditions"][0]["spec"]["condition"]
    assert (condition["threshold"], condition["lookbackWindow"], condition["alertAfter"]) == (
        1.0, "5m", "5m",
    )  # fmt: skip
    assert policy["metadata"]["annotations"]["prodloop/alertname"] == "LatencyP95AboveThreshold"


def test_notification_targets_follow_the_routes(docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "AlertPolicy")
    page = policies["chat-success-rate-burn-1h-5m"]["spec"]
    ticket = policies["chat-success-rate-burn-3d-6h"]["spec"]
    assert page["notificationTargets"] == [{"targetRef": "oncall"}]
    assert page["alertWhenResolved"] is True
    assert ticket["notificationTargets"] == [{"targetRef": "console"}]
    assert ticket["alertWhenResolved"] is False
    targets = by_kind(docs, "AlertNotificationTarget")
    assert targets["oncall"]["spec"]["target"] == "pagerduty"
    assert targets["console"]["spec"]["target"] == "console"


def test_queries_are_valid_promql_over_prodloops_counters(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    promtool = require_binary("promtool")
    queries = [
        part["metricSource"]["spec"]["query"]
        for sli in by_kind(docs, "SLI").values()
        for part in (sli["spec"]["ratioMetric"]["bad"], sli["spec"]["ratioMetric"]["total"])
    ]
    assert all('service="chat"' in q or 'service="search"' in q for q in queries)
    rules = {
        "groups": [
            {"name": "openslo", "rules": [{"record": f"q:{i}", "expr": q} for i, q in
                                          enumerate(queries)]}
        ]
    }  # fmt: skip
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_slos_for_some_services_only_appear_for_those() -> None:
    config = parse_config(
        CONFIG + "slos:\n  objectives:\n"
        "    - {name: search-only, kind: ratio, objective: 0.9, services: [search]}\n",
        environ={"PD_KEY": "x"},
    )
    slos = by_kind(documents(config), "SLO")
    assert set(slos) == {"search-search-only"}


def test_without_services_or_with_sub_minute_windows_it_refuses() -> None:
    with pytest.raises(ValidationError) as no_services:
        openslo_documents(parse_config("", environ={}))
    assert no_services.value.field == "services"
    seconds = parse_config(
        CONFIG + "slos:\n  objectives:\n"
        "    - {name: quick, kind: ratio, objective: 0.9, alert: {above: 0.5, window: 90s}}\n",
        environ={"PD_KEY": "x"},
    )
    with pytest.raises(ValidationError, match="whole number of minutes") as sub_minute:
        openslo_documents(seconds)
    assert sub_minute.value.field == "slos.objectives.quick.alert"


def test_names_are_rfc1123_even_from_odd_text() -> None:
    assert object_name("Chat_Bot", "Error Rate (5xx)") == "chat-bot-error-rate-5xx"
    long = object_name("service-" * 10, "slo")
    assert len(long) == 63 and RFC1123.match(long)
    assert long != object_name("service-" * 10, "other")
