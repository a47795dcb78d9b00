"""The report's sections on the control loop: alert detection time and the cost of a tick."""

from __future__ import annotations

from typing import Any

from report_format import Report, fmt, fmt_spread, verdict

DETECTION_TOOLS = (
    ("prodloop", "prodloop evaluator"),
    ("prodloop rules in Prometheus", "prodloop rules in Prometheus"),
    ("Sloth-style", "Sloth-style"),
    ("Pyrra-style", "Pyrra-style"),
)
DAY_S = 86400.0


def duration(seconds: float) -> str:
    """A duration as 4m30s, 3h36m30s or 3d."""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    return text or "0s"


def first_alert(result: dict[str, Any] | None, kind: str) -> str:
    """Time to the first page (or ticket) and which alert it was, for one tool."""
    if not result:
        return "–"
    seconds = result.get(f"{kind}_s")
    if seconds is None:
        return f"no {kind}"
    alert = result.get(f"{kind}_alert")
    if not alert:
        return duration(seconds)
    # "SuccessRateBudgetBurn (1h)": the alert and its long window (Sloth: its severity).
    name, _, window = alert.partition(" (")
    return f"{duration(seconds)} ({name}, {window.rstrip(')')})" if window else alert


def page_verdict(scenario: dict[str, Any], tool: str) -> bool | None:
    """Whether the tool's first page meets the scenario's target (None: not judged long enough)."""
    result = scenario["tools"].get(tool)
    if not result or "target" not in scenario:
        return None
    page = result.get("page_s")
    limit = scenario.get("target_page_s")
    if limit is not None:
        return page is not None and page <= limit
    if page is not None:
        return False
    # "Never pages" holds only for as long as the scenario was judged: a day.
    return True if scenario["horizon_s"] >= DAY_S else None


def detection_section(r: Report, d: dict[str, Any] | None) -> None:
    r.add("## g. Alert detection time", "")
    if not d:
        r.add("Not measured in this run.", "")
        r.target("a 100 % outage pages within 5 min, a 5 % outage within 10 min", "–", None)
        r.target("no page for a 1 % error rate sustained for a day", "–", None)
        return
    slo = d["slo"]
    step = d["evaluation_interval_s"]
    r.add(
        f"A {slo['objective'] * 100:g} % success-rate SLO ({slo['window_days']}-day window) on"
        f" one service taking {slo['requests_per_s']:g} requests/s, evenly spaced: after"
        f" {duration(d['history_s'])} of healthy traffic (enough to fill every paging window),"
        " every request fails (full outage), every 20th fails (5 % outage), or every 100th"
        " fails (1 % error rate, which must never page). The same requests are judged four"
        f" ways, each evaluated every {step:g} s:",
        "",
        "- **prodloop evaluator**: prodloop's default rules (the guide's four SLOs: threshold"
        " rules and multi-window burn-rate rules) run by `evaluate_alerts` with a manual"
        " clock, the requests written to a SQLite store with `write_events`;",
        "- **prodloop rules in Prometheus**: the same rules as `prodloop slo export` writes"
        " them, run by `promtool test rules` on the series prodloop's /metrics gives for"
        f" those requests, scraped every {step:g} s;",
        "- **Sloth-style**: Sloth's SLI recordings and its page and ticket multi-window"
        " multi-burn-rate alerts (page on 14.4× over 1 h and 5 m or 6× over 6 h and 30 m;"
        " ticket on 3× over 1 d and 2 h or 1× over 3 d and 6 h), under promtool on the same"
        " request and error counters;",
        "- **Pyrra-style**: Pyrra's burn-rate recordings and its four alerts, windows scaled"
        " from 28 to 30 days (critical: 14× over 1h4m and 5m for 2m, 7× over 6h26m and 32m"
        " for 16m; warning: 2× over 25h43m and 2h9m for 1h4m, 1× over 102h51m and 6h26m for"
        " 3h13m), likewise.",
        "",
        "Under promtool each tool's recording rules are evaluated before its alerts (no lag"
        " between rule groups: the best case of a real Prometheus)."
        + (
            f" promtool {d['promtool'].split(' (')[0].split('version ')[-1]} (Debian)."
            if d.get("promtool")
            else ""
        ),
        "",
        "Time to the first page, counted from the first failed request (a page = an alert of"
        " severity page for prodloop and Sloth, critical for Pyrra; the alert and its long"
        " window in brackets):",
        "",
        "| scenario | " + " | ".join(label for _, label in DETECTION_TOOLS) + " | target |"
        " verdict (prodloop) |",
        "| --- | " + " | ".join("---" for _ in DETECTION_TOOLS) + " | --- | --- |",
    )
    scenarios = d["scenarios"]
    for s in scenarios:
        own = page_verdict(s, "prodloop")
        exported = page_verdict(s, "prodloop rules in Prometheus")
        judged = verdict(own) + (
            f" (in Prometheus: {verdict(exported)})" if exported != own else ""
        )
        r.add(
            f"| {s['scenario']} (judged {duration(s['horizon_s'])}) | "
            + " | ".join(first_alert(s["tools"].get(tool), "page") for tool, _ in DETECTION_TOOLS)
            + f" | {s.get('target', '–')} | {judged} |"
        )
    r.add(
        "",
        "Time to the first ticket (Pyrra: warning), for comparison:",
        "",
        "| scenario | " + " | ".join(label for _, label in DETECTION_TOOLS) + " |",
        "| --- | " + " | ".join("---" for _ in DETECTION_TOOLS) + " |",
    )
    for s in scenarios:
        r.add(
            f"| {s['scenario']} | "
            + " | ".join(first_alert(s["tools"].get(tool), "ticket") for tool, _ in DETECTION_TOOLS)
            + " |"
        )
    costs = [s["tools"]["prodloop"].get("evaluate_ms_mean") for s in scenarios]
    costs = [c for c in costs if c is not None]
    if costs:
        r.add(
            "",
            f"prodloop's evaluator took {fmt(min(costs), 1)}–{fmt(max(costs), 1)} ms per"
            " evaluation (one service, writing the new requests included).",
        )
    r.add("")
    by_name = {s["scenario"]: s for s in scenarios}
    for name, what in (
        ("full outage", "default rules page a 100 % outage within 5 min (99.5 % SLO)"),
        ("5 % outage", "default rules page a 5 % outage within 10 min (99.5 % SLO)"),
        ("1 % for a day", "no page for a 1 % error rate sustained for a day"),
    ):
        s = by_name.get(name)
        if not s:
            r.target(what, "not measured", None)
            continue
        own = s["tools"]["prodloop"]
        exported = s["tools"].get("prodloop rules in Prometheus")
        measured = first_alert(own, "page")
        if own.get("page_s") is None:
            measured = f"no page in {duration(s['horizon_s'])}"
            if s["horizon_s"] < DAY_S:
                measured += " (quick run: not judged for a day)"
        if exported:
            theirs = first_alert(exported, "page")
            same = theirs == first_alert(own, "page")
            measured += "; the same in Prometheus" if same else f"; in Prometheus: {theirs}"
        r.target(what, measured, page_verdict(s, "prodloop"))


