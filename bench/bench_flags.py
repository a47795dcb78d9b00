"""Flag evaluation in the local client: microseconds per evaluation, beside Unleash.

Two flags, evaluated through `FlagClient` exactly as an application calls it:

* a boolean flag, on, no rules: ``client.boolean("dark-mode", False, context)``;
* a percentage rollout with one rule: a rule on ``plan`` that the context does not match,
  then a sticky 30 / 70 split on ``targetingKey`` (one SHA-256 per call):
  ``client.boolean("new-prompt", False, context)``.

The reference is Unleash's Python client (``UnleashClient``, when installed) on the same
two flags from a bootstrapped cache with no server: a default-strategy toggle, and a
``flexibleRollout`` at 30 % sticky on ``userId`` with one ``NOT_IN`` constraint on
``plan``, through ``client.is_enabled(name, context)``.

Each call gets a different user's context (1,000 prebuilt contexts, cycled), so nothing
is cached between calls. Reported: the median over repeats of the time per call, loop
included. Targets: ≤ 2 µs (boolean) and ≤ 5 µs (rollout with one rule).

Prints one JSON line and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from prodloop.releases.flags.client import FlagClient

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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per repeat (prodloop)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (the median is kept)")
    args = parser.parse_args()

    ours, share = measure_prodloop(args.calls, args.repeats)
    unleash = measure_unleash(max(USERS, args.calls // 20), args.repeats)
    report: dict[str, Any] = {
        "bench": "flags",
        "python": platform.python_version(),
        "repeats": args.repeats,
        "prodloop_us": {name: round(us, 3) for name, us in ours.items()},
        "targets_us": TARGETS_US,
        "met": {name: ours[name] <= TARGETS_US[name] for name in ours},
        "prodloop_rollout_share_on": share,
        "unleash_us": {n: round(us, 3) for n, us in unleash[0].items()} if unleash else None,
        "unleash_rollout_share_on": unleash[1] if unleash else None,
    }
    print(json.dumps(report))
    print()
    print("| flag | prodloop µs / eval | target | met | UnleashClient µs / eval |")
    print("|---|---:|---:|:-:|---:|")
    labels = {"boolean": "boolean, no rules", "rollout_one_rule": "30 % rollout + one rule"}
    for name, us in ours.items():
        met = "yes" if us <= TARGETS_US[name] else "no"
        reference = f"{unleash[0][name]:.2f}" if unleash else "not installed"
        print(f"| {labels[name]} | {us:.2f} | ≤ {TARGETS_US[name]:g} | {met} | {reference} |")


if __name__ == "__main__":
    main()
