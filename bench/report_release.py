"""The report's sections on releases: the canary judge, zero downtime, flag evaluation."""

from __future__ import annotations

import time
from typing import Any

from common import WORK
from report_format import Report, fmt

RELEASE_RESULTS = (
    ("judge.json", "bench/bench_judge.py", "i"),
    ("zero_downtime.json", "bench/bench_zero_downtime.py", "j"),
    ("flags.json", "bench/bench_flags.py", "k"),
)
KIND_LABELS = {
    "errors_5pct": "5 % errors",
    "p95_plus_50pct": "+50 % p95 latency",
    "cost_2x": "2× cost",
}


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(seconds))


def measured_at(name: str, data: dict[str, Any]) -> float | None:
    """When a result was measured: its own time stamp, else when its file was written."""
    if isinstance(data.get("measured_at"), int | float):
        return float(data["measured_at"])
    path = WORK / name
    return path.stat().st_mtime if path.exists() else None


def separate_runs(
    machine: dict[str, Any], results: tuple[tuple[str, str, str], ...] = RELEASE_RESULTS
) -> list[tuple[str, str, float]]:
    """(section, script, when) of the results measured after the run in machine.json."""
    from common import read_json

    ended = machine.get("ended")
    later = []
    for name, script, section in results:
        data = read_json(name)
        at = measured_at(name, data) if data else None
        if at is not None and (ended is None or at > ended):
            later.append((section, script, at))
    return later


def separate_note(r: Report, name: str, script: str, data: dict[str, Any], ended: Any) -> None:
    at = measured_at(name, data)
    if at is not None and (ended is None or at > ended):
        r.add(
            f"*Measured in a separate, later run than the sections above: `{script}` alone"
            f" (full parameters) on {when(at)}, on the same machine.*",
            "",
        )


def pct(value: float) -> str:
    return f"{100.0 * value:.1f} %"


