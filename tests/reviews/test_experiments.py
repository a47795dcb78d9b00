"""Experiments end to end: requests, feedback and events in the store → `prodloop experiment`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from prodloop.cli.experiment import parse_started
from prodloop.config import Config, parse_config
from prodloop.errors import ValidationError
from prodloop.releases.flags.model import flag_from_dict
from prodloop.releases.flags.store import create_flag
from prodloop.reviews.experiments import (
    conclude,
    concluded_between,
    create_experiment,
    experiment_results,
    list_experiments,
)
from prodloop.store import connect
from prodloop.store.schema import analytics_events, experiments, feedback, request_events
from tests.cli.conftest import run_cli

HOUR = 3600.0
FLAG = "new-prompt"


def _flag(engine: Engine, key: str = FLAG, **data: Any) -> None:
    spec = {"kind": "boolean", "enabled": True,
            "rollout": {"weights": {"on": 50, "off": 50}}, **data}  # fmt: skip
    create_flag(engine, flag_from_dict(spec, key=key), by="ana", now=time.time() - 10 * 86400)


def _requests(engine: Engine, rows: list[dict[str, Any]]) -> None:
    defaults = {"service": "chat", "version": "v1", "route": "/v1/chat/completions",
                "status": 200, "latency_ms": 400.0, "request_id": "", "trace_id": "",
                "user_id": None, "cost_usd": None}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(request_events), [{**defaults, **row} for row in rows])


def _thumbs(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(feedback),
            [{"source": "api", "rating_kind": "thumbs", "updated_at": row["created_at"],
              "is_negative": row["rating"] == 0.0, "flags": None, **row} for row in rows],
        )  # fmt: skip


def _events(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(analytics_events),
            [{"uuid": f"e{i}-{row['distinct_id']}-{row['event']}", "received_at": row["ts"],
              "source": "posthog", **row} for i, row in enumerate(rows)],
        )  # fmt: skip


def _thumbs_experiment_data(engine: Engine, start: float) -> None:
    """200 users per variant, one request each; off: 120 of 200 thumbs up, on: 170 of 200.

    Half the feedback carries the request's flags, the other half only its trace id."""
    requests, thumbs = [], []
    for i in range(400):
        variant = "on" if i % 2 else "off"
        rank = i // 2  # 0..199 within the variant
        trace = f"t{i:04d}"
        at = start + HOUR + i
        requests.append({"ts": at, "trace_id": trace, "request_id": f"r{i}", "user_id": f"u{i}",
                         "flags": f"other=x;{FLAG}={variant}", "latency_ms": 300.0 + rank,
                         "cost_usd": 0.002 if variant == "off" else 0.001})  # fmt: skip
        is_up = rank < (120 if variant == "off" else 170)
        thumbs.append({"created_at": at + 5, "trace_id": trace, "rating": 1.0 if is_up else 0.0,
                       "flags": f"{FLAG}={variant}" if i % 4 < 2 else None})  # fmt: skip
    # Before the experiment started, and stars: neither counts.
    requests.append({"ts": start - HOUR, "trace_id": "old", "user_id": "early",
                     "flags": f"{FLAG}=on"})  # fmt: skip
    thumbs.append({"created_at": start - HOUR, "trace_id": "old", "rating": 0.0})
    thumbs.append({"created_at": start + HOUR, "trace_id": "t0001", "rating": 1.0,
                   "rating_kind": "stars"})  # fmt: skip
    _requests(engine, requests)
    _thumbs(engine, thumbs)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Engine]:
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n")
    return config_file, connect(f"sqlite:///{tmp_path / 'p.db'}")


def _cli(config_file: Path, *args: str) -> tuple[int, str, str]:
    done = run_cli("experiment", *args, "--config", str(config_file), env={"USER": "ana"})
    return done.returncode, done.stdout, done.stderr


