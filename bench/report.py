"""Write bench/RESULTS.md from the raw results in bench/.work/*.json."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common import BENCH, ROOT, read_json
from report_feedback import (
    FEEDBACK_RESULTS,
    clustering_section,
    dashboard_section,
    funnel_section,
    public_ingest_section,
)
from report_format import Report, fmt, fmt_spread, median, ratio, rounds, verdict
from report_incidents import INCIDENT_RESULTS, drills_section, statuspage_section
from report_loop import detection_section, tick_section
from report_release import (
    RELEASE_RESULTS,
    flags_section,
    judge_section,
    separate_runs,
    when,
    zero_downtime_section,
)
from report_reviews import REVIEW_RESULTS, demo_section, review_section

REFERENCES = ("litellm", "portkey")
NAMES = {
    "direct": "direct (no proxy)",
    "prodloop": "prodloop",
    "litellm": "LiteLLM proxy",
    "portkey": "Portkey gateway",
}


def machine_section(r: Report, machine: dict[str, Any]) -> None:
    started = machine.get("started")
    ended = machine.get("ended")
    when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(started)) if started else "?"
    minutes = f"{(ended - started) / 60:.1f} min" if started and ended else "?"
    r.add(
        f"Measured {when} by `{machine.get('command', 'make bench')}` (runs `bash bench/run.sh`),"
        f" which took {minutes}."
        + (
            " **Quick run (BENCH_QUICK=1): short, for checking the scripts only.**"
            if machine.get("quick")
            else ""
        ),
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {machine.get('nproc')} × {machine.get('cpu', '?')} |",
        f"| RAM | {machine.get('ram_gib', '?')} GiB |",
        f"| OS | {machine.get('os', '?')}, Linux {machine.get('kernel', '?')} |",
        f"| Python | {machine.get('python')} (prodloop {machine.get('prodloop')}, uvicorn"
        f" {machine.get('uvicorn')}, SQLite {machine.get('sqlite')}) |",
        f"| Node.js | {machine.get('node')} |",
        f"| LiteLLM | litellm[proxy] {machine.get('litellm')} (PyPI), own venv, 1 worker, no"
        " database |",
        f"| Portkey | @portkey-ai/gateway {machine.get('portkey')} (npm), node, 1 process |",
        f"| PostgreSQL | {machine.get('postgresql')} (Debian), throwaway cluster, fsync on |",
        f"| load generator | {machine.get('wrk')} (Debian) with bench/wrk_post.lua; Python"
        " http.client for sequential requests |",
        f"| load average (1/5/15 min) | at start {machine.get('load_at_start')}, at end"
        f" {machine.get('load_at_end')} |",
        "",
        "Every server runs on this one machine, on 127.0.0.1, beside the load generator: the"
        " figures are for comparing side by side, not absolute capacity. The machine is"
        " shared with other work, so each measure is repeated in rounds and shown as"
        " median [min – max] over the rounds.",
        "",
    )
    if machine.get("failed"):
        r.add(f"**Benchmarks that failed in this run: {', '.join(machine['failed'])}.**", "")


def latency_section(r: Report, g: dict[str, Any]) -> None:
    lat = g.get("latency")
    r.add("## a. Added latency over a direct call", "")
    if not lat:
        r.add("Not measured in this run.", "")
        r.target("added latency p50 ≤ 1 ms, p99 ≤ 3 ms", "–", None)
        return
    r.add(
        f"Sequential keep-alive POST /v1/chat/completions (small body, not streamed):"
        f" {lat['requests_per_round']:,} requests per target per round after"
        f" {lat['warmup']} warm-up requests, {rounds(lat['rounds'])}; in each round the targets"
        f" take turns in blocks, in shuffled order. Client: {lat['client']}. Added = the"
        " target's percentile minus the direct calls' same percentile in the same round.",
        "",
        "| target | p50 (ms) | p99 (ms) | added p50 (ms) | added p99 (ms) |",
        "| --- | --- | --- | --- | --- |",
    )
    for name, absolute in lat["absolute_ms"].items():
        added = lat["added_ms"].get(name, {})
        r.add(
            f"| {NAMES.get(name, name)} | {fmt_spread(absolute['p50'], 3)} |"
            f" {fmt_spread(absolute['p99'], 3)} | {fmt_spread(added.get('p50'), 3)} |"
            f" {fmt_spread(added.get('p99'), 3)} |"
        )
    r.add("")
    ours = lat["added_ms"].get("prodloop")
    rows = []
    for ref in REFERENCES:
        theirs = lat["added_ms"].get(ref)
        if ours and theirs:
            rows.append(
                f"| {NAMES[ref]} | {ratio(theirs['p50']['median'], ours['p50']['median'])} |"
                f" {ratio(theirs['p99']['median'], ours['p99']['median'])} |"
            )
    if rows:
        r.add(
            "Reference's added latency over prodloop's (medians):",
            "",
            "| reference | p50 | p99 |",
            "| --- | --- | --- |",
            *rows,
            "",
        )
    own = lat.get("self_reported_overhead_ms", {})
    if own:
        parts = [
            f"{NAMES.get(n, n)} p50 {fmt(v['p50'], 3)} ms / p99 {fmt(v['p99'], 3)} ms"
            for n, v in own.items()
        ]
        r.add(
            "Overhead the gateways report themselves (x-prodloop-overhead-ms,"
            " x-litellm-overhead-duration-ms), last round: " + "; ".join(parts) + ".",
            "",
        )
    if not ours:
        r.target("added latency p50 ≤ 1 ms", "prodloop not measured", None)
        return
    p50 = ours["p50"]["median"]
    p99 = ours["p99"]["median"]
    r.target("added latency p50 ≤ 1 ms", f"{fmt(p50, 3)} ms", p50 <= 1.0)
    r.target("added latency p99 ≤ 3 ms", f"{fmt(p99, 3)} ms", p99 <= 3.0)
    portkey = lat["added_ms"].get("portkey")
    if portkey:
        r.target(
            "added latency below Portkey's (p50 and p99)",
            f"p50 {fmt(p50, 3)} vs {fmt(portkey['p50']['median'], 3)} ms; p99 {fmt(p99, 3)} vs"
            f" {fmt(portkey['p99']['median'], 3)} ms",
            p50 < portkey["p50"]["median"] and p99 < portkey["p99"]["median"],
        )
    else:
        r.target("added latency below Portkey's", "Portkey not measured", None)
    litellm = lat["added_ms"].get("litellm")
    if litellm:
        r.target(
            "added latency ≥ 10× below LiteLLM's (p50 and p99)",
            f"p50 {ratio(litellm['p50']['median'], p50)}, p99"
            f" {ratio(litellm['p99']['median'], p99)} below",
            litellm["p50"]["median"] >= 10 * p50 and litellm["p99"]["median"] >= 10 * p99,
        )
    else:
        r.target("added latency ≥ 10× below LiteLLM's", "LiteLLM not measured", None)


def throughput_section(r: Report, g: dict[str, Any]) -> None:
    tp = g.get("throughput")
    r.add("## b. Throughput at concurrency 32", "")
    if not tp:
        r.add("Not measured in this run.", "")
        r.target("throughput ≥ 1,500 req/s at c=32", "–", None)
        return
    r.add(
        f"`{tp['command']}` against each target, {rounds(tp['rounds'])}, the order rotated"
        " each round, after a 3 s warm-up run each. Load generator: wrk from Debian with"
        " bench/wrk_post.lua (POST body and headers). One worker each; prodloop with"
        " metering and the store writer on.",
        "",
        "| target | requests/s | p50 under load (ms) | p99 under load (ms) | errors | prodloop ÷"
        " target |",
        "| --- | --- | --- | --- | --- | --- |",
    )
    summary = tp["summary"]
    ours = median(summary.get("prodloop"), "requests_per_s")
    for name, s in summary.items():
        rps = s["requests_per_s"]["median"]
        r.add(
            f"| {NAMES.get(name, name)} | {fmt_spread(s['requests_per_s'], 0)} |"
            f" {fmt_spread(s['p50_ms'])} | {fmt_spread(s['p99_ms'])} |"
            f" {s['errors']} of {s['requests']:,} |"
            f" {ratio(ours, rps) if name != 'prodloop' else ''} |"
        )
    r.add("")
    if ours is None:
        r.target("throughput ≥ 1,500 req/s at c=32", "prodloop not measured", None)
        return
    errors = summary["prodloop"]["errors"]
    r.target(
        "throughput ≥ 1,500 req/s at c=32 (no errors)",
        f"{fmt(ours, 0)} req/s, {errors} errors",
        ours >= 1500 and errors == 0,
    )
    portkey = median(summary.get("portkey"), "requests_per_s")
    r.target(
        "throughput above Portkey's",
        f"{fmt(ours, 0)} vs {fmt(portkey, 0)} req/s" if portkey else "Portkey not measured",
        None if portkey is None else ours > portkey,
    )


def stream_table(r: Report, st: dict[str, Any]) -> None:
    r.add(
        "| target | TTFB p50 (ms) | TTFB p99 (ms) | added TTFB p50 (ms) | added TTFB p99 (ms) |"
        " whole stream p50 (ms) | added whole stream p50 (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    )
    ttfb = st["ttfb"]
    total = st["total"]
    for name, absolute in ttfb["absolute_ms"].items():
        added = ttfb["added_ms"].get(name, {})
        added_total = total["added_ms"].get(name, {})
        r.add(
            f"| {NAMES.get(name, name)} | {fmt_spread(absolute['p50'], 3)} |"
            f" {fmt_spread(absolute['p99'], 3)} | {fmt_spread(added.get('p50'), 3)} |"
            f" {fmt_spread(added.get('p99'), 3)} |"
            f" {fmt_spread(total['absolute_ms'][name]['p50'], 3)} |"
            f" {fmt_spread(added_total.get('p50'), 3)} |"
        )
    r.add("")


def data_lines(st: dict[str, Any]) -> str:
    return ", ".join(
        f"{NAMES.get(n, n)} {v['min']}" + (f"–{v['max']}" if v["max"] != v["min"] else "")
        for n, v in st["data_events"].items()
    )


def streaming_section(r: Report, g: dict[str, Any]) -> None:
    st = g.get("streaming")
    r.add("## c. Streaming: time to first byte", "")
    if not st:
        r.add("Not measured in this run.", "")
        r.target("streaming TTFB added ≤ 1 ms", "–", None)
        return
    r.add(
        f"Sequential streamed chat completions (`stream: true`), the fake upstream answering"
        f" {st['chunks']} content chunks with no delay; {st['requests_per_round']} per target"
        f" per round, {rounds(st['rounds'])}, interleaved as in (a). TTFB = time from sending"
        " the request to reading the first `data:` line of the SSE body; the whole stream's"
        f" time is shown too. Client: {st['client']}. `data:` lines each client received:"
        f" {data_lines(st)}.",
        "",
    )
    stream_table(r, st)
    paced = g.get("streaming_paced")
    if paced:
        gap = paced["upstream_ms"] / max(1, paced["chunks"] - 1)
        r.add(
            f"The same with the chunks spaced out: a second fake upstream takes"
            f" {fmt(paced['upstream_ms'], 0)} ms per answer, so its {paced['chunks']} chunks"
            f" come {fmt(gap, 1)} ms apart, the first at once (a proxy that reads the burst of"
            " an instant upstream whole before passing its start on is caught by the table"
            " above; this one shows the delay on one chunk as it arrives)."
            f" {paced['requests_per_round']} streams per target per round,"
            f" {rounds(paced['rounds'])}. `data:` lines received: {data_lines(paced)}.",
            "",
        )
        stream_table(r, paced)
    pipeline = g.get("prodloop_pipeline")
    if pipeline and "written" in pipeline:
        r.add(
            "Metering check: over (a)–(c), prodloop's pipeline reported"
            f" {pipeline['written']:,} events written and {pipeline['dropped']} dropped; its"
            f" store held {pipeline.get('stored_events', 0):,} request events afterwards.",
            "",
        )
    ours = st["ttfb"]["added_ms"].get("prodloop")
    if ours:
        value = ours["p50"]["median"]
        r.target(
            f"streaming TTFB added ≤ 1 ms (p50, {st['chunks']} chunks at once)",
            f"{fmt(value, 3)} ms",
            value <= 1.0,
        )
    else:
        r.target("streaming TTFB added ≤ 1 ms", "prodloop not measured", None)
    ours_paced = paced["ttfb"]["added_ms"].get("prodloop") if paced else None
    if ours_paced:
        value = ours_paced["p50"]["median"]
        r.target(
            "streaming TTFB added ≤ 1 ms (p50, chunks spaced out; informative)",
            f"{fmt(value, 3)} ms",
            value <= 1.0,
        )


def ingest_section(r: Report, ingest: dict[str, Any] | None) -> None:
    r.add("## d. Ingestion: events/s into the store", "")
    if not ingest:
        r.add("Not measured in this run.", "")
        r.target("ingestion ≥ 20,000 events/s into SQLite", "–", None)
        return
    r.add(
        f"{ingest['events_per_run']:,} synthetic RequestEvents per run (3 services, 2"
        " versions, 2 routes, 2 models; streams, errors, guardrail triggers, tokens, costs;"
        " timestamps as traffic at 2,000 req/s) submitted to"
        " `prodloop.telemetry.pipeline.Pipeline` (batch size"
        f" {ingest['batch_size']:,}, Prometheus metrics fed, as `prodloop up` builds it);"
        " timed from the first submit until `flush()` returns with every event stored (raw"
        " rows plus merged minute and hour rollups). `write_events` alone = the batch"
        " writer called back to back on the same events. A fresh store each run.",
        "",
        "| store | pipeline events/s | write_events alone events/s |",
        "| --- | --- | --- |",
    )
    for engine in ("sqlite", "postgresql"):
        data = ingest.get(engine)
        if data:
            r.add(
                f"| {'SQLite (WAL, synchronous=NORMAL)' if engine == 'sqlite' else 'PostgreSQL'}"
                f" | {fmt_spread(data['pipeline']['events_per_s'], 0)} |"
                f" {fmt_spread(data['write_events']['events_per_s'], 0)} |"
            )
    r.add("")
    sqlite = median(ingest.get("sqlite"), "pipeline", "events_per_s")
    r.target(
        "ingestion ≥ 20,000 events/s into SQLite",
        f"{fmt(sqlite, 0)} events/s" if sqlite else "–",
        None if sqlite is None else sqlite >= 20_000,
    )


def sli_section(r: Report, sli: dict[str, Any] | None) -> None:
    r.add("## e. SLI query: p95 over 30 days", "")
    if not sli:
        r.add("Not measured in this run.", "")
        r.target("SLI query < 100 ms", "–", None)
        return
    r.add(
        f"One service at {sli['service_rate_per_s']} req/s for {sli['days']} days (chat"
        " completions at 45 req/s and embeddings at 5 req/s: two rollup keys), written"
        " directly as minute and hour rollup rows with histograms from"
        " `prodloop.telemetry.histogram`, plus the current partial minute as raw events"
        " through `write_events`. Timed: `query_slis(start=now-30d, end=now, service=...)`,"
        " which returns every SLI of the window (p50/p90/p95/p99 latency and TTFT, rates,"
        " tokens, cost).",
        "",
        "| store | requests in window | rollup rows (minute / hour) | first call (ms) | median"
        " of next (ms) [min – max] |",
        "| --- | --- | --- | --- | --- |",
    )
    for engine in ("sqlite", "postgresql"):
        data = sli.get(engine)
        if data:
            r.add(
                f"| {'SQLite' if engine == 'sqlite' else 'PostgreSQL'} |"
                f" {data['requests_in_window']:,} | {data['minute_rows']:,} /"
                f" {data['hour_rows']:,} | {fmt(data['cold_ms'], 1)} |"
                f" {fmt(data['median_ms'], 1)} [{fmt(data['min_ms'], 1)} –"
                f" {fmt(data['max_ms'], 1)}] ({data['runs']} runs) |"
            )
    r.add("")
    sqlite = sli.get("sqlite")
    if sqlite:
        r.target(
            "SLI query (p95 over 30 days) < 100 ms",
            f"{fmt(sqlite['median_ms'], 1)} ms on SQLite"
            + (
                f", {fmt(sli['postgresql']['median_ms'], 1)} ms on PostgreSQL"
                if sli.get("postgresql")
                else ""
            ),
            sqlite["median_ms"] < 100
            and (not sli.get("postgresql") or sli["postgresql"]["median_ms"] < 100),
        )


def memory_section(r: Report, mem: dict[str, Any] | None) -> None:
    r.add("## f. Memory: gateway RSS under sustained traffic", "")
    if not mem:
        r.add("Not measured in this run.", "")
        r.target("RSS after 200,000 requests within 10 % of RSS after 20,000", "–", None)
        return
    readings = mem["readings"]
    r.add(
        f"A fresh `prodloop up --gateway-only` (metering and store writer on) takes chat"
        f" completions from {mem['load_generator']}, in steps of {mem['step']:,} requests;"
        " VmRSS from /proc/PID/status after each step (2 s after the step, once the writer"
        f" has emptied its queue). Errors seen by wrk: {mem['errors']}.",
        "",
        "| requests | " + " | ".join(f"{x['requests']:,}" for x in readings) + " |",
        "| --- | " + " | ".join("---" for _ in readings) + " |",
        "| RSS (MiB) | " + " | ".join(f"{x['rss_kib'] / 1024:.1f}" for x in readings) + " |",
        "",
    )
    growth = (mem["ratio"] - 1) * 100
    r.target(
        f"RSS after {mem['requests_last_step']:,} requests within 10 % of RSS after"
        f" {mem['requests_first_step']:,}",
        f"{mem['rss_first_step_kib'] / 1024:.1f} → {mem['rss_last_step_kib'] / 1024:.1f} MiB"
        f" ({growth:+.1f} %)",
        abs(growth) <= 10,
    )


def profile_section(r: Report, profile: dict[str, Any] | None) -> None:
    if not profile:
        return
    r.add(
        "## Where prodloop's gateway spends its CPU",
        "",
        f"{profile['sampler']} against a fresh gateway"
        f" ({fmt(profile['requests_per_s_while_sampled'], 0)} req/s while sampled; raw"
        " stacks in bench/.work/profile.txt)."
        + (f" Event loop: {profile['event_loop']}." if profile.get("event_loop") else ""),
        "",
    )
    total = sum(profile["samples"].values()) or 1
    for thread, data in profile["threads"].items():
        if data["samples"] < 0.02 * total:
            continue
        label = "writer thread (telemetry pipeline)" if thread == "writer" else thread
        modules = ", ".join(
            f"{m['module']} {m['share'] * 100:.0f} %"
            for m in data["self_by_module"][:8]
            if m["share"] >= 0.01
        )
        functions = ", ".join(
            f"`{f['function'].split('/')[-1]}` {f['share'] * 100:.0f} %"
            for f in data["prodloop_inclusive"][:8]
        )
        r.add(
            f"- **{label}**: {data['samples'] / total * 100:.0f} % of busy samples. On top of"
            f" the stack (self time) by module: {modules}. prodloop functions on the stack"
            f" (inclusive): {functions}.",
        )
    r.add("")


# What issue 2 reports the references measured on this kind of machine (2 cores, one
# worker each, fast raw upstream): shown beside this run's figures as a sanity check.
ISSUE_REFERENCE = {
    "litellm": {"added_p50_ms": 12.8, "requests_per_s": 70},
    "portkey": {"added_p50_ms": 1.7, "requests_per_s": 1075},
}


def reference_check(r: Report, g: dict[str, Any]) -> None:
    lat = g.get("latency", {}).get("added_ms", {})
    tp = g.get("throughput", {}).get("summary", {})
    rows = []
    for name, ref in ISSUE_REFERENCE.items():
        added = median(lat.get(name), "p50")
        rps = median(tp.get(name), "requests_per_s")
        if added is None and rps is None:
            continue
        rows.append(
            f"| {NAMES[name]} | {fmt(ref['added_p50_ms'], 1)} | {fmt(added, 1)} |"
            f" {fmt(ref['requests_per_s'], 0)} | {fmt(rps, 0)} |"
        )
    if rows:
        r.add(
            "The references against what the issue reports for them on this kind of machine"
            " (a check that they were run as they should be):",
            "",
            "| reference | added p50 (ms), issue | added p50 (ms), this run | req/s at c=32,"
            " issue | req/s at c=32, this run |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
        )


def main() -> None:
    machine = read_json("machine.json") or {}
    gateways = read_json("gateways.json") or {}
    r = Report()
    body = Report()
    sections: list[Callable[[Report], None]] = [
        lambda rep: latency_section(rep, gateways),
        lambda rep: throughput_section(rep, gateways),
        lambda rep: streaming_section(rep, gateways),
        lambda rep: ingest_section(rep, read_json("ingest.json")),
        lambda rep: sli_section(rep, read_json("sli.json")),
        lambda rep: memory_section(rep, read_json("memory.json")),
        lambda rep: detection_section(rep, read_json("detection.json")),
        lambda rep: tick_section(rep, read_json("tick.json")),
        lambda rep: judge_section(rep, read_json("judge.json"), machine),
        lambda rep: zero_downtime_section(rep, read_json("zero_downtime.json"), machine),
        lambda rep: flags_section(rep, read_json("flags.json"), machine),
        lambda rep: statuspage_section(rep, read_json("statuspage.json"), machine),
        lambda rep: drills_section(rep, read_json("drills.json"), machine),
        lambda rep: public_ingest_section(rep, read_json("public_ingest.json"), machine),
        lambda rep: funnel_section(rep, read_json("funnel.json"), machine),
        lambda rep: clustering_section(rep, read_json("clustering.json"), machine),
        lambda rep: dashboard_section(rep, read_json("dashboard.json"), machine),
        lambda rep: review_section(rep, read_json("review.json"), machine),
        lambda rep: demo_section(rep, read_json("demo.json"), machine),
        lambda rep: profile_section(rep, read_json("profile.json")),
    ]
    for section in sections:
        section(body)
    r.add(
        "# prodloop benchmarks",
        "",
        "<!-- Generated by bench/report.py from bench/.work/*.json: edit the scripts, not"
        " this file. -->",
        "",
        "How to run: `make bench` (or `bash bench/run.sh` once `.venv` exists). It installs"
        " wrk, the LiteLLM proxy, Unleash's Python client and the Portkey gateway when missing"
        " (bench/setup.sh), starts every server itself on free 127.0.0.1 ports, and rewrites"
        " this file.",
        "",
    )
    machine_section(r, machine)
    later = separate_runs(
        machine, RELEASE_RESULTS + INCIDENT_RESULTS + FEEDBACK_RESULTS + REVIEW_RESULTS
    )
    if later:
        r.add(
            "**Measured in a separate, later run** (each script alone, full parameters, same"
            " machine): "
            + "; ".join(f"({section}) `{script}` on {when(at)}" for section, script, at in later)
            + ". Every other figure is from the run above.",
            "",
        )
    if gateways.get("failures"):
        for name, error in gateways["failures"].items():
            r.add(f"**{NAMES.get(name, name)} did not start:** `{error.splitlines()[0][:300]}`", "")
    r.add(
        "## Targets",
        "",
        "| target | measured (median of rounds) | verdict |",
        "| --- | --- | --- |",
    )
    for what, measured, ok in body.targets:
        r.add(f"| {what} | {measured} | {verdict(ok)} |")
    r.add("")
    reference_check(r, gateways)
    r.lines.extend(body.lines)
    notes = BENCH / "NOTES.md"
    if notes.exists():
        r.add(notes.read_text(encoding="utf-8").rstrip(), "")
    text = "\n".join(r.lines).rstrip() + "\n"
    # Error messages and logs may name where the repository sits: keep the file portable.
    text = text.replace(f"file://{ROOT}/", "").replace(f"{ROOT}/", "").replace(str(ROOT), ".")
    (BENCH / "RESULTS.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
