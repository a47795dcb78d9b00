"""The canary judge in simulation: false rollbacks, missed regressions, bad requests served.

Traffic is simulated with a manual clock at 20 requests/s (one request every 50 ms), each
request drawn directly from the fake upstream's profile distributions
(`prodloop.demo.upstream.PROFILES`: lognormal latency with the profile's p50 and p95,
server errors at the profile's rate) instead of going through HTTP. The stable version
is the "realistic" profile (p50 400 ms, p95 1.5 s, 0.5 % errors) with 1 % guardrail
triggers and a token cost of about $0.001 per request.

200 canaries: 100 identical to the stable version and 100 regressed, a third each with
5 % errors, +50 % p95 latency (p95 1.5 s → 2.25 s, same median) and 2× cost. Every request
is drawn for both versions from one seeded stream, and a uniform draw routes it, so both
policies below see exactly the same traffic; only their decisions differ.

- prodloop: steps 5 → 25 → 50 % held 60 s each, an analysis every 10 s by `judge` on the
  samples of both versions since the rollout began (look = analysis number), then 100 %
  (promotion). A failure on evidence rolls back at once; failures for lack of data count
  toward a failure limit of 5; a step whose last verdict is not a pass is held longer,
  up to 4 more minutes, then the rollout pauses (counted apart: neither promoted nor
  rolled back; a person decides).
- Flagger-default: the same steps, one analysis per 1-minute interval on the canary's
  last minute alone, request-success-rate ≥ 99 % and request-duration p99 ≤ 3 s
  (Flagger's builtin checks; the p99 bound is ours, Flagger's example 500 ms would fail an
  LLM app's every request), a failed analysis holds the weight, 5 failed checks roll back.

Bad requests served before rollback (or promotion) are the canary's requests that felt the
regression: server errors (5 % errors), answers slower than the 2 s latency SLO (+50 %
p95), every request (2× cost).

Separately, 20 canaries that fail every request measure the time from the canary's first
request to its rollback (target ≤ 15 s).

Prints one JSON line and a markdown table, and writes bench/.work/judge.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common import log, write_json

from prodloop.demo.upstream import PROFILES, Profile
from prodloop.releases.judge import JudgePolicy, Sample, Verdict, judge

REQUESTS_PER_S = 20
TICK_S = 1.0 / REQUESTS_PER_S
STEPS = (0.05, 0.25, 0.50)  # then 100 %: promotion
HOLD_S = 60.0
ANALYSIS_S = 10.0
MAX_EXTRA_HOLD_S = 240.0
FAILURE_LIMIT = 5
LATENCY_CAP = 2000  # the controller may subsample latencies; so does this benchmark
SLO_LATENCY_MS = 2000.0
FLAGGER_INTERVAL_S = 60.0
FLAGGER_THRESHOLD = 5
FLAGGER_MIN_SUCCESS = 0.99
FLAGGER_MAX_P99_MS = 3000.0

# Token cost: gpt-4o-like prices, input tokens lognormal around 300, output around 24.
PRICE_IN_PER_TOKEN = 2.5e-6
PRICE_OUT_PER_TOKEN = 10e-6

STABLE = dataclasses.replace(PROFILES["realistic"], guardrail_rate=0.01)
REGRESSIONS: dict[str, tuple[Profile, float]] = {
    "identical": (STABLE, 1.0),
    "errors_5pct": (dataclasses.replace(STABLE, error_rate=0.05), 1.0),
    "p95_plus_50pct": (
        dataclasses.replace(STABLE, latency_p95_ms=STABLE.latency_p95_ms * 1.5),
        1.0,
    ),
    "cost_2x": (STABLE, 2.0),
    "all_errors": (dataclasses.replace(STABLE, error_rate=1.0), 1.0),
}


@dataclass(frozen=True)
class Outcome:
    is_error: bool
    latency_ms: float
    is_guardrail: bool
    cost_usd: float | None


def draw(profile: Profile, cost_factor: float, rnd: random.Random) -> Outcome:
    latency_ms = profile.latency_s(rnd) * 1000.0
    is_error = rnd.random() < profile.error_rate
    is_guardrail = rnd.random() < profile.guardrail_rate
    tokens_in = 300.0 * math.exp(0.3 * rnd.gauss(0.0, 1.0))
    tokens_out = profile.output_tokens * math.exp(0.3 * rnd.gauss(0.0, 1.0))
    cost = cost_factor * (tokens_in * PRICE_IN_PER_TOKEN + tokens_out * PRICE_OUT_PER_TOKEN)
    return Outcome(is_error, latency_ms, is_guardrail, None if is_error else cost)


def traffic(kind: str, seed: int) -> Iterator[tuple[float, float, Outcome, Outcome]]:
    """(time, routing draw, stable outcome, canary outcome) for every request, forever."""
    rnd = random.Random(seed)
    canary_profile, cost_factor = REGRESSIONS[kind]
    index = 0
    while True:
        stable = draw(STABLE, 1.0, rnd)
        canary = draw(canary_profile, cost_factor, rnd)
        yield index * TICK_S, rnd.random(), stable, canary
        index += 1


@dataclass
class Accumulator:
    """What one version did, as the controller collects it."""

    requests: int = 0
    errors: int = 0
    guardrails: int = 0
    latencies: list[float] = field(default_factory=list)
    cost: float = 0.0
    cost_known: int = 0

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        self.errors += outcome.is_error
        self.guardrails += outcome.is_guardrail
        self.latencies.append(outcome.latency_ms)
        if outcome.cost_usd is not None:
            self.cost += outcome.cost_usd
            self.cost_known += 1

    def sample(self) -> Sample:
        stride = max(1, math.ceil(len(self.latencies) / LATENCY_CAP))
        return Sample(
            requests=self.requests,
            errors=self.errors,
            guardrail_requests=self.guardrails,
            latencies_ms=tuple(self.latencies[::stride]),
            cost_usd=self.cost,
            cost_known=self.cost_known,
        )


def is_bad(kind: str, outcome: Outcome) -> bool:
    if kind in ("errors_5pct", "all_errors"):
        return outcome.is_error
    if kind == "p95_plus_50pct":
        return outcome.latency_ms > SLO_LATENCY_MS
    return kind == "cost_2x"


@dataclass
class Run:
    outcome: str = "running"  # promoted | rolled_back | paused
    decided_at_s: float = 0.0
    first_canary_s: float | None = None
    canary_requests: int = 0
    bad_requests: int = 0
    reason: str = ""


class Controller:
    """Steps, holds and decisions; `analyse` is called at each analysis time."""

    def __init__(self) -> None:
        self.step = 0
        self.run = Run()

    @property
    def weight(self) -> float:
        return STEPS[self.step]

    def serve(self, kind: str, now: float, route: float, stable: Outcome, canary: Outcome) -> None:
        if route < self.weight:
            if self.run.first_canary_s is None:
                self.run.first_canary_s = now
            self.run.canary_requests += 1
            self.run.bad_requests += is_bad(kind, canary)
            self.on_canary(now, canary)
        else:
            self.on_stable(now, stable)

    def on_canary(self, now: float, outcome: Outcome) -> None:
        raise NotImplementedError

    def on_stable(self, now: float, outcome: Outcome) -> None:
        raise NotImplementedError

    def next_analysis_s(self) -> float:
        raise NotImplementedError

    def analyse(self, now: float) -> None:
        raise NotImplementedError

    def finish(self, outcome: str, now: float, reason: str) -> None:
        self.run.outcome = outcome
        self.run.decided_at_s = now
        self.run.reason = reason

    def advance(self, now: float) -> None:
        if self.step + 1 == len(STEPS):
            self.finish("promoted", now, "")
        else:
            self.step += 1


class ProdloopController(Controller):
    def __init__(self, policy: JudgePolicy) -> None:
        super().__init__()
        self.policy = policy
        self.canary = Accumulator()
        self.stable = Accumulator()
        self.look = 0
        self.failures = 0
        self.step_started_s = 0.0
        self.next_s = ANALYSIS_S

    def on_canary(self, now: float, outcome: Outcome) -> None:
        self.canary.add(outcome)

    def on_stable(self, now: float, outcome: Outcome) -> None:
        self.stable.add(outcome)

    def next_analysis_s(self) -> float:
        return self.next_s

    def analyse(self, now: float) -> None:
        self.next_s = now + ANALYSIS_S
        self.look += 1
        verdict: Verdict = judge(
            self.canary.sample(), self.stable.sample(), self.policy, look=self.look
        )
        if verdict.is_failed_on_evidence:
            self.finish("rolled_back", now, verdict.reason)
            return
        if verdict.result == "fail":
            self.failures += 1
            if self.failures >= FAILURE_LIMIT:
                self.finish("rolled_back", now, f"failure limit: {verdict.reason}")
                return
        held_s = now - self.step_started_s
        if held_s + 1e-9 >= HOLD_S and verdict.result == "pass":
            self.advance(now)
            self.step_started_s = now
        elif held_s + 1e-9 >= HOLD_S + MAX_EXTRA_HOLD_S:
            self.finish("paused", now, verdict.reason)


class FlaggerController(Controller):
    def __init__(self) -> None:
        super().__init__()
        self.window: list[Outcome] = []
        self.failed_checks = 0
        self.next_s = FLAGGER_INTERVAL_S

    def on_canary(self, now: float, outcome: Outcome) -> None:
        self.window.append(outcome)

    def on_stable(self, now: float, outcome: Outcome) -> None:
        pass

    def next_analysis_s(self) -> float:
        return self.next_s

    def analyse(self, now: float) -> None:
        self.next_s = now + FLAGGER_INTERVAL_S
        window, self.window = self.window, []
        if not window:
            is_ok, reason = False, "no values found"
        else:
            success = sum(not o.is_error for o in window) / len(window)
            ordered = sorted(o.latency_ms for o in window)
            p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
            is_ok = success >= FLAGGER_MIN_SUCCESS and p99 <= FLAGGER_MAX_P99_MS
            reason = f"success rate {success:.3f}, p99 {p99:.0f} ms"
        if is_ok:
            self.advance(now)
            return
        self.failed_checks += 1
        if self.failed_checks >= FLAGGER_THRESHOLD:
            self.finish("rolled_back", now, reason)


def simulate(kind: str, seed: int, make: Callable[[], Controller]) -> Run:
    controller = make()
    for now, route, stable, canary in traffic(kind, seed):
        while now >= controller.next_analysis_s() - 1e-9 and controller.run.outcome == "running":
            controller.analyse(controller.next_analysis_s())
        if controller.run.outcome != "running":
            break
        controller.serve(kind, now, route, stable, canary)
    return controller.run


def summarize(runs: dict[str, list[Run]]) -> dict[str, Any]:
    identical = runs["identical"]
    regressed = [run for kind, rs in runs.items() if kind != "identical" for run in rs]
    per_kind = {}
    for kind, rs in runs.items():
        per_kind[kind] = {
            "canaries": len(rs),
            "promoted": sum(r.outcome == "promoted" for r in rs),
            "rolled_back": sum(r.outcome == "rolled_back" for r in rs),
            "paused": sum(r.outcome == "paused" for r in rs),
            "bad_requests_total": sum(r.bad_requests for r in rs),
            "bad_requests_mean": statistics.fmean(r.bad_requests for r in rs),
            "decision_s_median": statistics.median(r.decided_at_s for r in rs),
            "reasons": sorted({r.reason.split(":")[0] for r in rs if r.outcome != "promoted"})[:5],
        }
    return {
        "false_rollbacks": sum(r.outcome == "rolled_back" for r in identical) / len(identical),
        "identical_paused": sum(r.outcome == "paused" for r in identical) / len(identical),
        "missed_regressions": sum(r.outcome == "promoted" for r in regressed) / len(regressed),
        "regressed_paused": sum(r.outcome == "paused" for r in regressed) / len(regressed),
        "bad_requests_served": sum(r.bad_requests for r in regressed),
        "per_kind": per_kind,
    }


def time_to_rollback(seeds: range, make: Callable[[], Controller]) -> dict[str, Any]:
    times = []
    for seed in seeds:
        run = simulate("all_errors", seed, make)
        assert run.first_canary_s is not None
        times.append(
            run.decided_at_s - run.first_canary_s if run.outcome == "rolled_back" else math.inf
        )
    return {"median_s": statistics.median(times), "max_s": max(times), "runs": len(times)}


def table(result: dict[str, Any]) -> str:
    p, f = result["policies"]["prodloop"], result["policies"]["flagger_default"]
    rows = [
        (
            "false rollbacks (identical canaries)",
            "≤ 1 %",
            pct(p["false_rollbacks"]),
            pct(f["false_rollbacks"]),
        ),
        (
            "missed regressions (promoted)",
            "≤ 5 %",
            pct(p["missed_regressions"]),
            pct(f["missed_regressions"]),
        ),
        (
            "paused (identical / regressed)",
            "",
            f"{pct(p['identical_paused'])} / {pct(p['regressed_paused'])}",
            f"{pct(f['identical_paused'])} / {pct(f['regressed_paused'])}",
        ),
        (
            "bad requests served, all regressions",
            "fewer than Flagger",
            str(p["bad_requests_served"]),
            str(f["bad_requests_served"]),
        ),
    ]
    for kind in ("errors_5pct", "p95_plus_50pct", "cost_2x"):
        pk, fk = p["per_kind"][kind], f["per_kind"][kind]
        rows.append(
            (
                f"{kind}: rolled back / bad requests (mean) / decided at (median)",
                "",
                kind_cell(pk),
                kind_cell(fk),
            )
        )
    tp, tf = result["all_errors"]["prodloop"], result["all_errors"]["flagger_default"]
    rows.append(
        (
            "100 %-error canary: first request → rollback (median / max)",
            "≤ 15 s",
            f"{tp['median_s']:.1f} / {tp['max_s']:.1f} s",
            f"{tf['median_s']:.1f} / {tf['max_s']:.1f} s",
        )
    )
    lines = ["| | target | prodloop | Flagger default |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def kind_cell(figures: dict[str, Any]) -> str:
    return (
        f"{figures['rolled_back']}/{figures['canaries']} / "
        f"{figures['bad_requests_mean']:.1f} / {figures['decision_s_median']:.0f} s"
    )


def pct(value: float) -> str:
    return f"{100.0 * value:.1f} %"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=200, help="half identical, half regressed")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    policy = JudgePolicy()  # the guide's SLOs: errors ≤ 1 %, p95 ≤ 2 s, cost ≤ $0.002
    half = args.canaries // 2
    kinds = {"identical": half}
    for i, kind in enumerate(("errors_5pct", "p95_plus_50pct", "cost_2x")):
        kinds[kind] = half // 3 + (1 if i < half % 3 else 0)
    makers: dict[str, Callable[[], Controller]] = {
        "prodloop": lambda: ProdloopController(policy),
        "flagger_default": FlaggerController,
    }
    started = time.perf_counter()
    policies: dict[str, Any] = {}
    for name, make in makers.items():
        runs: dict[str, list[Run]] = {}
        for k, (kind, count) in enumerate(kinds.items()):
            runs[kind] = [simulate(kind, args.seed + 1000 * k + i, make) for i in range(count)]
            rolled_back = sum(run.outcome == "rolled_back" for run in runs[kind])
            log(f"{name} {kind}: {rolled_back}/{count} rolled back")
        policies[name] = summarize(runs)
    all_errors = {
        name: time_to_rollback(range(args.seed, args.seed + 20), make)
        for name, make in makers.items()
    }
    result = {
        "benchmark": "judge",
        "requests_per_s": REQUESTS_PER_S,
        "steps": [*STEPS, 1.0],
        "hold_s": HOLD_S,
        "analysis_s": ANALYSIS_S,
        "failure_limit": FAILURE_LIMIT,
        "policy": dataclasses.asdict(policy),
        "flagger": {
            "interval_s": FLAGGER_INTERVAL_S,
            "threshold": FLAGGER_THRESHOLD,
            "min_success_rate": FLAGGER_MIN_SUCCESS,
            "max_p99_ms": FLAGGER_MAX_P99_MS,
        },
        "canaries": dict(kinds),
        "policies": policies,
        "all_errors": all_errors,
        "targets": {
            "false_rollbacks": 0.01,
            "missed_regressions": 0.05,
            "all_errors_rollback_s": 15.0,
        },
        "elapsed_s": time.perf_counter() - started,
        "measured_at": time.time(),
    }
    p = policies["prodloop"]
    result["targets_met"] = (
        p["false_rollbacks"] <= 0.01
        and p["missed_regressions"] <= 0.05
        and p["bad_requests_served"] < policies["flagger_default"]["bad_requests_served"]
        and all_errors["prodloop"]["max_s"] <= 15.0
    )
    write_json("judge.json", result)
    print(json.dumps(result, sort_keys=True))
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