def test_thumbs_up_rate_results_conclude_and_review_through_the_cli(
    project: tuple[Path, Engine],
) -> None:
    config_file, engine = project
    _flag(engine)
    code, out, err = _cli(config_file, "create", "prompt-v2", "--flag", FLAG, "--metric",
                          "thumbs_up_rate", "--started", "2d")  # fmt: skip
    assert code == 0, err
    assert out.startswith("created experiment prompt-v2: flag new-prompt, metric thumbs_up_rate")
    start = time.time() - 2 * 86400
    _thumbs_experiment_data(engine, start)

    code, out, err = _cli(config_file, "results", "prompt-v2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["control"] == "off" and result["unit"] == "thumbs"
    off, on = result["variants"]
    assert (off["variant"], off["units"], off["users"]) == ("off", 200, 200)
    assert (on["variant"], on["units"], on["users"]) == ("on", 200, 200)
    assert off["value"] == pytest.approx(0.60) and on["value"] == pytest.approx(0.85)
    assert on["difference"] == pytest.approx(0.25)
    assert 0 < on["difference_ci_low"] < 0.25 < on["difference_ci_high"]
    assert off["ci_low"] < 0.60 < off["ci_high"] and on["p_value"] < 0.05
    assert result["srm"]["observed"] == {"on": 200, "off": 200}
    assert result["srm"]["is_mismatch"] is False
    assert (result["verdict"], result["winner"]) == ("ship", "on")

    code, out, _ = _cli(config_file, "results", "prompt-v2")
    assert code == 0
    assert "off (control)  200       200  60.00%  [48.67%, 71.33%]" in out
    assert "on             200       200  85.00%  [76.75%, 93.25%]  +25.00 pp [+9.29 pp" in out
    assert "SRM: ok (χ² = 0.00, p = 1; users on 200 of 200 expected, off 200 of 200" in out
    assert "verdict: ship on — on beats off on thumbs_up_rate" in out
    assert "prodloop experiment conclude prompt-v2" in out

    code, out, err = _cli(config_file, "conclude", "prompt-v2")
    assert code == 0, err
    assert "verdict: ship on" in out and "concluded 20" in out
    code, out, _ = _cli(config_file, "list")
    assert code == 0 and "prompt-v2  new-prompt  thumbs_up_rate" in out and "ship" in out

    config = parse_config(config_file.read_text())
    with pytest.raises(ValidationError, match="already concluded"):
        conclude(engine, config, "prompt-v2", time.time())
    (concluded,) = concluded_between(engine, config, start, time.time() + 1)
    assert concluded.verdict == "ship" and concluded.winner == "on"
    assert [v.units for v in concluded.variants] == [200, 200]
    assert concluded_between(engine, config, start, start + 1) == []
    # A concluded experiment keeps the figures it was concluded with.
    _requests(engine, [{"ts": time.time() - 1, "user_id": "late", "flags": f"{FLAG}=on"}])
    again = experiment_results(engine, config, "prompt-v2", time.time())
    assert again.variants[1].users == 200 and again.concluded_at == concluded.concluded_at


def test_bad_input_is_refused_naming_the_field(project: tuple[Path, Engine]) -> None:
    config_file, engine = project
    _flag(engine)
    _flag(engine, "solo", kind="multivariate", variants={"only": "x"}, rollout=None)
    code, _, err = _cli(config_file, "create", "exp", "--flag", "solo", "--metric", "p95_latency")
    assert code == 2
    assert "error: flag: flag 'solo' has 1 variant; an experiment needs two or more" in err
    create_experiment(engine, "exp", FLAG, "p95_latency", by="ana", now=time.time())
    code, _, err = _cli(config_file, "conclude", "exp")
    assert code == 2 and "error: verdict: no verdict yet (needs 100 per variant" in err
    with engine.connect() as conn:
        assert conn.execute(select(experiments.c.concluded_at)).scalar_one() is None


@pytest.mark.parametrize(
    ("flag_key", "metric", "name", "field", "message"),
    [
        ("solo", "thumbs_up_rate", "e", "flag", "has 1 variant"),
        ("nope", "thumbs_up_rate", "e", "flag", "no flag 'nope'"),
        ("new-prompt", "conversion:", "e", "metric", "name the analytics event"),
        ("new-prompt", "p50_latency", "e", "metric", "unknown metric"),
        ("new-prompt", "thumbs_up_rate", "no spaces", "name", "use letters"),
        ("new-prompt", "thumbs_up_rate", "taken", "name", "an experiment named 'taken' exists"),
    ],
)
def test_create_refuses_what_cannot_be_an_experiment(
    flag_key: str, metric: str, name: str, field: str, message: str
) -> None:
    engine = connect("sqlite://")
    _flag(engine)
    _flag(engine, "solo", kind="multivariate", variants={"only": "x"}, rollout=None)
    create_experiment(engine, "taken", FLAG, "p95_latency", by="ana", now=0.0)
    with pytest.raises(ValidationError, match=message) as refused:
        create_experiment(engine, name, flag_key, metric, by="ana", now=0.0)
    assert refused.value.field == field
    assert [e.name for e in list_experiments(engine)] == ["taken"]


def test_parse_started_reads_a_time_or_a_duration_ago() -> None:
    now = 1_795_300_000.0  # 2026-11-21T21:06:40Z
    assert parse_started(None, now) == now
    assert parse_started("3d", now) == now - 3 * 86400
    assert parse_started("2026-11-20T09:00", now) == 1_795_165_200.0  # UTC unless it says
    assert parse_started("2026-11-20T10:00+01:00", now) == 1_795_165_200.0
    with pytest.raises(ValidationError, match="not a time or a duration"):
        parse_started("soon", now)
    with pytest.raises(ValidationError, match="in the future"):
        parse_started("2099-01-01", now)


def _config(store_url: str, extra: str = "") -> Config:
    return parse_config(f"store:\n  url: {store_url}\n{extra}")


def test_conversion_counts_users_who_convert_after_their_first_exposure(store_url: str) -> None:
    config = _config(store_url, "experiments:\n  min_samples: 3\n")
    engine = connect(store_url)
    _flag(engine)
    now = time.time()
    start = now - 86400
    create_experiment(engine, "signup", FLAG, "conversion:signed_up", by="ana", now=start)
    _requests(engine, [
        {"ts": start + 10, "user_id": "a1", "flags": f"{FLAG}=off"},
        {"ts": start + 20, "user_id": "a2", "flags": f"{FLAG}=off"},
        {"ts": start + 30, "user_id": "a3", "flags": f"{FLAG}=off"},
        {"ts": start + 40, "user_id": "a3", "flags": f"{FLAG}=on"},  # crossed over: stays off
        {"ts": start + 50, "user_id": "b1", "flags": f"{FLAG}=on"},
        {"ts": start - 50, "user_id": "z9", "flags": f"{FLAG}=on"},  # before the start
        {"ts": start + 60, "user_id": None, "flags": f"{FLAG}=on"},  # anonymous: no user
    ])  # fmt: skip
    _events(engine, [
        {"event": "$pageview", "distinct_id": "b2", "ts": start + 70,
         "properties": json.dumps({f"$feature/{FLAG}": True})},
        {"event": "$pageview", "distinct_id": "b3", "ts": start + 80,
         "properties": json.dumps({f"$feature/{FLAG}": "on"})},
        {"event": "signed_up", "distinct_id": "a1", "ts": start + 15, "properties": "{}"},
        {"event": "signed_up", "distinct_id": "a2", "ts": start + 5, "properties": "{}"},  # before
        {"event": "signed_up", "distinct_id": "b1", "ts": start + 55, "properties": "{}"},
        {"event": "signed_up", "distinct_id": "b2", "ts": start + 75, "properties": "{}"},
        {"event": "signed_up", "distinct_id": "z9", "ts": start + 75, "properties": "{}"},
        {"event": "signed_up", "distinct_id": "b3", "ts": now + 60, "properties": "{}"},  # later
    ])  # fmt: skip
    result = experiment_results(engine, config, "signup", now)
    assert result.unit == "users" and result.crossovers == 1
    off, on = result.variants
    assert (off.variant, off.users, off.units, off.value) == ("off", 3, 3, pytest.approx(1 / 3))
    assert (on.variant, on.users, on.units, on.value) == ("on", 3, 3, pytest.approx(2 / 3))
    assert result.verdict == "keep_running" and result.reason == "no significant difference yet"


def test_p95_latency_and_cost_per_request_per_variant(store_url: str) -> None:
    config = _config(store_url)
    engine = connect(store_url)
    _flag(engine)
    start = time.time() - 86400
    for name, metric in (("fast", "p95_latency"), ("cheap", "cost_per_request")):
        create_experiment(engine, name, FLAG, metric, by="ana", now=start)
    rng = np.random.default_rng(9)
    latency = {"off": rng.lognormal(6.5, 0.4, 300), "on": rng.lognormal(6.0, 0.4, 300)}
    cost = {"off": rng.normal(0.0020, 0.0003, 300), "on": rng.normal(0.0020, 0.0003, 300)}
    _requests(engine, [
        {"ts": start + i, "user_id": f"{variant}{i}", "flags": f"{FLAG}={variant}",
         "latency_ms": float(latency[variant][i]), "cost_usd": float(cost[variant][i])}
        for variant in ("off", "on") for i in range(300)
    ])  # fmt: skip
    fast = experiment_results(engine, config, "fast", time.time())
    assert [v.units for v in fast.variants] == [300, 300] and fast.unit == "requests"
    assert fast.variants[0].value == pytest.approx(np.quantile(latency["off"], 0.95))
    assert fast.variants[1].value == pytest.approx(np.quantile(latency["on"], 0.95))
    assert (fast.verdict, fast.winner) == ("ship", "on")  # lower latency is better
    cheap = experiment_results(engine, config, "cheap", time.time())
    assert cheap.variants[1].value == pytest.approx(float(np.mean(cost["on"])))
    assert cheap.verdict == "keep_running"


def test_a_55_45_split_of_a_50_50_flag_is_a_sample_ratio_mismatch(store_url: str) -> None:
    config = _config(store_url)
    engine = connect(store_url)
    _flag(engine)
    start = time.time() - 86400
    create_experiment(engine, "skewed", FLAG, "conversion:signed_up", by="ana", now=start)
    _requests(engine, [
        {"ts": start + i * 0.01, "user_id": f"u{i}", "flags": f"{FLAG}={variant}"}
        for i, variant in enumerate(["on"] * 5500 + ["off"] * 4500)
    ])  # fmt: skip
    result = experiment_results(engine, config, "skewed", time.time())
    assert result.srm is not None and result.srm["observed"] == {"on": 5500, "off": 4500}
    assert result.srm["statistic"] == pytest.approx(100.0) and result.srm["is_mismatch"]
    assert result.verdict == "keep_running" and result.reason.startswith("sample ratio mismatch")