def judge_section(r: Report, j: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## i. Canary judge", "")
    targets = (
        "canary judge: false rollbacks ≤ 1 % (identical canaries)",
        "canary judge: missed regressions ≤ 5 % (regressed canaries promoted)",
        "canary judge: fewer bad requests served than a Flagger-default policy",
        "canary judge: a 100 %-error canary rolled back ≤ 15 s after its first traffic",
    )
    if not j:
        r.add("Not measured in this run.", "")
        for what in targets:
            r.target(what, "–", None)
        return
    separate_note(r, "judge.json", "bench/bench_judge.py", j, machine.get("ended"))
    canaries = j["canaries"]
    identical = canaries.get("identical", 0)
    regressed = sum(n for kind, n in canaries.items() if kind != "identical")
    steps = " → ".join(f"{s * 100:g} %" for s in j["steps"])
    policy = j["policy"]
    flagger = j["flagger"]
    r.add(
        f"A simulation with a manual clock at {j['requests_per_s']} requests/s, each request"
        " drawn from the fake upstream's profile distributions (`prodloop.demo.upstream`,"
        " `realistic` profile for the stable version: lognormal latency, p50 400 ms, p95"
        " 1.5 s, 0.5 % errors, 1 % guardrail triggers, ~$0.001 a request) rather than sent"
        f" over HTTP. {identical + regressed} canaries: {identical} identical to the stable"
        f" version and {regressed} regressed ("
        + ", ".join(f"{canaries[k]} with {label}" for k, label in KIND_LABELS.items())
        + "). Every request is drawn for both versions from one seeded stream and routed by"
        " a uniform draw, so both policies see the same traffic.",
        "",
        f"- **prodloop**: steps {steps}, each held {fmt(j['hold_s'], 0)} s; `judge` every"
        f" {fmt(j['analysis_s'], 0)} s on both versions' samples since the rollout began"
        f" (confidence {policy['confidence']:g} over all looks; the guide's SLOs: errors ≤"
        f" {policy['max_error_rate'] * 100:g} %, p{policy['latency_percentile']:g} ≤"
        f" {fmt(policy['latency_threshold_ms'], 0)} ms, cost ≤"
        f" ${policy['max_cost_per_request_usd']:g} a request). A failure on evidence rolls"
        f" back at once; failures for lack of data count toward a limit of"
        f" {j['failure_limit']}; a step whose last verdict is not a pass is held up to 4"
        " more minutes, then the rollout pauses for a person to decide.",
        f"- **Flagger default**: the same steps, one analysis every"
        f" {fmt(flagger['interval_s'], 0)} s on the canary's last interval alone,"
        f" request-success-rate ≥ {flagger['min_success_rate'] * 100:g} % and"
        f" request-duration p99 ≤ {fmt(flagger['max_p99_ms'], 0)} ms (the p99 bound is ours:"
        " Flagger's example 500 ms would fail every LLM request); a failed analysis holds the"
        f" weight, {flagger['threshold']} failed checks roll back.",
        "",
        "Bad requests served = the canary's requests that felt its regression before it was"
        " rolled back (or promoted): server errors (5 % errors), answers slower than the 2 s"
        " latency SLO (+50 % p95), every request (2× cost). Separately,"
        f" {j['all_errors']['prodloop']['runs']} canaries failing every request time the"
        " rollback from the canary's first request.",
        "",
        "| | target | prodloop | Flagger default |",
        "| --- | --- | --- | --- |",
    )
    p = j["policies"]["prodloop"]
    f = j["policies"]["flagger_default"]
    r.add(
        f"| false rollbacks ({identical} identical canaries) | ≤ 1 % |"
        f" {pct(p['false_rollbacks'])} | {pct(f['false_rollbacks'])} |",
        f"| missed regressions ({regressed} regressed canaries promoted) | ≤ 5 % |"
        f" {pct(p['missed_regressions'])} | {pct(f['missed_regressions'])} |",
        f"| paused (identical / regressed) | | {pct(p['identical_paused'])} /"
        f" {pct(p['regressed_paused'])} | {pct(f['identical_paused'])} /"
        f" {pct(f['regressed_paused'])} |",
        f"| bad requests served, all regressions | fewer than Flagger |"
        f" {p['bad_requests_served']:,} | {f['bad_requests_served']:,} |",
    )
    for kind, label in KIND_LABELS.items():
        cells = []
        for figures in (p["per_kind"][kind], f["per_kind"][kind]):
            cells.append(
                f"{figures['rolled_back']}/{figures['canaries']} /"
                f" {figures['bad_requests_mean']:.1f} / {figures['decision_s_median']:.0f} s"
            )
        r.add(
            f"| {label}: rolled back / bad requests per canary (mean) / decided after"
            f" (median) | | {cells[0]} | {cells[1]} |"
        )
    tp = j["all_errors"]["prodloop"]
    tf = j["all_errors"]["flagger_default"]
    r.add(
        f"| 100 %-error canary: first request → rollback (median / max) | ≤ 15 s |"
        f" {tp['median_s']:.1f} / {tp['max_s']:.1f} s | {tf['median_s']:.1f} /"
        f" {tf['max_s']:.1f} s |",
        "",
    )
    r.target(
        targets[0],
        f"{pct(p['false_rollbacks'])} of {identical} (Flagger default {pct(f['false_rollbacks'])})",
        p["false_rollbacks"] <= j["targets"]["false_rollbacks"],
    )
    r.target(
        targets[1],
        f"{pct(p['missed_regressions'])} of {regressed} (Flagger default"
        f" {pct(f['missed_regressions'])})",
        p["missed_regressions"] <= j["targets"]["missed_regressions"],
    )
    r.target(
        targets[2],
        f"{p['bad_requests_served']:,} vs {f['bad_requests_served']:,}",
        p["bad_requests_served"] < f["bad_requests_served"],
    )
    r.target(
        targets[3],
        f"median {tp['median_s']:.1f} s, max {tp['max_s']:.1f} s of {tp['runs']} canaries",
        tp["max_s"] <= j["targets"]["all_errors_rollback_s"],
    )


def zero_downtime_section(r: Report, z: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## j. Zero downtime during promotion and rollback", "")
    targets = (
        "zero downtime: failed requests = 0 at 200 req/s during a promotion and a rollback",
        "zero downtime: a weight change reaches the gateway ≤ 1 s after it is written",
    )
    scenarios = (z or {}).get("scenarios")
    if not scenarios:
        r.add("Not measured in this run.", "")
        for what in targets:
            r.target(what, "–", None)
        return
    separate_note(
        r, "zero_downtime.json", "bench/bench_zero_downtime.py", z or {}, machine.get("ended")
    )
    first = scenarios[0]
    r.add(
        "`prodloop up --gateway-only` (SQLite store) fronts two fake upstreams answering in"
        f" {z.get('upstream_latency_ms', '?')} ms, so requests are in flight whenever the"
        f" weights change. An open-loop client (aiohttp) starts {fmt(first['rate_per_s'], 0)}"
        f" requests/s for {fmt(first['duration_s'], 0)} s per scenario, whatever the answers"
        " before; 2 s in, a canary is deployed at 5 %, and 10 s in it is promoted (first"
        " scenario) or rolled back (second), by writing the store as `prodloop deploy`,"
        " `prodloop rollout promote` and `prodloop rollback` do. A failed request is any"
        " answer but 200, or none. Deploy/change → gateway = from the store write until the"
        " gateway's /_prodloop/healthz shows the new weights; the last request that still"
        " reached the old version after the change is shown too.",
        "",
        "| scenario | requests | failed | by version | deploy → gateway (s) | change →"
        " gateway (s) | last old-version request after the change (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    )
    for s in scenarios:
        versions = ", ".join(f"{v or '?'} {n:,}" for v, n in s["by_version"].items())
        r.add(
            f"| {s['scenario']} | {s['requests']:,} | {s['failed_requests']} | {versions} |"
            f" {fmt(s['deploy_reached_gateway_s'], 3)} | {fmt(s['change_reached_gateway_s'], 3)}"
            f" | {fmt(s['last_old_version_request_after_change_s'], 3)} |"
        )
    r.add("")
    examples = [e for s in scenarios for e in s.get("failure_examples", [])]
    if examples:
        r.add("Failures seen: " + "; ".join(f"`{e[:200]}`" for e in examples[:5]) + ".", "")
    failed = sum(s["failed_requests"] for s in scenarios)
    r.target(
        targets[0],
        ", ".join(
            f"{s['failed_requests']} of {s['requests']:,} ({s['scenario']})" for s in scenarios
        ),
        failed == 0,
    )
    seen = [max(s["deploy_reached_gateway_s"], s["change_reached_gateway_s"]) for s in scenarios]
    limit = z.get("targets", {}).get("change_reached_gateway_s", 1.0)
    r.target(targets[1], f"at most {fmt(max(seen), 3)} s", max(seen) <= limit)


FLAG_LABELS = {
    "boolean": "boolean flag, no rules",
    "rollout_one_rule": "30 % rollout with one rule",
}


def flags_section(r: Report, fl: dict[str, Any] | None, machine: dict[str, Any]) -> None:
    r.add("## k. Feature flag evaluation", "")
    if not fl:
        r.add("Not measured in this run.", "")
        r.target("flag evaluation ≤ 2 µs (boolean flag)", "–", None)
        r.target("flag evaluation ≤ 5 µs (percentage rollout, one rule)", "–", None)
        return
    separate_note(r, "flags.json", "bench/bench_flags.py", fl, machine.get("ended"))
    unleash = fl.get("unleash_us")
    reference = (
        f"Unleash's Python client (`UnleashClient` {fl.get('unleash_version') or '?'} from"
        " PyPI, in a venv of its own under bench/.work, Python"
        f" {fl.get('unleash_python') or '?'}) on the same two flags from a bootstrapped cache"
        " and no server: a `default`-strategy toggle, and a `flexibleRollout` at 30 % sticky"
        " on `userId` with one `NOT_IN` constraint on `plan`, through"
        f" `client.is_enabled(name, context)`, {fl.get('unleash_calls', 0):,} calls a repeat."
        if unleash
        else f"Unleash's Python client: not measured ({fl.get('unleash_how', 'not installed')})."
    )
    r.add(
        "Two flags evaluated through prodloop's local `FlagClient` (no server, config loaded"
        " once) exactly as an application calls it: a boolean flag that is on with no rules,"
        " and a flag with one rule on `plan` that the context does not match followed by a"
        " sticky 30 / 70 split on `targetingKey` (one SHA-256 a call), both through"
        " `client.boolean(key, False, context)`. Each call gets another user's context"
        f" ({fl.get('users', 1000):,} prebuilt, cycled), so nothing is cached between calls."
        f" {fl.get('calls', 0):,} calls a repeat, the median of {fl['repeats']} repeats after"
        " a warm-up one; time a call, loop included. Reference: " + reference,
        "",
        "| flag | prodloop (µs / evaluation) | target | UnleashClient (µs / evaluation) |",
        "| --- | --- | --- | --- |",
    )
    ours = fl["prodloop_us"]
    for name, label in FLAG_LABELS.items():
        theirs = fmt(unleash[name], 2) if unleash else "–"
        r.add(f"| {label} | {fmt(ours[name], 2)} | ≤ {fl['targets_us'][name]:g} | {theirs} |")
    r.add("")
    share_ours = fl.get("prodloop_rollout_share_on")
    share_theirs = fl.get("unleash_rollout_share_on")
    if share_ours is not None:
        r.add(
            f"Share of the {fl.get('users', 1000):,} users in the 30 % rollout: prodloop"
            f" {share_ours * 100:.1f} %"
            + (f", UnleashClient {share_theirs * 100:.1f} %" if share_theirs is not None else "")
            + ".",
            "",
        )
    if unleash:
        r.add(
            "Issue 4 quotes about 12 µs an evaluation for Unleash's Python client; the column"
            " above is the version PyPI installed, measured on this machine beside prodloop.",
            "",
        )
    for name, what in (
        ("boolean", "flag evaluation ≤ 2 µs (boolean flag)"),
        ("rollout_one_rule", "flag evaluation ≤ 5 µs (percentage rollout, one rule)"),
    ):
        beside = f" (UnleashClient {fmt(unleash[name], 2)} µs)" if unleash else ""
        r.target(what, f"{fmt(ours[name], 2)} µs{beside}", ours[name] <= fl["targets_us"][name])
