"""The Grafana dashboard: a model Grafana imports as is, over valid PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from prodloop.config import Config, parse_config
from prodloop.slo.export import grafana_dashboard, prometheus_rules, render_grafana_dashboard
from tests.support import require_binary

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config("", environ={})


@pytest.fixture(scope="module")
def dashboard(config: Config) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_grafana_dashboard(config))
    return loaded


def test_dashboard_model_has_what_an_import_needs(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["id"] is None  # Grafana assigns one on import
    assert dashboard["uid"] == "prodloop-slos"
    assert dashboard["title"] and dashboard["panels"]
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "service"}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    service = variables["service"]
    assert service["type"] == "query"
    assert service["datasource"] == DATASOURCE
    assert service["query"]["query"] == "label_values(prodloop_requests_total, service)"
    assert service["includeAll"] and service["multi"] and service["allValue"] == ".*"


def test_panels_cover_the_slos_on_one_grid(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    titles = [panel["title"] for panel in panels]
    for wanted in ("Latency p50 / p95", "Error rate", "Token cost per request",
                   "Guardrail triggers", "Error budget remaining", "Burn rates"):  # fmt: skip
        assert wanted in titles
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24
        assert grid["h"] > 0 and grid["y"] >= 0
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["type"] in ("timeseries", "stat")
        assert panel["datasource"] == DATASOURCE
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)) and refs
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["expr"]
            assert 'service=~"$service"' in target["expr"]


def test_slo_targets_are_drawn_as_threshold_lines(dashboard: dict[str, Any]) -> None:
    def lines(title: str) -> list[float]:
        panel = next(p for p in dashboard["panels"] if p["title"] == title)
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        return [step["value"] for step in steps if step["value"] is not None]

    assert lines("Latency p50 / p95") == [2.0]
    assert lines("Error rate") == [pytest.approx(0.01)]
    assert lines("Token cost per request") == [0.002]
    assert lines("Burn rates") == [6.0, 14.4]


def test_every_query_is_valid_promql_over_recorded_series(
    config: Config, dashboard: dict[str, Any], tmp_path: Path
) -> None:
    promtool = require_binary("promtool")
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    # What Grafana substitutes before sending a query.
    concrete = [e.replace("$__rate_interval", "5m").replace("$service", ".*") for e in exprs]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"panel:query{i}", "expr": expr} for i, expr in enumerate(concrete)
    ]}]}  # fmt: skip
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    recorded = {
        rule["record"] for group in prometheus_rules(config)["groups"] for rule in group["rules"]
        if "record" in rule
    }  # fmt: skip
    used = {name for expr in exprs for name in re.findall(r"\bprodloop:[a-z0-9_:]+", expr)}
    assert used and used <= recorded


def test_thresholds_follow_the_config() -> None:
    config = parse_config(
        "slos:\n  window_days: 7\n  objectives:\n"
        "    - {name: fast, kind: latency, threshold_ms: 800}\n",
        environ={},
    )
    dashboard = grafana_dashboard(config)
    latency = next(p for p in dashboard["panels"] if p["title"] == "Latency p50 / p95")
    assert latency["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.8
    assert dashboard["panels"][0]["title"] == "Error budget remaining (7 days)"
