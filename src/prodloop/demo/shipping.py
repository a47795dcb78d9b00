"""The launch demo's first five days: the beta in staging, v1 live, v2's regression and
its incident, v3's fix. Each step narrates what happened with simulated time and a figure."""

from __future__ import annotations

import asyncio

from prodloop.demo.people import IDEAS
from prodloop.demo.settings import (
    LAUNCH_FLAG,
    ON_CALL,
    PRODUCTION,
    STAGING,
)
from prodloop.demo.story import DAY_S, HOUR_S, Play
from prodloop.demo.traffic import Outcome
from prodloop.errors import ProdloopError
from prodloop.incidents.comms import post_status_update, resolve_incident
from prodloop.incidents.lifecycle import acknowledge_incident, load_incident
from prodloop.incidents.postmortem import parse_action_item, write_postmortem
from prodloop.incidents.timeline import read_timeline
from prodloop.loop import TickReport
from prodloop.releases.deployments import DeployRequest, register_deployment
from prodloop.releases.flags.model import flag_from_dict
from prodloop.releases.flags.store import create_flag
from prodloop.releases.rollouts import get_rollout, list_rollouts
from prodloop.telemetry.sli import query_slis


async def beta_in_staging(play: Play) -> None:
    """Day 1 08:00 → day 3 09:00: the beta runs on the staging service."""
    size = play.size
    start = play.now
    outcomes = await play.traffic(
        STAGING,
        play.at(3, 9),
        size.staging_every_s,
        size.staging_calls,
        among_beta=True,
        is_now_first=True,
    )
    errors = sum(1 for o in outcomes if o.status >= 500)
    reached = sum(1 for person in play.crowd.beta if person.has_asked)
    play.say(
        f"beta in staging since {play.when(start)}: {len(play.crowd.beta)} beta users, "
        f"{len(outcomes)} requests through the gateway to '{STAGING}' over "
        f"{(play.now - start) / HOUR_S:.0f} h, {errors} server errors; {reached} users reached "
        "the success metric (first_question)"
    )


async def v1_goes_live(play: Play) -> None:
    """Day 3: v1 in production behind the gateway, the launch flag at 10 %."""
    stage, size = play.stage, play.size
    flag = flag_from_dict(
        {
            "key": LAUNCH_FLAG,
            "kind": "boolean",
            "description": "the launch: everyone sees v1",
            "variants": {"on": True, "off": False},
            "default_variant": "on",
            "off_variant": "off",
            "enabled": True,
            "rollout": {"weights": {"on": 10, "off": 90}},
        }
    )
    create_flag(stage.engine, flag, by="priya", now=play.now)
    await stage.sync_gateway()
    play.say(
        f"v1 goes live on '{PRODUCTION}' behind the gateway; flag '{LAUNCH_FLAG}' "
        "serves the launch to 10 % of users"
    )
    praised: list[Outcome] = []

    async def praise(_report: TickReport, outcomes: list[Outcome]) -> bool:
        good = [o for o in outcomes if o.status == 200]
        if good and len(praised) < 5:
            praised.append(good[0])
            await stage.post_feedback(play.crowd.feedback_for(good[0], is_negative=False))
        return False

    outcomes = await play.traffic(
        PRODUCTION, play.at(3, 18), size.live_every_s, size.live_calls, after_tick=praise
    )
    users = len({o.user for o in outcomes})
    signed = sum(1 for person in play.crowd.people if person.has_signed_up)
    play.say(
        f"launch day: {len(outcomes)} requests from {users} users on v1, "
        f"{sum(1 for o in outcomes if o.status >= 500)} server errors; {signed} signups so far; "
        f"{len(praised)} thumbs up with comments through /ingest/feedback"
    )
    await play.traffic(PRODUCTION, play.at(4, 10), size.quiet_every_s, size.quiet_calls)


