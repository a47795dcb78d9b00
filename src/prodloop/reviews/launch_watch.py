"""The GA watch: after declare-ga, a clean watch writes the launch post.

While the watch runs (`launch.watch` from GA, 2 h by default), a page alert firing on the
launched service or a SEV1/SEV2 incident open on it fails the watch, recorded with its
reason. The launch flag is not turned back automatically: people decide, and the failure
says the command that does it. A watch that reaches its end clean passes, and the launch
post is written.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.reviews.checklist import alerts_firing_in, incidents_open_in, launch_service
from prodloop.reviews.launch import write_launch_post
from prodloop.reviews.launch_events import Watch, latest_watch, read_events, record_event


def watch_failure(engine: Engine, config: Config, watch: Watch, now: float) -> str | None:
    """Why the watch fails by `now` (a page or a SEV1/SEV2 incident), or None while clean."""
    service = launch_service(config)
    start, end = watch.started.at, min(now, watch.until)
    with engine.connect() as conn:
        pages = alerts_firing_in(conn, service, start, end, severity="page")
        serious = incidents_open_in(conn, service, ("SEV1", "SEV2"), start, end)
    names = list(dict.fromkeys(name for name, _, _ in pages))
    reasons = [f"page {name} fired on {service}" for name in names]
    reasons += [
        f"{severity} incident #{number} open: {title}" for number, severity, title in serious
    ]
    return "; ".join(reasons) or None


def run_launch_watch(engine: Engine, config: Config, now: float) -> list[str]:
    """Advance the GA watch: pass it (and write the launch post) or fail it; what happened."""
    watch = latest_watch(read_events(engine))
    if watch is None or not watch.is_running:
        return []
    try:
        reason = watch_failure(engine, config, watch, now)
    except ValidationError as exc:
        # The config changed under a running watch; failing it says so, where raising
        # would stop every other evaluator of the tick.
        reason = f"cannot watch: {exc}"
    flag = config.launch.flag
    if reason is not None:
        revert = f"prodloop flags kill {flag}"
        with engine.begin() as conn:
            record_event(conn, "watch_failed", now, data={"reason": reason, "revert": revert})
        return [
            f"launch watch failed: {reason}; the flag '{flag}' still serves 100 %: "
            f"run `{revert}` to turn it off"
        ]
    if now < watch.until:
        return []
    path = write_launch_post(engine, config, watch, now)
    with engine.begin() as conn:
        record_event(conn, "watch_passed", now, data={"until": watch.until})
        record_event(conn, "post_written", now, data={"path": str(path)})
    return [f"launch watch passed: GA; launch post written to {path}"]
