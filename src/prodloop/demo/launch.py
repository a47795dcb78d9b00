"""`prodloop demo`: the guide's whole Phase 6, rehearsed on the embedded store.

Ten simulated days in a few minutes. Simulated users really go through the gateway and
really send analytics and feedback to the control plane's public ingest; everything is
stamped by one manual clock, which the scenario moves on, ticking prodloop's own loop as
`prodloop up` would. The story:

1. a beta runs 49 h on the staging service; beta users reach the success metric;
2. v1 goes live in production behind the gateway, with the launch flag at 10 %;
3. v2 is deployed as a canary and regresses: the error-rate page fires, the rollout
   controller rolls the canary back on it, an incident opens and pages the on-call, who
   acknowledges and updates the status page; it is resolved and its post-mortem drafted;
4. v3 fixes it: its canary passes the judge's analysis and is promoted;
5. drills exercise the runbooks, stakeholders sign off, the launch checklist passes and
   GA is declared (the launch flag to 100 %); the 2-hour watch passes, the launch post is
   written;
6. an A/B test on the answer style runs to a verdict;
7. on the next Monday the loop writes the weekly review, and the checklist passes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prodloop.clock import ManualClock
from prodloop.config import Config, parse_config
from prodloop.demo.going_live import (
    drills,
    experiment,
    final_check,
    sign_off_and_launch,
    weekly_review,
)
from prodloop.demo.people import Crowd
from prodloop.demo.settings import (
    INGEST_KEY_ENV,
    KEY_ENVS,
    DemoPaths,
    Ports,
    config_text,
    prepare_folder,
)
from prodloop.demo.shipping import beta_in_staging, v1_goes_live, v2_regresses, v3_fixes_it
from prodloop.demo.stage import free_port, open_stage
from prodloop.demo.story import FULL, HOUR_S, DemoSize, Play, Results
from prodloop.errors import ValidationError
from prodloop.store import connect
from prodloop.store.schema import deployments, incidents
from prodloop.telemetry.sli import Slis, query_slis
from prodloop.web.dashboard.users import add_user

ADMIN = "demo-admin"


@dataclass(frozen=True, slots=True)
class LaunchDemo:
    """What `prodloop demo` leaves behind and where."""

    paths: DemoPaths
    store_url: str
    results: Results
    slis: list[Slis]
    admin_password: str
    requests: int
    events: int
    feedback: int


def review_monday(real_now: float) -> datetime:
    """Midnight UTC of the Monday whose 09:00 is the latest at least an hour before now:
    the story ends that morning, so everything it stamps is in the past."""
    moment = datetime.fromtimestamp(real_now - HOUR_S, UTC) - timedelta(hours=9)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())


def _demo_config(store_url: str, paths: DemoPaths, ports: Ports, environ: dict[str, str]) -> Config:
    return parse_config(
        config_text(store_url, paths, ports, has_keys=True), path=str(paths.config), environ=environ
    )


def _check_empty(store_url: str) -> None:
    engine = connect(store_url)
    try:
        with engine.connect() as conn:
            used = (
                conn.execute(deployments.select().limit(1)).first()
                or conn.execute(incidents.select().limit(1)).first()
            )
    finally:
        engine.dispose()
    if used is not None:
        raise ValidationError(
            "the demo tells its story on an empty store; this one has deployments or "
            "incidents already (leave out --store to use the demo's own)",
            field="store",
        )


def run_launch_demo(
    root: Path,
    echo: Callable[[str], None],
    *,
    store_url: str | None = None,
    size: DemoSize = FULL,
    real_now: float | None = None,
) -> LaunchDemo:
    """Run the whole launch on a fresh demo folder `root`; narrate through `echo`."""
    from prodloop.server import run_async

    paths = DemoPaths(root)
    is_own_store = store_url is None
    url = store_url or f"sqlite:///{paths.store}"
    if not is_own_store:
        _check_empty(url)  # before anything is written
    prepare_folder(paths, is_own_store=is_own_store)
    echo("prodloop demo: ten days of a launch (Phase 6) in compressed time\n")
    now = datetime.now(UTC).timestamp() if real_now is None else real_now
    return run_async(_run(paths, url, size, echo, now))


async def _run(
    paths: DemoPaths, store_url: str, size: DemoSize, echo: Callable[[str], None], real_now: float
) -> LaunchDemo:
    environ = {
        name: f"demo-{secrets.token_hex(8)}" for name in (*KEY_ENVS.values(), INGEST_KEY_ENV)
    }
    # The file for `prodloop up`: prodloop's default ports, this run's upstream ports.
    healthy, regressed = free_port(), free_port()
    kept = Ports(healthy_upstream=healthy, regressed_upstream=regressed)
    paths.config.write_text(config_text(store_url, paths, kept, has_keys=False), encoding="utf-8")
    ports = Ports(free_port(), free_port(), healthy, regressed)
    config = _demo_config(store_url, paths, ports, environ)
    day_one = (review_monday(real_now) - timedelta(days=9)).timestamp()
    clock = ManualClock(day_one + 8 * HOUR_S)
    keys = {service: environ[env] for service, env in KEY_ENVS.items()}
    crowd = Crowd(size.users, size.beta_users)
    async with open_stage(
        config, clock, keys, environ[INGEST_KEY_ENV], (healthy, regressed)
    ) as stage:
        echo(
            f"gateway on {stage.gateway_url}, control plane on {stage.control_url}, "
            f"fake LLM app on ports {healthy} (v1, v3) and {regressed} (v2); "
            "one simulated clock for all of them"
        )
        play = Play(stage, crowd, paths, size, echo, day_one)
        for step in STEPS:
            await step(play)
        slis = query_slis(
            stage.engine, start=day_one, end=play.now + 1, group_by=("service", "version")
        )
        password = secrets.token_urlsafe(12)
        add_user(stage.engine, ADMIN, password, "admin", now=play.now)
        return LaunchDemo(
            paths,
            store_url,
            play.results,
            slis,
            password,
            stage.requests_sent,
            stage.events_posted,
            stage.feedback_posted,
        )


STEPS = (
    beta_in_staging,
    v1_goes_live,
    v2_regresses,
    v3_fixes_it,
    drills,
    sign_off_and_launch,
    experiment,
    weekly_review,
    final_check,
)