def tick_section(r: Report, t: dict[str, Any] | None) -> None:
    r.add("## h. Loop tick cost", "")
    target = "one `loop.tick`, 10 services × 4 SLOs, 30 days of rollups, < 200 ms on SQLite"
    if not t:
        r.add("Not measured in this run.", "")
        r.target(target, "–", None)
        return
    windows = t.get("rule_windows_s") or []
    rules = (
        f"{t['alert_rules']} alert rules over {len(windows)} windows of"
        f" {duration(min(windows))} to {duration(max(windows))}"
        if windows and "alert_rules" in t
        else "every default alert rule"
    )
    r.add(
        f"A SQLite store holding what {t['days']} days of traffic at"
        f" {t['rate_per_s_per_service']} requests/s per service leave behind for"
        f" {t['services']} services: {t['minute_rows']:,} minute and {t['hour_rows']:,} hour"
        " rollup rows (latency histograms from `prodloop.telemetry.histogram`), plus"
        f" {t['raw_events']:,} raw events of the current partial minute"
        + (f" (set up in {fmt(t['fill_s'], 1)} s, not timed)" if "fill_s" in t else "")
        + f". The config holds the {t['services']} services and the guide's"
        f" {t['slos_per_service']} default SLOs, so a tick evaluates {rules}. Timed:"
        " `loop.tick(engine, config, now)`, all the control loop does once a tick (retention"
        " prune, alert evaluation, paging and what else it runs), `now` moving on by the tick"
        " interval"
        + (f" ({fmt(t['tick_interval_s'], 0)} s)" if "tick_interval_s" in t else "")
        + f" between calls: the first (cold) call, then median [min – max] of {t['runs']}"
        " more. `evaluate_alerts` alone and `slo_status` (what `prodloop slo status` and"
        " GET /api/v1/slos compute, 30-day budgets included) are timed the same way."
        + (
            f" Alert transitions over the ticks: {t['alert_transitions']} (healthy traffic)."
            if "alert_transitions" in t
            else ""
        ),
        "",
        "| measure | median [min – max] (ms) | cold (ms) |",
        "| --- | --- | --- |",
    )

    def row(label: str, figures: dict[str, float]) -> None:
        s = {"median": figures["median_ms"], "min": figures["min_ms"],
             "max": figures["max_ms"], "rounds": t["runs"]}  # fmt: skip
        r.add(f"| {label} | {fmt_spread(s, 1)} | {fmt(figures['cold_ms'], 1)} |")

    row("`loop.tick`", t["tick"])
    row("`evaluate_alerts` alone", t["evaluate_alerts"])
    row("`slo_status`", t["slo_status"])
    r.add("")
    tick = t["tick"]
    r.target(
        target,
        f"{fmt(tick['median_ms'], 1)} ms [{fmt(tick['min_ms'], 1)} –"
        f" {fmt(tick['max_ms'], 1)}], cold {fmt(tick['cold_ms'], 1)} ms",
        tick["median_ms"] < t.get("target_ms", 200),
    )
