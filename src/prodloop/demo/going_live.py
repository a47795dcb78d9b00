"""The launch demo's last five days: drills, sign-offs and GA with its watch, an A/B test
to a verdict, the weekly review the loop writes, and the launch checklist a week on."""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
from pathlib import Path

from sqlalchemy import select

from prodloop.demo.settings import (
    EXPERIMENT_FLAG,
    LAUNCH_FLAG,
    PRODUCTION,
)
from prodloop.demo.story import DAY_S, HOUR_S, Play
from prodloop.demo.traffic import Outcome
from prodloop.errors import ProdloopError
from prodloop.incidents.drills import run_drill, scenario_named
from prodloop.loop import TickReport
from prodloop.releases.flags.evaluate import evaluate
from prodloop.releases.flags.model import flag_from_dict
from prodloop.releases.flags.store import create_flag, get_flag
from prodloop.reviews.checklist import check_launch
from prodloop.reviews.experiments import conclude, create_experiment, experiment_results
from prodloop.reviews.launch import declare_ga, record_signoff
from prodloop.store.schema import reviews

EXPERIMENT = "answer-style-detailed"
SIGNOFFS = (("engineering", "alex"), ("product", "priya"), ("operations", "dana"))


async def drills(play: Play) -> None:
    """Day 6 08:00: drills on the demo's runbooks (each on its own throwaway store)."""
    paths = play.paths
    paths.drills.mkdir(parents=True, exist_ok=True)

    def drill(name: str, folder: str) -> str:
        report = run_drill(
            scenario_named(name),
            store_url=f"sqlite:///{Path(folder) / (name + '.db')}",
            now_start=play.now,
            runbooks_dir=paths.runbooks,
            output=paths.drills / f"{name}.md",
        )
        measured = ", ".join(
            f"{m.name} {m.seconds:.0f} s" for m in report.measures if m.seconds is not None
        )
        verdict = "all targets met" if report.is_passed else "targets missed"
        where = Path(report.runbook_path).name if report.runbook_path else "no runbook"
        play.results.drill_reports.append(str(report.report_path))
        return f"drill {name} ({where}): {measured}; {verdict}"

    # One after the other: each migrates a store of its own, which is not thread-safe.
    with tempfile.TemporaryDirectory(prefix="prodloop-demo-drill-") as folder:
        for name in ("error-spike", "latency-regression"):
            play.say(await asyncio.to_thread(drill, name, folder))


async def sign_off_and_launch(play: Play) -> None:
    """Day 6: sign-offs, the checklist, GA at 10:00, the 2-hour watch, the launch post."""
    stage, size = play.stage, play.size
    await play.traffic(PRODUCTION, play.at(6, 9), size.quiet_every_s, size.quiet_calls)
    for role, person in SIGNOFFS:
        record_signoff(
            stage.engine,
            stage.config,
            by=person,
            role=role,
            now=play.now,
            note="checklist reviewed",
        )
    play.say("sign-offs: " + ", ".join(f"{person} ({role})" for role, person in SIGNOFFS))
    await play.traffic(PRODUCTION, play.at(6, 10), 30 * 60.0, size.quiet_calls)
    checklist = check_launch(stage.engine, stage.config, play.now)
    play.say(
        f"launch checklist: {sum(line.ok for line in checklist.lines)} of "
        f"{len(checklist.lines)} lines pass ({', '.join(line.name for line in checklist.lines)})"
    )
    for line in checklist.failing:
        play.echo(f"    ✗ {line.title}: {line.evidence}")
    # declare_ga checks the list again, and refuses (naming the lines) while one fails.
    result = declare_ga(stage.engine, stage.config, play.now, "priya")
    await stage.sync_gateway()
    play.say(
        f"GA declared: flag '{LAUNCH_FLAG}' serves everyone (revision "
        f"{result.flag_revision}); watching until {play.when(result.watch_until)}"
    )

    async def until_post(report: TickReport, _outcomes: list[Outcome]) -> bool:
        for line in report.reviews:
            if line.startswith("launch watch"):
                play.say(line)
                if "written to " in line:
                    play.results.launch_post = line.split("written to ", 1)[1]
                return True
        return False

    await play.traffic(
        PRODUCTION, result.watch_until + HOUR_S, 10 * 60.0, size.quiet_calls, after_tick=until_post
    )
    if play.results.launch_post is None:
        raise ProdloopError("the GA watch did not end within an hour of its end")


