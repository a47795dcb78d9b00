"""The report's sections on incidents: the public status page and the drills."""

from __future__ import annotations

from typing import Any

from report_format import Report, fmt
from report_release import separate_note

INCIDENT_RESULTS = (
    ("statuspage.json", "bench/bench_statuspage.py", "l"),
    ("drills.json", "bench/bench_drills.py", "m"),
)
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


DRILL_MEASURES = ("detect", "page", "acknowledge", "mitigate", "first update", "rollback done")


def drills_section(r: Report, d: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## m. Drills", "")
    scenarios = (d or {}).get("scenarios") or []
    if not scenarios:
        r.add("Not measured in this run.", "")
        r.target("every drill scenario meets its targets", "–", None)
        return
    assert d is not None
    separate_note(r, "drills.json", "bench/bench_drills.py", d, machine.get("ended"))
    r.add(
        "`prodloop drill SCENARIO` on a demo store. Real time: 80 requests through a real"
        " prodloop gateway to the fake upstream, 40 with the fault off and 40 with it on"
        " (the rule reaches the gateway through its runtime-fault poller), all of a half in"
        " flight at once. Simulated time (a tick every 15 s of a manual clock): traffic"
        " replayed from the events that gateway wrote, at 5 requests per second, through"
        " prodloop's own alerting, paging, incidents, rollback and status page. Seconds from"
        " the fault to each step, against the covering runbook's `targets` (the shipped"
        " runbooks carry the guide's: alert within the 5-minute windows, public status update"
        " within 15 minutes of detection, mitigated within 30). The on-call acknowledges"
        " automatically; the first update is the templated one the 15-minute policy posts.",
        "",
        "| scenario | " + " | ".join(DRILL_MEASURES) + " | all targets met |",
        "| --- | " + " | ".join("---" for _ in DRILL_MEASURES) + " | --- |",
    )
    for row in scenarios:
        cells = []
        for name in DRILL_MEASURES:
            measure = row["measures"].get(name)
            if measure is None:
                cells.append("n/a")
                continue
            target = measure.get("target_s")
            bound = "" if target is None else f" (≤ {target:.0f})"
            seconds = measure.get("seconds")
            cells.append(("–" if seconds is None else f"{seconds:.0f} s") + bound)
        r.add(f"| {row['scenario']} | " + " | ".join(cells) + f" | {row['passed']} |")
    lives = [row for row in scenarios if row.get("live")]
    if lives:
        r.add(
            "",
            "The live burst through the gateway, fault off → on (the versions the fault"
            " targets; injected errors answer at once, so their latency is low):",
            "",
            "| scenario | requests | error rate | p95 latency | tokens per request | wall |",
            "| --- | --- | --- | --- | --- | --- |",
        )
        for row in lives:
            live = row["live"]
            off, on = live["error_rate"]
            p95_off, p95_on = live["p95_ms"]
            r.add(
                f"| {row['scenario']} | {live['requests']} | {off:.0%} → {on:.0%} |"
                f" {p95_off:.0f} → {p95_on:.0f} ms | ×{live['token_multiplier']:.2f} |"
                f" {live['wall_s']} s |"
            )
    r.add("")
    passed = sum(1 for row in scenarios if row["passed"])
    r.target(
        "every drill scenario meets its targets",
        f"{passed} of {len(scenarios)} scenarios",
        passed == len(scenarios),
    )
