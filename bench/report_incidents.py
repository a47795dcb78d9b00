"""The report's sections on incidents: the public status page."""

from __future__ import annotations

from typing import Any

from report_format import Report, fmt
from report_release import separate_note

INCIDENT_RESULTS = (("statuspage.json", "bench/bench_statuspage.py", "l"),)
STATUSPAGE_DOCUMENTS = {
    "summary.json": ("/status/api/v2/summary.json", "status page: summary.json ≥ 500 req/s"),
    "html": ("/status (HTML)", "status page: HTML page ≥ 500 req/s"),
}


def statuspage_section(r: Report, s: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## l. Public status page", "")
    results = (s or {}).get("results") or {}
    if not s or not results:
        r.add("Not measured in this run.", "")
        for _, what in STATUSPAGE_DOCUMENTS.values():
            r.target(what, "–", None)
        return
    separate_note(r, "statuspage.json", "bench/bench_statuspage.py", s, machine.get("ended"))
    target = float(s.get("target_requests_per_s", 500.0))
    r.add(
        f"prodloop's control plane (uvicorn, one worker, SQLite store) serves the public"
        f" status page of {s['components']} components and {s['incidents']} published"
        " incidents with three updates each, a firing page, a scheduled maintenance and 90"
        f" days of hourly rollups. Load: {s['load_generator']} with {s['connections']}"
        f" connections for {s['duration_s']} s per document, one document after the other;"
        " the page is rebuilt from the store every 5 s (statuspage.refresh_s) during the run.",
        "",
        "| document | requests/s | p99 (ms) | non-2xx | target |",
        "| --- | --- | --- | --- | --- |",
    )
    for name, (label, _) in STATUSPAGE_DOCUMENTS.items():
        got = results.get(name)
        if not got:
            r.add(f"| {label} | – | – | – | ≥ {target:g} req/s |")
            continue
        r.add(
            f"| {label} | {fmt(got['requests_per_s'], 0)} | {fmt(got.get('p99_ms'), 1)} |"
            f" {got.get('non_2xx', 0)} | ≥ {target:g} req/s |"
        )
    r.add("")
    for name, (_, what) in STATUSPAGE_DOCUMENTS.items():
        got = results.get(name)
        if not got:
            r.target(what, "–", None)
            continue
        failed = got.get("non_2xx", 0)
        errors = f", {failed} non-2xx" if failed else ""
        r.target(
            what,
            f"{fmt(got['requests_per_s'], 0)} req/s{errors}",
            got["requests_per_s"] >= target and not failed,
        )