async def experiment(play: Play) -> None:
    """Day 6 12:00 → day 9 18:00: an A/B test of the answer style, to a verdict."""
    stage, size = play.stage, play.size
    flag = flag_from_dict(
        {
            "key": EXPERIMENT_FLAG,
            "kind": "multivariate",
            "description": "how long answers are: concise (control) or detailed",
            "variants": {"concise": "concise", "detailed": "detailed"},
            "default_variant": "concise",
            "off_variant": "concise",
            "enabled": True,
            "rollout": {"weights": {"concise": 50, "detailed": 50}},
        }
    )
    create_flag(stage.engine, flag, by="priya", now=play.now)
    await stage.sync_gateway()
    create_experiment(
        stage.engine,
        EXPERIMENT,
        EXPERIMENT_FLAG,
        "thumbs_up_rate",
        by="priya",
        now=play.now,
        description="Do detailed answers get more thumbs up?",
    )
    play.say(
        f"experiment '{EXPERIMENT}': flag '{EXPERIMENT_FLAG}' splits users 50/50 between "
        "concise and detailed answers; metric: thumbs-up rate"
    )
    stored = get_flag(stage.engine, EXPERIMENT_FLAG)
    end = play.at(9, 18)
    # Thumbs per variant, spread over the bursts, enough for a verdict at min_samples.
    target = max(size.experiment_thumbs // 2, stage.config.experiments.min_samples + 20)
    given = {"concise": 0, "detailed": 0}
    up_rate = {"concise": 0.4, "detailed": 0.8}

    async def thumbs(_report: TickReport, outcomes: list[Outcome]) -> bool:
        bursts_left = max(1.0, (end - play.now) // size.quiet_every_s + 1)
        quota = {v: math.ceil((target - n) / bursts_left) + 1 for v, n in given.items()}
        for outcome in (o for o in outcomes if o.status == 200):
            variant = evaluate(stored, {"targetingKey": outcome.user}).variant or "concise"
            if quota[variant] <= 0 or given[variant] >= target:
                continue
            quota[variant] -= 1
            given[variant] += 1
            is_up = play.crowd.rnd.random() < up_rate[variant]
            item = play.crowd.feedback_for(outcome, is_negative=not is_up)
            del item["comment"], item["category"]
            await stage.post_feedback(item)
        return play.now >= end and min(given.values()) >= target

    calls = max(size.quiet_calls, 4 * math.ceil(target / ((end - play.now) / size.quiet_every_s)))
    await play.traffic(PRODUCTION, end, size.quiet_every_s, calls, after_tick=thumbs)
    if min(given.values()) < target:  # unlucky visitors: a few more hours of thumbs
        await play.traffic(PRODUCTION, end + DAY_S / 2, HOUR_S, calls, after_tick=thumbs)
    result = experiment_results(stage.engine, stage.config, EXPERIMENT, play.now)
    shown = ", ".join(
        f"{v.variant} {v.value:.0%} of {v.units} thumbs"
        for v in result.variants
        if v.value is not None
    )
    if result.verdict == "keep_running":
        play.say(f"experiment '{EXPERIMENT}': {shown}; no verdict yet ({result.reason})")
        return
    # The loop concludes it by itself once the verdict is final; otherwise conclude it here.
    concluded = (
        result
        if result.concluded_at is not None
        else conclude(stage.engine, stage.config, EXPERIMENT, play.now)
    )
    play.say(
        f"experiment '{EXPERIMENT}' concluded: {shown} → {concluded.verdict}"
        f"{f' {concluded.winner}' if concluded.winner else ''} ({concluded.reason})"
    )


async def weekly_review(play: Play) -> None:
    """Day 10 09:00: the loop writes the launch week's review on its schedule."""
    size = play.size
    written: list[str] = []

    async def until_review(report: TickReport, _outcomes: list[Outcome]) -> bool:
        written.extend(line for line in report.reviews if line.startswith("weekly review"))
        return bool(written)

    await play.traffic(
        PRODUCTION, play.at(10, 9), size.quiet_every_s, size.quiet_calls, after_tick=until_review
    )
    if not written:  # the tick at 09:00 normally writes it; a later one catches up
        await play.traffic(
            PRODUCTION, play.at(10, 9.25), 5 * 60.0, size.quiet_calls, after_tick=until_review
        )
    if not written:
        raise ProdloopError("the loop did not write the weekly review at its time")
    path = written[-1].split("written to ", 1)[-1]
    play.results.weekly_review = path
    play.results.weekly_review_html = str(Path(path).with_suffix(".html"))
    with play.stage.engine.connect() as conn:
        summary = conn.execute(
            select(reviews.c.summary).where(reviews.c.path_md == path)
        ).scalar_one()
    figures = json.loads(summary)
    worse = "; ".join(figures.get("regressions", [])) or "nothing got worse"
    play.say(f"a week after launch the loop writes the weekly review: {figures['headline']}")
    play.say(f"called out: {worse}; {path} (and .html)")


async def final_check(play: Play) -> None:
    """Day 10 09:30: the launch checklist, a week on."""
    stage = play.stage
    await play.traffic(PRODUCTION, play.at(10, 9.5), 5 * 60.0, play.size.quiet_calls)
    checklist = check_launch(stage.engine, stage.config, play.now)
    play.results.checklist_ok = checklist.ok
    play.say(
        f"`prodloop launch check`: {sum(line.ok for line in checklist.lines)} of "
        f"{len(checklist.lines)} lines pass"
    )
    for line in checklist.lines:
        play.echo(f"    {'✓' if line.ok else '✗'} {line.title}: {line.evidence}")
