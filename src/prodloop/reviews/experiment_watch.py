"""Experiments that conclude by themselves: the loop records a final verdict once there is one.

At most every `experiments.check_interval`, each running experiment is analysed; one whose
test says ship or dont_ship is concluded with that verdict, by "prodloop". keep_running
(too few samples, no significant difference, or a sample ratio mismatch) leaves it open.
"""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.durations import parse_duration
from prodloop.errors import ProdloopError
from prodloop.reviews.experiments import analyse, conclude, list_experiments

log = logging.getLogger("prodloop.reviews")

CONCLUDED_BY = "prodloop"

# When each store's experiments were last checked; in memory, so a restarted loop checks
# at once, which costs one analysis and concludes nothing twice.
_last_checked: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()


def is_check_due(engine: Engine, config: Config, now: float) -> bool:
    """Whether `experiments.check_interval` has passed since the last check of this store."""
    last = _last_checked.get(engine)
    return last is None or now - last >= parse_duration(config.experiments.check_interval)


def run_experiment_watch(engine: Engine, config: Config, now: float) -> list[str]:
    """Conclude the running experiments whose verdict is final; what was concluded."""
    if not is_check_due(engine, config, now):
        return []
    _last_checked[engine] = now
    done: list[str] = []
    for experiment in list_experiments(engine):
        if experiment.concluded_at is not None:
            continue
        try:
            # The verdict is read first so that keep_running is never forced into one.
            if analyse(engine, config, experiment, now).verdict == "keep_running":
                continue
            result = conclude(engine, config, experiment.name, now, by=CONCLUDED_BY)
        except ProdloopError as exc:
            # A deleted flag or a conclude from elsewhere must not stop the other experiments.
            log.warning("experiment %s not checked: %s", experiment.name, exc)
            done.append(f"experiment {experiment.name} not checked: {exc}")
            continue
        winner = f" {result.winner}" if result.winner else ""
        done.append(
            f"experiment {experiment.name} concluded by {CONCLUDED_BY}: "
            f"{result.verdict}{winner} — {result.reason}"
        )
    return done
