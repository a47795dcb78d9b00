"""What the loop does for reviews and the launch each tick."""

from __future__ import annotations

from prodloop.reviews.experiment_watch import run_experiment_watch
from prodloop.reviews.launch_watch import run_launch_watch
from prodloop.reviews.schedule import run_scheduled_reviews

__all__ = ["run_experiment_watch", "run_launch_watch", "run_scheduled_reviews"]