async def v2_regresses(play: Play) -> None:
    """Day 4 10:00: v2's canary fails, is rolled back, and an incident runs its course."""
    stage, size = play.stage, play.size
    deploy_at = play.now
    request = DeployRequest(
        PRODUCTION,
        "v2",
        stage.upstream_url("v2"),
        deployed_by="alex",
        git_sha="9c1e2f7",
        merged_at=deploy_at - 22 * 60,
    )
    # In a thread: the deploy probes the new upstream, which answers on this event loop.
    await asyncio.to_thread(register_deployment, stage.engine, stage.config, request, deploy_at)
    await stage.sync_gateway()
    play.say("v2 deployed (merged 22 min ago): canary at 20 % of users, judged every 10 min")
    seen: list[Outcome] = []

    async def until_incident(report: TickReport, outcomes: list[Outcome]) -> bool:
        seen.extend(outcomes)
        if any(event.kind == "rolled_back" for event in report.rollouts):
            await stage.sync_gateway()
        if report.incidents.opened:
            play.results.incident_id = report.incidents.opened[0]
        return play.results.incident_id is not None

    await play.traffic(
        PRODUCTION,
        deploy_at + 30 * 60,
        size.incident_every_s,
        size.incident_calls,
        after_tick=until_incident,
    )
    incident_id = play.results.incident_id
    if incident_id is None:
        raise ProdloopError("the regressed v2 did not page within 30 simulated minutes")
    on_v2 = [o for o in seen if o.version == "v2"]
    play.say(
        f"v2 canary: {_error_rate(on_v2)} of its {len(on_v2)} requests failed, v1 "
        f"{_error_rate([o for o in seen if o.version == 'v1'])} over the same minutes"
    )
    rollout = list_rollouts(stage.engine, service=PRODUCTION, limit=1)[0]
    reason = rollout.reason or {}
    why = (
        f"on the page {reason.get('alertname')} ({reason.get('summary')})"
        if reason.get("kind") == "page"
        else "on the judge's failed analysis"
    )
    play.say(
        f"canary {rollout.state.replace('_', ' ')} at {rollout.steps[rollout.step_index]:g} % "
        f"by the rollout controller, {why}: all traffic is back on v1"
    )
    incident = load_incident(stage.engine, incident_id)
    play.say(
        f"incident #{incident_id} opened ({incident.severity}): {incident.title}; "
        f"{incident.assignee or 'nobody'} paged (escalation policy '{PRODUCTION}')"
    )
    failed = [o for o in on_v2 if o.status >= 500][:5]
    for outcome in failed:
        await stage.post_feedback(play.crowd.feedback_for(outcome, is_negative=True))
    play.say(
        f"{len(failed)} thumbs down with a comment from users who hit v2's errors, through "
        "/ingest/feedback, each tied to its failed request"
    )
    await _incident_response(play, incident_id)


def _error_rate(outcomes: list[Outcome]) -> str:
    failed = sum(1 for o in outcomes if o.status >= 500 or o.status == 0)
    return f"{failed / len(outcomes):.0%}" if outcomes else "n/a"


async def _incident_response(play: Play, incident_id: int) -> None:
    """The on-call's part: acknowledge, update the status page, resolve, draft the post-mortem."""
    stage, size = play.stage, play.size
    opened = play.now
    await play.traffic(PRODUCTION, opened + 2 * 60, size.incident_every_s, size.incident_calls)
    acknowledge_incident(stage.engine, incident_id, ON_CALL, play.now)
    play.say(f"{ON_CALL} acknowledged incident #{incident_id}")
    await play.traffic(PRODUCTION, opened + 5 * 60, size.incident_every_s, size.incident_calls)
    post_status_update(
        stage.engine,
        incident_id,
        "identified",
        "A faulty release of the assistant returned errors to some users. It has been rolled "
        "back and answers are working again; we are watching closely.",
        ON_CALL,
        play.now,
    )
    play.say("status page updated (identified) 5 min after detection")
    await play.traffic(PRODUCTION, opened + 20 * 60, size.rollout_every_s, size.incident_calls)
    post_status_update(
        stage.engine,
        incident_id,
        "monitoring",
        "Error rates are back to normal. We keep monitoring.",
        ON_CALL,
        play.now,
    )
    await play.traffic(PRODUCTION, opened + 35 * 60, 5 * 60.0, size.incident_calls)
    resolve_incident(
        stage.engine,
        incident_id,
        ON_CALL,
        play.now,
        message="Resolved: v2 was rolled back; v3 will carry the fix.",
    )
    with stage.engine.connect() as conn:
        kinds = [entry.kind for entry in read_timeline(conn, incident_id)]
    play.say(f"incident #{incident_id} resolved; timeline: {', '.join(dict.fromkeys(kinds))}")
    path = write_postmortem(
        stage.engine,
        stage.config,
        incident_id,
        play.now,
        output_dir=play.paths.postmortems,
        action_items=[
            parse_action_item("Smoke-test a canary's upstream before it takes traffic;alex;GH-101"),
            parse_action_item("Judge canaries every minute, not every ten;dana;GH-102"),
        ],
    )
    play.results.postmortem = str(path)
    play.say(f"post-mortem drafted: {path}")
    await play.traffic(PRODUCTION, play.at(5, 10), size.quiet_every_s, size.quiet_calls)


