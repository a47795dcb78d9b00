"""The report's sections on feedback and analytics: ingest, funnels, clustering, dashboard."""

from __future__ import annotations

import statistics
from typing import Any

from report_format import Report, fmt, fmt_spread, ratio, rounds
from report_release import separate_note

FEEDBACK_RESULTS = (
    ("public_ingest.json", "bench/bench_public_ingest.py", "n"),
    ("funnel.json", "bench/bench_funnel.py", "o"),
    ("clustering.json", "bench/bench_clustering.py", "p"),
    ("dashboard.json", "bench/bench_dashboard.py", "q"),
)
INGEST_PATHS = {
    "/ingest/events": "/ingest/events (prodloop's shape)",
    "/batch/": "/batch/ (PostHog's shape)",
}
STORES = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL"}


def _median_of_runs(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [float(run["latency_ms"][key]) for run in runs if key in run.get("latency_ms", {})]
    return statistics.median(values) if values else None


def _errors(runs: list[dict[str, Any]]) -> int:
    return sum(sum((run.get("errors") or {}).values()) for run in runs)


def public_ingest_section(r: Report, p: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## n. Public ingest: analytics events/s", "")
    target = float((p or {}).get("target_events_per_s", 10_000))
    targets = [
        f"public ingest {path} ≥ {target:,.0f} events/s into SQLite" for path in INGEST_PATHS
    ]
    if not p or not p.get("sqlite"):
        r.add("Not measured in this run.", "")
        for what in targets:
            r.target(what, "–", None)
        return
    separate_note(r, "public_ingest.json", "bench/bench_public_ingest.py", p, machine.get("ended"))
    first = next(iter(p["sqlite"].values()))["runs"][0]
    r.add(
        f"`prodloop up --control-only` (uvicorn, one worker) takes batches of"
        f" {p['batch_events']} analytics events (pageviews and clicks with a handful of"
        " properties, as the widget and posthog-js send them) over HTTP, to /ingest/events"
        " and to PostHog's /batch/ with the same events in PostHog's shape, with the public"
        " ingest key and the rate limits off. Load: `"
        + first["command"]
        + f"` ({first['connections']} connections) for {fmt(first['seconds'], 0)} s per round,"
        " a fresh store each round. A 2xx means the batch is stored: events/s = events in"
        " batches answered 2xx ÷ seconds, and the rows in the store are counted afterwards"
        " (every acknowledged event was there in every round). PostgreSQL: a throwaway"
        " cluster, fsync on."
        + (
            f" Load average (1 min) at start {fmt(p['load_average_start'], 1)}, at end"
            f" {fmt(p.get('load_average_end'), 1)}."
            if p.get("load_average_start") is not None
            else ""
        ),
        "",
        "| store | endpoint | events/s | p50 (ms) | p99 (ms) | errors | events stored |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    )
    for store, store_label in STORES.items():
        for path, label in INGEST_PATHS.items():
            data = (p.get(store) or {}).get(path)
            if not data:
                continue
            runs = data["runs"]
            r.add(
                f"| {store_label} | {label} | {fmt_spread(data['events_per_s'], 0)} |"
                f" {fmt(_median_of_runs(runs, 'p50'), 1)} |"
                f" {fmt(_median_of_runs(runs, 'p99'), 1)} | {_errors(runs)} |"
                f" {sum(run['events_stored'] for run in runs):,} |"
            )
    r.add("")
    sqlite = p["sqlite"]
    postgresql = p.get("postgresql") or {}
    rows = []
    for path, label in INGEST_PATHS.items():
        ours = (sqlite.get(path) or {}).get("events_per_s", {}).get("median")
        other = (postgresql.get(path) or {}).get("events_per_s", {}).get("median")
        if ours and other:
            rows.append(f"| {label} | {ratio(other, ours)} |")
    r.add(
        "No analytics server to compare with runs on this machine (PostHog needs ClickHouse,"
        " Kafka and Redis); the references are the other store and PostHog's own endpoint"
        " shape, measured in the same run."
        + ("" if rows else " PostgreSQL was not measured in this run."),
        "",
    )
    if rows:
        r.add(
            "PostgreSQL over SQLite (medians):",
            "",
            "| endpoint | PostgreSQL ÷ SQLite |",
            "| --- | --- |",
            *rows,
            "",
        )
    for (path, _), what in zip(INGEST_PATHS.items(), targets, strict=True):
        data = sqlite.get(path)
        if not data:
            r.target(what, "–", None)
            continue
        value = data["events_per_s"]["median"]
        errors = _errors(data["runs"])
        other = (postgresql.get(path) or {}).get("events_per_s", {}).get("median")
        beside = f" (PostgreSQL {fmt(other, 0)})" if other else ""
        r.target(
            what,
            f"{fmt(value, 0)} events/s{beside}" + (f", {errors} errors" if errors else ""),
            value >= target and not errors,
        )


FUNNEL_QUERIES = {
    "prodloop": "prodloop `compute_funnel`, sequential order",
    "reference": "reference: one pure-SQL query with window functions",
    "strict": "prodloop, strict order",
    "any": "prodloop, any order",
    "breakdown_version": "prodloop, sequential, broken down by version",
}
FULL_FUNNEL_EVENTS = 1_000_000


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _days(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 86400:.1f} days"


def funnel_section(r: Report, f: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add(f"## o. Funnel over {FULL_FUNNEL_EVENTS:,} events", "")
    what = f"funnel: 3 steps over {FULL_FUNNEL_EVENTS:,} events on SQLite < 2 s"
    if not f:
        r.add("Not measured in this run.", "")
        r.target(what, "–", None)
        return
    separate_note(r, "funnel.json", "bench/bench_funnel.py", f, machine.get("ended"))
    counts = f["counts"]
    seconds = f["seconds"]
    load = f.get("load_average") or {}
    r.add(
        f"`python bench/bench_funnel.py`: {f['events']:,} analytics events of"
        f" {f['users']:,} users over 60 days (seed {f['seed']}; $pageview, $click, signup,"
        " first_question, thumbs_up and others), bulk-inserted into a fresh SQLite"
        f" {f['sqlite']} store ({fmt(f['insert_s'], 1)} s), plus one request_events row"
        " per user for the breakdown by version. Timed: the funnel signup → first_question →"
        " thumbs_up, first steps in the last 30 days, 14-day conversion window. prodloop"
        " reads the step events ordered by user and time from SQL and makes one Python pass"
        " per user (counts, conversion, median times, drop-off); the reference is the same"
        " funnel as one SQL query with window functions (the way PostHog writes funnels in"
        " SQL), counts only. The two run in the same process on the same file, alternating,"
        f" {_times(len(seconds.get('prodloop', [])))} each after a warm-up, and their counts"
        " must agree; then the variants,"
        f" {_times(len(seconds.get('strict', [])))} each. Load average (1 min) at start"
        f" {fmt((load.get('start') or [None])[0], 1)}, at end"
        f" {fmt((load.get('end') or [None])[0], 1)}.",
        "",
        "| query | seconds: median [min – max] | runs |",
        "| --- | --- | --- |",
    )
    for name, label in FUNNEL_QUERIES.items():
        samples = seconds.get(name)
        if not samples:
            continue
        r.add(
            f"| {label} | {fmt(f['median_s'][name], 3)} [{fmt(min(samples), 3)} –"
            f" {fmt(max(samples), 3)}] | {len(samples)} |"
        )
    medians = f["median_s"]
    gaps = f.get("median_s_from_previous") or []
    r.add(
        "",
        f"Users per step: {counts[0]:,} → {counts[1]:,} → {counts[2]:,} (the reference's"
        " counts are the same); median time from the previous step:"
        f" {', '.join(_days(gap) for gap in gaps[1:])}. The reference took"
        f" {ratio(medians.get('reference'), medians.get('prodloop'))} prodloop's time"
        " (medians)."
        + (
            f" Strict order takes {fmt(medians['strict'], 2)} s, over the 2 s of the"
            " sequential funnel's target."
            if medians.get("strict", 0) >= 2
            else ""
        ),
        "",
    )
    value = medians["prodloop"]
    if f["events"] < FULL_FUNNEL_EVENTS:
        r.target(what, f"{fmt(value, 3)} s over {f['events']:,} events only", None)
        return
    r.target(
        what,
        f"{fmt(value, 3)} s (reference SQL {fmt(medians.get('reference'), 3)} s)",
        value < float(f.get("target_s", 2.0)),
    )


def _project_venv_has_embeddings() -> bool:
    """Whether the interpreter writing the report (the project's .venv) has the extra."""
    from prodloop.feedback.clusters import embeddings_available

    return embeddings_available()


def clustering_section(r: Report, c: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## p. Feedback clustering", "")
    what = "feedback clustering: embeddings group the known problems better than TF-IDF (ARI)"
    results = {row["method"]: row for row in (c or {}).get("results") or []}
    if not c or "tfidf" not in results:
        r.add("Not measured in this run.", "")
        r.target(what, "–", None)
        return
    separate_note(r, "clustering.json", "bench/bench_clustering.py", c, machine.get("ended"))
    tfidf = results["tfidf"]
    embeddings = c.get("embeddings") or {}
    r.add(
        f"`python bench/bench_clustering.py`: {tfidf['comments']:,} feedback comments"
        " generated from a fixed seed, 40 known problems (20 subjects × broken/slow) each"
        " told in many wordings (templates, synonyms, filler, case), plus 20 % one-off"
        " comments. Timed: `prodloop.feedback.clusters.cluster_texts`, what `prodloop"
        " feedback clusters` runs, vectorising and grouping every comment from scratch each"
        f" round, {rounds(tfidf['rounds'])} per method. Quality against the known problems:"
        " the adjusted Rand index (1 = exactly the known groups), recall (the share of"
        " comments about a known problem grouped with most of its reports) and the number"
        " of groups of 2 or more. TF-IDF is the reference: what runs without the optional"
        " extra, on the same comments in the same run. No time target is set.",
        "",
    )
    if not embeddings.get("installed"):
        r.add(
            "Sentence embeddings: `prodloop[embeddings]` not installed in this run; TF-IDF only.",
            "",
        )
    elif not embeddings.get("project_venv", _project_venv_has_embeddings()):
        r.add(
            "*Both rows come from a run of the script in a separate venv with the"
            " `prodloop[embeddings]` extra installed (all-MiniLM-L6-v2 on the CPU), not from"
            " the project's .venv that `make bench` uses, which lacks the extra.*",
            "",
        )
    r.add(
        "| method | similarity threshold | seconds: median [min – max] | ARI | recall |"
        " groups of 2+ (known problems) |",
        "| --- | --- | --- | --- | --- | --- |",
    )
    for name, label in (("tfidf", "TF-IDF"), ("embeddings", "sentence embeddings")):
        row = results.get(name)
        if not row:
            continue
        r.add(
            f"| {label} | {row['threshold']:g} | {fmt(row['seconds_median'], 2)}"
            f" [{fmt(row['seconds_min'], 2)} – {fmt(row['seconds_max'], 2)}] |"
            f" {row['adjusted_rand_index']:.3f} | {row['recall'] * 100:.1f} % |"
            f" {row['groups_of_2_or_more']} ({row['known_problems']}) |"
        )
    r.add("")
    ours = results.get("embeddings")
    if not ours:
        r.target(what, "embeddings not installed in this run", None)
        return
    r.add(
        f"Sentence embeddings took {ratio(ours['seconds_median'], tfidf['seconds_median'])}"
        " TF-IDF's time (medians), plus loading the model once per process"
        f" ({fmt(embeddings.get('model_load_s'), 1)} s).",
        "",
    )
    r.target(
        what,
        f"ARI {ours['adjusted_rand_index']:.3f} vs {tfidf['adjusted_rand_index']:.3f}, recall"
        f" {ours['recall'] * 100:.1f} vs {tfidf['recall'] * 100:.1f} %;"
        f" {fmt(ours['seconds_median'], 1)} vs {fmt(tfidf['seconds_median'], 1)} s",
        ours["adjusted_rand_index"] > tfidf["adjusted_rand_index"],
    )


DASHBOARD_PAGES = {"overview (24h)": "/", "service page (24h)": "/services/svc03"}
# The JSON's keys come sorted; the table shows the pages first, then what they fetch.
DASHBOARD_ORDER = ("overview (24h)", "service page (24h)", "overview cards fragment")


def dashboard_section(r: Report, d: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## q. Dashboard server time and page weight", "")
    target_ms = float((d or {}).get("target_ms", 150))
    page_targets = [f"dashboard {name} server time < {target_ms:g} ms" for name in DASHBOARD_PAGES]
    assets_what = "dashboard JS + CSS < 200 KB uncompressed"
    if not d or not d.get("timings"):
        r.add("Not measured in this run.", "")
        for what in page_targets:
            r.target(what, "–", None)
        r.target(assets_what, "–", None)
        return
    separate_note(r, "dashboard.json", "bench/bench_dashboard.py", d, machine.get("ended"))
    r.add(
        f"`python bench/bench_dashboard.py`: the store bench_tick.py fills ({d['services']}"
        f" services, {d['days']} days at 10 requests/s each: {d['minute_rows']:,} minute and"
        f" {d['hour_rows']:,} hour rollup rows, {d['raw_events']:,} raw events of the current"
        " minute; SQLite, the default SLOs). The real control-plane app driven in process"
        " through Starlette's TestClient with a logged-in viewer's session, so the time is"
        " the app's own (routing, session, queries, rendering) without a network. Each page"
        f" once cold, then {d['runs']} times. The pages fetch their charts' data and refresh"
        " their SLO cards in separate requests, timed on their own rows.",
        "",
        "| request | median (ms) | min – max (ms) | cold (ms) |",
        "| --- | --- | --- | --- |",
    )
    reference = d.get("reference") or {}
    timings = d["timings"]
    ordered = [name for name in DASHBOARD_ORDER if name in timings]
    ordered += [name for name in timings if name not in ordered]
    for name, row in [*((name, timings[name]) for name in ordered), *reference.items()]:
        r.add(
            f"| {name} | {fmt(row['median_ms'], 1)} | {fmt(row['min_ms'], 1)} –"
            f" {fmt(row['max_ms'], 1)} | {fmt(row['cold_ms'], 1)} |"
        )
    r.add("")
    overview = d["timings"].get("overview (24h)")
    if reference and overview:
        name, row = next(iter(reference.items()))
        r.add(
            "No dashboard that could be installed here reads this store (Grafana is not"
            f" packaged for this machine); the reference is the same app's `{name.split(' (')[0]}`"
            " with a user's API token, timed the same way in the same run: the SLO status"
            " of every service that the overview's cards are built from, as JSON, without"
            " session, template or charts. Overview"
            f" {fmt(overview['median_ms'], 1)} ms against {fmt(row['median_ms'], 1)} ms"
            f" ({ratio(overview['median_ms'], row['median_ms'])}, medians): the page's cost is"
            " the SLO status it shows.",
            "",
        )
    else:
        r.add("No reference was measured for the pages in this run.", "")
    sizes = d.get("assets_bytes") or {}
    total = d["all_assets_bytes"]
    r.add(
        "Every JS and CSS file the dashboard serves, uncompressed (the whole dashboard must"
        " stay under 200 KB, vendored libraries included):",
        "",
        "| file | bytes |",
        "| --- | --- |",
        *(f"| {name} | {size:,} |" for name, size in sizes.items()),
        f"| **total** (prodloop's own {d['own_assets_bytes']:,}) | **{total:,}** |",
        "",
    )
    for (name, _), what in zip(DASHBOARD_PAGES.items(), page_targets, strict=True):
        row = d["timings"].get(name)
        if not row:
            r.target(what, "–", None)
            continue
        r.target(what, f"{fmt(row['median_ms'], 1)} ms", row["median_ms"] < target_ms)
    limit = int(d.get("assets_target_bytes", 200 * 1024))
    r.target(
        assets_what,
        f"{total:,} bytes ({total / 1024:.1f} KiB; own {d['own_assets_bytes'] / 1024:.1f} KiB)",
        total < limit,
    )
