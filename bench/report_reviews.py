"""The report's sections on closing the loop: the weekly review and the demo."""

from __future__ import annotations

from typing import Any

from report_format import Report, fmt
from report_release import separate_note

REVIEW_RESULTS = (
    ("review.json", "bench/bench_review.py", "r"),
    ("demo.json", "bench/bench_demo.py", "s"),
)
FULL_REVIEW_EVENTS = 1_000_000
STORES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def review_section(r: Report, v: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## r. Weekly review", "")
    target_s = float((v or {}).get("target_s", 10.0))
    what = (
        "weekly review of a week at 50 req/s, 5,000 feedback items and"
        f" {FULL_REVIEW_EVENTS:,} analytics events < {target_s:g} s"
    )
    if not v or not v.get("write_weekly_s"):
        r.add("Not measured in this run.", "")
        r.target(what, "–", None)
        return
    separate_note(r, "review.json", "bench/bench_review.py", v, machine.get("ended"))
    timed = v["write_weekly_s"]
    store = STORES.get(v["engine"], v["engine"])
    r.add(
        f"`python bench/bench_review.py`: a fresh {store} store holding a week at"
        f" {v['rate_per_s']} requests/s ({v['requests']:,} requests) and the week before,"
        " written as the hour and minute rollups those requests make (per hour and per"
        " version, route and model, with latency histograms of the right counts) plus"
        f" 100,000 raw request events of the last day; {v['feedback']:,} feedback items,"
        f" {v['analytics_events']:,} analytics events of 20,000 users, 30 deploys and 4"
        " incidents, inserted in bulk. Timed: `write_weekly`, what `prodloop review weekly`"
        " and the loop run: request figures per day and version against last week, SLO"
        " attainment, incidents, DORA, the funnel (steps chosen from every user's first"
        " occurrence of every event in the week) and retention, feedback, experiments,"
        " grooming, then the Markdown and HTML files and the `reviews` row."
        f" {v['repeats']} runs after one warm-up on the same store.",
        "",
        "| requests in the week | feedback | analytics events | seconds: median [min – max]"
        " | regressions called out |",
        "| --- | --- | --- | --- | --- |",
        f"| {v['requests']:,} | {v['feedback']:,} | {v['analytics_events']:,} |"
        f" {fmt(timed['median'], 2)} [{fmt(timed['min'], 2)} – {fmt(timed['max'], 2)}] |"
        f" {v.get('regressions_called_out', '–')} |",
        "",
        "There is no external reference: no other tool writes this review from this store,"
        " and the run did not time a review of an empty week; the target"
        f" ({target_s:g} s) is the only yardstick.",
        "",
    )
    value = float(timed["median"])
    if v["analytics_events"] < FULL_REVIEW_EVENTS:
        r.target(what, f"{fmt(value, 2)} s over {v['analytics_events']:,} events only", None)
        return
    r.target(what, f"{fmt(value, 2)} s", value < target_s)


def demo_section(r: Report, d: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## s. The demo", "")
    target_s = float((d or {}).get("target_s", 180.0))
    what = f"`prodloop demo` wall time after setup < {target_s / 60:g} minutes"
    if not d or not d.get("runs"):
        r.add("Not measured in this run.", "")
        r.target(what, "–", None)
        return
    separate_note(r, "demo.json", "bench/bench_demo.py", d, machine.get("ended"))
    load = d.get("load_average") or [None]
    r.add(
        f"`python bench/bench_demo.py`: `{d['command']}` as `make demo` runs it once .venv"
        " exists (ten simulated days of a launch: every request through a real gateway,"
        " every feedback item and analytics event through the real public ingest, the"
        " canary, the incident, the checklist, the experiment and the weekly review), each"
        " run a subprocess in a fresh temporary folder. Timed: wall time from the start of"
        f" the process to its exit, {len(d['runs'])} runs; the counts are what the demo"
        f" printed. Load average (1 min) at the end {fmt(load[0], 1)} on {d.get('cpus', '?')}"
        " CPUs.",
        "",
        "| run | wall time (s) | requests | analytics events | feedback | launch checklist |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {n} | {fmt(run['wall_s'], 1)} | {_count(run.get('requests'))} |"
            f" {_count(run.get('analytics_events'))} | {_count(run.get('feedback'))} |"
            f" {run.get('checklist') or '–'} |"
            for n, run in enumerate(d["runs"], 1)
        ),
        "",
        f"Median {fmt(d['wall_s']['median'], 1)} s [{fmt(d['wall_s']['min'], 1)} –"
        f" {fmt(d['wall_s']['max'], 1)}]. No external reference: the target is"
        f" {target_s:g} s ({target_s / 60:g} minutes) for the slowest run.",
        "",
    )
    slowest = float(d["wall_s"]["max"])
    if "--quick" in d["command"]:
        r.target(what, f"{fmt(slowest, 1)} s for `{d['command']}` only", None)
        return
    r.target(
        what,
        f"{fmt(d['wall_s']['median'], 1)} s (slowest {fmt(slowest, 1)} s)",
        slowest < target_s,
    )