async def v3_fixes_it(play: Play) -> None:
    """Day 5 10:00: v3's canary passes the judge and is promoted."""
    stage, size = play.stage, play.size
    deploy_at = play.now
    merged_at = deploy_at - 8 * 60
    request = DeployRequest(
        PRODUCTION,
        "v3",
        stage.upstream_url("v3"),
        deployed_by="alex",
        git_sha="4b7d0a3",
        merged_at=merged_at,
    )
    await asyncio.to_thread(register_deployment, stage.engine, stage.config, request, deploy_at)
    await stage.sync_gateway()
    play.say("v3 deployed with the fix (merged 8 min ago): canary at 20 %")

    async def until_done(report: TickReport, _outcomes: list[Outcome]) -> bool:
        for event in report.rollouts:
            if event.kind == "analysis":
                checks = get_rollout(stage.engine, PRODUCTION, analyses=1).analyses[0]["checks"]
                compared = "; ".join(
                    check["reason"]
                    for check in checks
                    if check["kind"] == "comparison"
                    and check["metric"] in ("error_rate", "latency_tail")
                )
                play.say(
                    f"v3 canary at {event.weight:g} %: the judge's analysis says "
                    f"{(event.reason or {}).get('verdict')}: {compared}"
                )
        if any(event.kind in ("promoted", "rolled_back") for event in report.rollouts):
            await stage.sync_gateway()
            return True
        return False

    await play.traffic(
        PRODUCTION,
        deploy_at + 45 * 60,
        size.rollout_every_s,
        size.rollout_calls,
        after_tick=until_done,
    )
    rollout = list_rollouts(stage.engine, service=PRODUCTION, limit=1)[0]
    if rollout.state != "promoted":
        raise ProdloopError(f"v3's rollout ended {rollout.state}, not promoted")
    finished = rollout.finished_at or play.now
    play.say(
        f"v3 promoted to 100 % by the rollout controller; merge → live "
        f"{(finished - merged_at) / 60:.0f} min, no failed request during the deploy"
    )
    await _show_versions(play, deploy_at - 2 * DAY_S)
    await play.traffic(PRODUCTION, play.at(5, 16), size.quiet_every_s, size.quiet_calls)
    good = play.crowd.people[-2:]
    for person, text in zip(good, IDEAS, strict=True):
        await stage.post_feedback(play.crowd.idea(person.name, text))
    play.say(f"{len(IDEAS)} feature requests arrive through /ingest/feedback")
    await play.traffic(PRODUCTION, play.at(6, 8), size.quiet_every_s, size.quiet_calls)


async def _show_versions(play: Play, start: float) -> None:
    """One line per production version: what the gateway measured since `start`."""
    slis = query_slis(
        play.stage.engine, start=start, end=play.now + 1, service=PRODUCTION, group_by=("version",)
    )
    shown = []
    for row in slis:
        p95 = row.latency_percentile(95)
        shown.append(
            f"{row.group.get('version')} {row.requests} requests, "
            f"{(row.error_rate or 0) * 100:.1f} % errors, p95 "
            + (f"{p95:.0f} ms" if p95 is not None else "n/a")
        )
    play.say("the gateway measured since launch day: " + "; ".join(shown))
