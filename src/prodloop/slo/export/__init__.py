"""SLOs and their alerts in other tools' formats: Prometheus rules, OpenSLO, Grafana."""

from __future__ import annotations

from prodloop.slo.export.grafana import grafana_dashboard, render_grafana_dashboard
from prodloop.slo.export.openslo import openslo_documents, render_openslo
from prodloop.slo.export.prometheus import prometheus_rules, render_prometheus_rules

__all__ = [
    "grafana_dashboard",
    "openslo_documents",
    "prometheus_rules",
    "render_grafana_dashboard",
    "render_openslo",
    "render_prometheus_rules",
]
