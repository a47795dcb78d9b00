"""The loop concludes an experiment once its verdict is final, and only then."""

from __future__ import annotations

import json
import time

from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop import loop
from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.reviews.experiments import create_experiment, experiment_results, get_experiment
from prodloop.store import connect
from prodloop.store.schema import experiments
from tests.reviews.test_experiments import FLAG, _flag, _requests, _thumbs

HOUR = 3600.0


def _config(store_url: str) -> Config:
    return parse_config(f"store:\n  url: {store_url}\nexperiments:\n  check_interval: 1h\n")


def _thumbs_split(
    engine: Engine, start: float, users: dict[str, int], ups: dict[str, int], flag: str = FLAG
) -> None:
    """`users[v]` users on variant v, one request and one thumb each; `ups[v]` of them up."""
    requests, thumbs = [], []
    for variant, count in users.items():
        for rank in range(count):
            trace = f"{flag}-{variant}-{rank}"
            at = start + 60 + rank
            requests.append({"ts": at, "trace_id": trace, "user_id": trace,
                             "flags": f"{flag}={variant}"})  # fmt: skip
            thumbs.append({"created_at": at + 5, "trace_id": trace,
                           "rating": 1.0 if rank < ups[variant] else 0.0})  # fmt: skip
    _requests(engine, requests)
    _thumbs(engine, thumbs)


def _setup(store_url: str) -> tuple[Config, ManualClock, Engine]:
    clock = ManualClock(time.time())
    engine = connect(store_url)
    _flag(engine)
    return _config(store_url), clock, engine


def test_a_clear_effect_concludes_by_itself_and_an_a_a_test_stays_open(sqlite_url: str) -> None:
    config, clock, engine = _setup(sqlite_url)
    start = clock.now()
    _flag(engine, "a-a")
    create_experiment(engine, "clear", FLAG, "thumbs_up_rate", by="ana", now=start)
    create_experiment(engine, "same", "a-a", "thumbs_up_rate", by="ana", now=start)
    _thumbs_split(engine, start, {"off": 200, "on": 200}, {"off": 120, "on": 170})
    _thumbs_split(engine, start, {"off": 200, "on": 200}, {"off": 150, "on": 150}, "a-a")
    clock.advance(HOUR)
    report = loop.tick(engine, config, clock.now())
    assert [line for line in report.reviews if line.startswith("experiment")] == [
        "experiment clear concluded by prodloop: ship on — on beats off on thumbs_up_rate"
    ]
    clear = get_experiment(engine, "clear")
    assert (clear.verdict, clear.concluded_at) == ("ship", clock.now())
    stored = experiment_results(engine, config, "clear", clock.now() + HOUR)
    assert (stored.concluded_by, stored.winner, stored.analysed_until) == (
        "prodloop", "on", clock.now()
    )  # fmt: skip
    same = get_experiment(engine, "same")
    assert (same.verdict, same.concluded_at) == (None, None)
    open_result = experiment_results(engine, config, "same", clock.now())
    assert (open_result.verdict, open_result.reason) == (
        "keep_running", "no significant difference yet"
    )  # fmt: skip
    assert [v.units for v in open_result.variants] == [200, 200]


def test_a_sample_ratio_mismatch_stays_open_even_with_a_clear_effect(sqlite_url: str) -> None:
    config, clock, engine = _setup(sqlite_url)
    start = clock.now()
    create_experiment(engine, "skewed", FLAG, "thumbs_up_rate", by="ana", now=start)
    _thumbs_split(engine, start, {"off": 140, "on": 260}, {"off": 84, "on": 221})
    clock.advance(HOUR)
    report = loop.tick(engine, config, clock.now())
    assert not [line for line in report.reviews if line.startswith("experiment")]
    result = experiment_results(engine, config, "skewed", clock.now())
    assert result.srm is not None and result.srm["is_mismatch"] is True
    assert result.variants[1].is_significant  # without the SRM it would ship
    assert result.verdict == "keep_running" and result.concluded_at is None


def test_the_check_interval_is_honoured(sqlite_url: str) -> None:
    config, clock, engine = _setup(sqlite_url)
    start = clock.now()
    create_experiment(engine, "clear", FLAG, "thumbs_up_rate", by="ana", now=start)
    loop.tick(engine, config, clock.now())  # checked: no data yet
    _thumbs_split(engine, start, {"off": 200, "on": 200}, {"off": 120, "on": 170})
    clock.advance(HOUR - 1)
    loop.tick(engine, config, clock.now())
    assert get_experiment(engine, "clear").concluded_at is None
    clock.advance(1)
    loop.tick(engine, config, clock.now())
    with engine.connect() as conn:
        row = conn.execute(select(experiments.c.verdict, experiments.c.concluded_at,
                                  experiments.c.result)).one()  # fmt: skip
    assert (row.verdict, row.concluded_at) == ("ship", start + HOUR)
    assert json.loads(row.result)["concluded_by"] == "prodloop"
