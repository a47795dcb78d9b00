"""Flag evaluation in the local client: microseconds per evaluation, beside Unleash.

Two flags, evaluated through `FlagClient` exactly as an application calls it:

* a boolean flag, on, no rules: ``client.boolean("dark-mode", False, context)``;
* a percentage rollout with one rule: a rule on ``plan`` that the context does not match,
  then a sticky 30 / 70 split on ``targetingKey`` (one SHA-256 per call):
  ``client.boolean("new-prompt", False, context)``.

The reference is Unleash's Python client (``UnleashClient``, from PyPI into a venv of its
own under bench/.work by bench/setup.sh, and run there by this script) on the same two
flags from a bootstrapped cache with no server: a default-strategy toggle, and a
``flexibleRollout`` at 30 % sticky on ``userId`` with one ``NOT_IN`` constraint on
``plan``, through ``client.is_enabled(name, context)``.

Each call gets a different user's context (1,000 prebuilt contexts, cycled), so nothing
is cached between calls. Reported: the median over repeats of the time per call, loop
included. Targets: ≤ 2 µs (boolean) and ≤ 5 µs (rollout with one rule).

Prints one JSON line and a markdown table, and writes bench/.work/flags.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

# Only the standard library (and common, which needs nothing else) at the top: the Unleash
# part runs in the Unleash venv, which has neither prodloop nor its dependencies.
from common import WORK, log, write_json

UNLEASH_PYTHON = WORK / "unleash-venv" / "bin" / "python"

CONFIG: dict[str, Any] = {
    "flags": {
        "dark-mode": {"key": "dark-mode", "enabled": True},
        "new-prompt": {
            "key": "new-prompt",
            "enabled": True,
            "default_variant": "off",
            "rules": [
                {"attribute": "plan", "operator": "equals", "value": "enterprise", "variant": "on"}
            ],
            "rollout": {"weights": {"on": 30, "off": 70}},
        },
    }
}
UNLEASH_FEATURES: dict[str, Any] = {
    "version": 1,
    "features": [
        {"name": "dark-mode", "enabled": True, "strategies": [{"name": "default"}]},
        {
            "name": "new-prompt",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "30", "stickiness": "userId", "groupId": "np"},
                    "constraints": [
                        {"contextName": "plan", "operator": "NOT_IN", "values": ["enterprise"]}
                    ],
                }
            ],
        },
    ],
}
TARGETS_US = {"boolean": 2.0, "rollout_one_rule": 5.0}
FLAG_KEYS = {"boolean": "dark-mode", "rollout_one_rule": "new-prompt"}
USERS = 1000


def per_call_us(
    evaluate: Callable[[str, Any], Any], key: str, contexts: list[Any], calls: int, repeats: int
) -> float:
    """Median over `repeats` of the µs per `evaluate(key, context)`, loop included."""
    rounds = max(1, calls // len(contexts))
    samples = []
    for _ in range(repeats + 1):  # the first round warms up and is dropped
        started = time.perf_counter()
        for _ in range(rounds):
            for context in contexts:
                evaluate(key, context)
        samples.append((time.perf_counter() - started) / (rounds * len(contexts)) * 1e6)
    return statistics.median(samples[1:])


def measure_prodloop(calls: int, repeats: int) -> tuple[dict[str, float], float]:
    from prodloop.releases.flags.client import FlagClient

    client = FlagClient("http://127.0.0.1:9", start=False)
    client.load(CONFIG)
    contexts = [{"targetingKey": f"user-{i}", "plan": "free"} for i in range(USERS)]
    share = sum(client.boolean("new-prompt", False, c) for c in contexts) / USERS

    def boolean(key: str, context: Any) -> bool:
        return client.boolean(key, False, context)

    results = {
        name: per_call_us(boolean, key, contexts, calls, repeats) for name, key in FLAG_KEYS.items()
    }
    client.close()
    return results, share


def measure_unleash(calls: int, repeats: int) -> tuple[dict[str, float], float] | None:
    try:
        from UnleashClient import UnleashClient
        from UnleashClient.cache import FileCache
    except ImportError:
        return None
    logging.getLogger("UnleashClient").setLevel(logging.ERROR)
    cache = FileCache("prodloop-bench", directory=tempfile.mkdtemp(prefix="unleash-"))
    cache.bootstrap_from_dict(UNLEASH_FEATURES)
    client = UnleashClient(
        url="http://127.0.0.1:9",
        app_name="prodloop-bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
        refresh_interval=3600,
    )
    client.initialize_client(fetch_toggles=False)
    contexts = [{"userId": f"user-{i}", "properties": {"plan": "free"}} for i in range(USERS)]
    share = sum(client.is_enabled("new-prompt", c) for c in contexts) / USERS
    names = {"boolean": "dark-mode", "rollout_one_rule": "new-prompt"}
    results = {
        name: per_call_us(client.is_enabled, key, contexts, calls, repeats)
        for name, key in names.items()
    }
    client.destroy()
    return results, share


def unleash_version() -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version("UnleashClient")
    except importlib.metadata.PackageNotFoundError:
        return None


def run_unleash(calls: int, repeats: int) -> tuple[dict[str, Any] | None, str]:
    """The Unleash figures, from its own venv (or this one when it is installed here)."""
    if UNLEASH_PYTHON.exists():
        argv = [str(UNLEASH_PYTHON), __file__, "--unleash-only"]
        argv += ["--calls", str(calls), "--repeats", str(repeats)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"failed in its venv: {done.stderr.strip().splitlines()[-1:]}"
        return json.loads(done.stdout.strip().splitlines()[-1]), "own venv"
    measured = measure_unleash(calls, repeats)
    if measured is None:
        return None, "not installed (run bench/setup.sh)"
    return unleash_result(measured), "same venv"


def unleash_result(measured: tuple[dict[str, float], float]) -> dict[str, Any]:
    return {
        "us": {n: round(us, 3) for n, us in measured[0].items()},
        "share_on": measured[1],
        "version": unleash_version(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per repeat (prodloop)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (the median is kept)")
    parser.add_argument(
        "--unleash-only", action="store_true", help="measure UnleashClient alone (in its venv)"
    )
    args = parser.parse_args()
    if args.unleash_only:
        measured = measure_unleash(args.calls, args.repeats)
        if measured is None:
            sys.exit("UnleashClient is not installed here")
        print(json.dumps(unleash_result(measured)))
        return

    started = time.perf_counter()
    ours, share = measure_prodloop(args.calls, args.repeats)
    unleash_calls = max(USERS, args.calls // 20)
    unleash, unleash_how = run_unleash(unleash_calls, args.repeats)
    log(f"UnleashClient: {unleash_how}")
    report: dict[str, Any] = {
        "bench": "flags",
        "python": platform.python_version(),
        "calls": args.calls,
        "repeats": args.repeats,
        "users": USERS,
        "prodloop_us": {name: round(us, 3) for name, us in ours.items()},
        "targets_us": TARGETS_US,
        "met": {name: ours[name] <= TARGETS_US[name] for name in ours},
        "prodloop_rollout_share_on": share,
        "unleash_us": unleash["us"] if unleash else None,
        "unleash_rollout_share_on": unleash["share_on"] if unleash else None,
        "unleash_version": unleash["version"] if unleash else None,
        "unleash_python": unleash["python"] if unleash else None,
        "unleash_calls": unleash_calls,
        "unleash_how": unleash_how,
        "measured_at": time.time(),
        "elapsed_s": time.perf_counter() - started,
    }
    write_json("flags.json", report)
    print(json.dumps(report))
    print()
    print("| flag | prodloop µs / eval | target | met | UnleashClient µs / eval |")
    print("|---|---:|---:|:-:|---:|")
    labels = {"boolean": "boolean, no rules", "rollout_one_rule": "30 % rollout + one rule"}
    for name, us in ours.items():
        met = "yes" if us <= TARGETS_US[name] else "no"
        reference = f"{unleash['us'][name]:.2f}" if unleash else unleash_how
        print(f"| {labels[name]} | {us:.2f} | ≤ {TARGETS_US[name]:g} | {met} | {reference} |")


if __name__ == "__main__":
    main()
