"""A/B tests on feature flags: per-variant metrics, a sequential verdict, the SRM check.

An experiment judges one flag on one metric from the moment it starts:

- who got which variant: a user's first exposure, from the flags the gateway served
  their requests with (``request_events.flags``, ``key=variant;…``) or from the
  PostHog-style ``$feature/<flag>`` property of their analytics events;
- the metric per variant: ``thumbs_up_rate`` (thumbs up among thumbs on requests served
  that variant), ``conversion:EVENT`` (assigned users who sent EVENT after their first
  exposure), ``p95_latency`` and ``cost_per_request`` (per request);
- each other variant against the control (the flag's off variant) with the mSPRT of
  `prodloop.reviews.stats`, so the verdict can be read every day without inflating
  false positives; with several treatments α is split between them (Bonferroni);
- a sample ratio mismatch check of the users per variant against the flag's split.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine, RowMapping

from prodloop.config import Config
from prodloop.errors import NotFoundError, ValidationError
from prodloop.releases.flags.model import Flag
from prodloop.releases.flags.store import get_flag
from prodloop.reviews.stats import (
    Sample,
    SrmResult,
    always_valid_interval,
    mean_sample,
    msprt,
    proportion_sample,
    quantile_sample,
    srm_check,
)
from prodloop.store.schema import analytics_events, experiments, feedback, request_events

Verdict = Literal["ship", "dont_ship", "keep_running"]
VERDICTS: tuple[Verdict, ...] = ("ship", "dont_ship", "keep_running")
METRICS = ("thumbs_up_rate", "conversion:EVENT", "p95_latency", "cost_per_request")
# Whether a larger value of the metric is the better one.
_HIGHER_IS_BETTER = {"thumbs_up_rate": True, "conversion": True, "p95_latency": False,
                     "cost_per_request": False}  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_EVENT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment as stored."""

    id: int
    name: str
    flag_key: str
    metric: str
    description: str
    created_at: float
    created_by: str
    concluded_at: float | None
    verdict: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant: its units, the metric with its always-valid interval, and (for a
    treatment) the difference to the control with its interval and p-value."""

    variant: str
    is_control: bool
    units: int
    users: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    difference: float | None = None
    difference_ci_low: float | None = None
    difference_ci_high: float | None = None
    p_value: float | None = None
    z: float | None = None
    is_significant: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantResult:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """An experiment's analysis at one moment: per variant, the SRM check, the verdict."""

    name: str
    flag_key: str
    metric: str
    unit: str  # what `units` counts: users, thumbs or requests
    control: str
    started_at: float
    analysed_until: float
    alpha: float
    variants: list[VariantResult]
    srm: dict[str, Any] | None  # SrmResult as a dict; None when the flag has no split
    verdict: Verdict
    winner: str | None
    reason: str
    concluded_at: float | None = None
    crossovers: int = 0  # users seen with more than one variant (kept in their first)
    notes: list[str] = field(default_factory=list)
    concluded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (infinite interval ends become None)."""
        data = asdict(self)
        data["variants"] = [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in variant.items()}
            for variant in data["variants"]
        ]  # fmt: skip
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentResult:
        values = dict(data)
        values["variants"] = [VariantResult.from_dict(v) for v in data["variants"]]
        return cls(**values)


def _experiment(row: RowMapping) -> Experiment:
    return Experiment(
        id=int(row["id"]), name=row["name"], flag_key=row["flag_key"], metric=row["metric"],
        description=row["description"] or "", created_at=float(row["created_at"]),
        created_by=row["created_by"], concluded_at=row["concluded_at"], verdict=row["verdict"],
    )  # fmt: skip


def check_metric(metric: str) -> str:
    """`metric` when it is one of the known forms, else a ValidationError naming it."""
    text = metric.strip()
    if text in _HIGHER_IS_BETTER and text != "conversion":
        return text
    kind, sep, event = text.partition(":")
    if kind == "conversion" and sep:
        if not event.strip() or len(event) > _EVENT_CHARS:
            raise ValidationError(
                "name the analytics event, like conversion:signed_up", field="metric"
            )
        return f"conversion:{event.strip()}"
    raise ValidationError(f"unknown metric '{metric}' (use {', '.join(METRICS)})", field="metric")


def _arms(flag: Flag) -> dict[str, float] | None:
    """The variants the flag splits users between and their weights; None without a split."""
    if flag.rollout is None:
        return None
    return {name: percent for name, percent in flag.rollout.weights if percent > 0}


def create_experiment(
    engine: Engine,
    name: str,
    flag_key: str,
    metric: str,
    *,
    by: str,
    now: float,
    description: str = "",
) -> Experiment:
    """Store a new experiment starting at `now`; refuses an unknown or single-variant
    flag, an unknown metric and a name already taken (ValidationError naming the field)."""
    if not _NAME.match(name):
        raise ValidationError(
            "use letters, digits, '.', '_' or '-' (at most 128 characters)", field="name"
        )
    checked_metric = check_metric(metric)
    try:
        flag = get_flag(engine, flag_key)
    except NotFoundError:
        raise ValidationError(f"no flag '{flag_key}'", field="flag") from None
    if len(flag.variants) < 2:
        raise ValidationError(
            f"flag '{flag_key}' has {len(flag.variants)} variant; an experiment needs two or more",
            field="flag",
        )
    with engine.begin() as conn:
        taken = conn.execute(select(experiments.c.id).where(experiments.c.name == name)).first()
        if taken is not None:
            raise ValidationError(f"an experiment named '{name}' exists", field="name")
        conn.execute(
            insert(experiments).values(
                name=name, flag_key=flag_key, metric=checked_metric, description=description,
                created_at=now, created_by=by,
            )
        )  # fmt: skip
    return get_experiment(engine, name)


def get_experiment(engine: Engine, name: str) -> Experiment:
    """The experiment called `name`; ValidationError naming `name` when there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(experiments).where(experiments.c.name == name)).mappings().first()
    if row is None:
        raise ValidationError(f"no experiment '{name}'", field="name")
    return _experiment(row)


def list_experiments(engine: Engine) -> list[Experiment]:
    """Every experiment, the newest first."""
    query = select(experiments).order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
    with engine.connect() as conn:
        return [_experiment(row) for row in conn.execute(query).mappings()]


def served_variants(flags_text: str | None) -> dict[str, str]:
    """``key=variant;…`` as the gateway records the flags of a request."""
    served: dict[str, str] = {}
    for pair in (flags_text or "").split(";"):
        key, sep, variant = pair.partition("=")
        if sep and key.strip():
            served[key.strip()] = variant.strip()
    return served


def _feature_variant(flag: Flag, properties: str) -> str | None:
    """The variant a PostHog ``$feature/<flag>`` property names (true/false: boolean)."""
    try:
        data = json.loads(properties)
    except ValueError:
        return None
    value = data.get(f"$feature/{flag.key}") if isinstance(data, dict) else None
    if isinstance(value, bool):
        return next((v.name for v in flag.variants if v.value is value), None)
    return value if isinstance(value, str) else None


@dataclass(slots=True)
class _Assignment:
    variant: str
    first_at: float
    variants: set[str]


def _assign(assignments: dict[str, _Assignment], user: str, variant: str, at: float) -> None:
    seen = assignments.get(user)
    if seen is None:
        assignments[user] = _Assignment(variant, at, {variant})
        return
    seen.variants.add(variant)
    if at < seen.first_at:
        seen.variant, seen.first_at = variant, at


def _assignments(engine: Engine, flag: Flag, start: float, end: float) -> dict[str, _Assignment]:
    """Each exposed user's variant at their first exposure in [start, end]."""
    assignments: dict[str, _Assignment] = {}
    with engine.connect() as conn:
        requests = conn.execute(
            select(request_events.c.user_id, request_events.c.flags, request_events.c.ts).where(
                request_events.c.ts >= start,
                request_events.c.ts <= end,
                request_events.c.user_id.is_not(None),
                request_events.c.flags.contains(f"{flag.key}="),
            )
        ).all()
        events = conn.execute(
            select(analytics_events.c.distinct_id, analytics_events.c.properties,
                   analytics_events.c.ts).where(
                analytics_events.c.ts >= start,
                analytics_events.c.ts <= end,
                analytics_events.c.properties.contains(f'"$feature/{flag.key}"'),
            )
        ).all()  # fmt: skip
    for user, flags_text, ts in requests:
        variant = served_variants(flags_text).get(flag.key)
        if variant:
            _assign(assignments, str(user), variant, float(ts))
    for user, properties, ts in events:
        variant = _feature_variant(flag, properties)
        if variant:
            _assign(assignments, str(user), variant, float(ts))
    return assignments


def _request_values(
    engine: Engine, flag: Flag, column: str, start: float, end: float
) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    measure = request_events.c[column]
    with engine.connect() as conn:
        rows = conn.execute(
            select(request_events.c.flags, measure).where(
                request_events.c.ts >= start,
                request_events.c.ts <= end,
                request_events.c.flags.contains(f"{flag.key}="),
                measure.is_not(None),
            )
        ).all()
    for flags_text, value in rows:
        variant = served_variants(flags_text).get(flag.key)
        if variant:
            values.setdefault(variant, []).append(float(value))
    return values


def _thumbs(engine: Engine, flag: Flag, start: float, end: float) -> dict[str, tuple[int, int]]:
    """Per variant, (thumbs up, thumbs) on requests served that variant."""
    tallies: dict[str, tuple[int, int]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(feedback.c.rating, feedback.c.flags, feedback.c.trace_id).where(
                feedback.c.created_at >= start,
                feedback.c.created_at <= end,
                feedback.c.rating_kind == "thumbs",
                feedback.c.rating.is_not(None),
            )
        ).all()
        # Feedback stored before its request was known has no flags: read the request's.
        missing = sorted({str(r.trace_id) for r in rows if not r.flags and r.trace_id})
        served: dict[str, str] = {}
        for chunk in range(0, len(missing), 500):
            ids = missing[chunk : chunk + 500]
            for trace_id, request_id, flags_text in conn.execute(
                select(request_events.c.trace_id, request_events.c.request_id,
                       request_events.c.flags).where(
                    or_(request_events.c.trace_id.in_(ids), request_events.c.request_id.in_(ids))
                )
            ):  # fmt: skip
                for key in (trace_id, request_id):
                    if key in ids:
                        served.setdefault(key, flags_text)
    for rating, flags_text, trace_id in rows:
        variant = served_variants(flags_text or served.get(str(trace_id), "")).get(flag.key)
        if not variant:
            continue
        up, total = tallies.get(variant, (0, 0))
        tallies[variant] = (up + (1 if float(rating) >= 1 else 0), total + 1)
    return tallies


def _conversions(
    engine: Engine, event: str, assignments: dict[str, _Assignment], end: float
) -> set[str]:
    """Assigned users who sent `event` after their first exposure."""
    if not assignments:
        return set()
    start = min(a.first_at for a in assignments.values())
    with engine.connect() as conn:
        rows = conn.execute(
            select(analytics_events.c.distinct_id, analytics_events.c.ts).where(
                and_(analytics_events.c.event == event, analytics_events.c.ts >= start,
                     analytics_events.c.ts <= end)
            )
        ).all()  # fmt: skip
    converted: set[str] = set()
    for user, ts in rows:
        assigned = assignments.get(str(user))
        if assigned is not None and float(ts) >= assigned.first_at:
            converted.add(str(user))
    return converted


def _samples(
    engine: Engine,
    flag: Flag,
    metric: str,
    assignments: dict[str, _Assignment],
    start: float,
    end: float,
) -> tuple[str, dict[str, Sample]]:
    """What the metric counts and each variant's estimate."""
    if metric == "thumbs_up_rate":
        return "thumbs", {
            variant: proportion_sample(up, total)
            for variant, (up, total) in _thumbs(engine, flag, start, end).items()
        }
    if metric == "p95_latency":
        latencies = _request_values(engine, flag, "latency_ms", start, end)
        return "requests", {v: quantile_sample(values, 0.95) for v, values in latencies.items()}
    if metric == "cost_per_request":
        costs = _request_values(engine, flag, "cost_usd", start, end)
        return "requests", {v: mean_sample(values) for v, values in costs.items()}
    event = metric.partition(":")[2]
    converted = _conversions(engine, event, assignments, end)
    users: dict[str, list[str]] = {}
    for user, assigned in assignments.items():
        users.setdefault(assigned.variant, []).append(user)
    return "users", {
        variant: proportion_sample(sum(1 for u in members if u in converted), len(members))
        for variant, members in users.items()
    }


def _is_better(metric: str, difference: float) -> bool:
    return (difference > 0) == _HIGHER_IS_BETTER[metric.partition(":")[0]]


def _verdict(
    config: Config,
    metric: str,
    control: str,
    rows: list[VariantResult],
    srm: SrmResult | None,
) -> tuple[Verdict, str | None, str]:
    minimum = config.experiments.min_samples
    short = [r.variant for r in rows if r.units < minimum]
    if short:
        return (
            "keep_running",
            None,
            (f"needs {minimum} per variant before a verdict; short: {', '.join(short)}"),
        )
    if srm is not None and srm.is_mismatch:
        return (
            "keep_running",
            None,
            (
                f"sample ratio mismatch (χ² p = {srm.p_value:.2g}): users do not reach the "
                "variants as the flag splits them, so the difference cannot be trusted"
            ),
        )
    treatments = [r for r in rows if not r.is_control]
    better = [r for r in treatments if r.is_significant and _is_better(metric, r.difference or 0)]
    worse = [
        r for r in treatments if r.is_significant and not _is_better(metric, r.difference or 0)
    ]
    if better:
        best = max(better, key=lambda r: abs(r.difference or 0.0))
        return "ship", best.variant, f"{best.variant} beats {control} on {metric}"
    if treatments and len(worse) == len(treatments):
        return "dont_ship", None, f"every variant is worse than {control} on {metric}"
    return "keep_running", None, "no significant difference yet"


def analyse(engine: Engine, config: Config, experiment: Experiment, end: float) -> ExperimentResult:
    """The experiment's analysis of everything from its start to `end`."""
    flag = get_flag(engine, experiment.flag_key)
    weights = _arms(flag)
    notes: list[str] = []
    if weights is None:
        notes.append(f"flag '{flag.key}' has no percentage split: the SRM check is skipped")
    names = list(weights) if weights is not None else [v.name for v in flag.variants]
    control = flag.off_variant if flag.off_variant in names else names[0]
    names = [control, *(n for n in names if n != control)]
    start = experiment.created_at
    assignments = _assignments(engine, flag, start, end)
    unit, samples = _samples(engine, flag, experiment.metric, assignments, start, end)
    users: dict[str, int] = {}
    for assigned in assignments.values():
        users[assigned.variant] = users.get(assigned.variant, 0) + 1
    ignored = sorted(set(samples) - set(names))
    if ignored:
        notes.append(f"left out, not in the split: {', '.join(ignored)}")
    alpha = config.experiments.alpha / max(1, len(names) - 1)
    empty = Sample(0, math.nan, math.nan)
    base = samples.get(control, empty)
    rows: list[VariantResult] = []
    for name in names:
        sample = samples.get(name, empty)
        low, high = always_valid_interval(sample, alpha) if sample.n else (None, None)
        row = VariantResult(
            variant=name, is_control=name == control, units=sample.n, users=users.get(name, 0),
            value=sample.value if sample.n else None, ci_low=low, ci_high=high,
        )  # fmt: skip
        if name != control and sample.n and base.n:
            test = msprt(base, sample, alpha)
            row = replace(row, difference=test.difference, difference_ci_low=test.ci_low,
                          difference_ci_high=test.ci_high, p_value=test.p_value, z=test.z,
                          is_significant=test.is_significant)  # fmt: skip
        rows.append(row)
    srm = srm_check(users, weights, config.experiments.srm_p) if weights is not None else None
    verdict, winner, reason = _verdict(config, experiment.metric, control, rows, srm)
    return ExperimentResult(
        name=experiment.name, flag_key=flag.key, metric=experiment.metric, unit=unit,
        control=control, started_at=start, analysed_until=end, alpha=config.experiments.alpha,
        variants=rows, srm=asdict(srm) if srm is not None else None, verdict=verdict,
        winner=winner, reason=reason, concluded_at=experiment.concluded_at,
        crossovers=sum(1 for a in assignments.values() if len(a.variants) > 1), notes=notes,
    )  # fmt: skip


def _stored_result(engine: Engine, name: str) -> ExperimentResult | None:
    with engine.connect() as conn:
        raw = conn.execute(
            select(experiments.c.result).where(experiments.c.name == name)
        ).scalar_one_or_none()
    return ExperimentResult.from_dict(json.loads(raw)) if raw else None


def experiment_results(engine: Engine, config: Config, name: str, now: float) -> ExperimentResult:
    """The experiment's results now; a concluded experiment's are those it concluded with."""
    experiment = get_experiment(engine, name)
    if experiment.concluded_at is not None:
        stored = _stored_result(engine, name)
        if stored is not None:
            return stored
    return analyse(engine, config, experiment, now)


def conclude(
    engine: Engine,
    config: Config,
    name: str,
    now: float,
    *,
    verdict: str | None = None,
    by: str | None = None,
) -> ExperimentResult:
    """Stop the experiment and store its verdict, the analysis, when and by whom. Without a
    `verdict` the test's own is used, and one that says keep_running is refused."""
    experiment = get_experiment(engine, name)
    if experiment.concluded_at is not None:
        raise ValidationError(f"experiment '{name}' is already concluded", field="name")
    if verdict is not None and verdict not in VERDICTS:
        raise ValidationError(f"must be one of {', '.join(VERDICTS)}", field="verdict")
    result = analyse(engine, config, experiment, now)
    if verdict is None and result.verdict == "keep_running":
        raise ValidationError(
            f"no verdict yet ({result.reason}); pass a verdict to stop it anyway",
            field="verdict",
        )
    final: Verdict = result.verdict if verdict is None else _as_verdict(verdict)
    concluded = replace(result, verdict=final, concluded_at=now, concluded_by=by,
                        winner=result.winner if final == "ship" else None)  # fmt: skip
    with engine.begin() as conn:
        changed = conn.execute(
            update(experiments)
            .where(experiments.c.name == name, experiments.c.concluded_at.is_(None))
            .values(concluded_at=now, verdict=final, result=json.dumps(concluded.to_dict()))
        ).rowcount
    if changed != 1:
        raise ValidationError(f"experiment '{name}' is already concluded", field="name")
    return concluded


def _as_verdict(value: str) -> Verdict:
    for verdict in VERDICTS:
        if verdict == value:
            return verdict
    raise ValidationError(f"must be one of {', '.join(VERDICTS)}", field="verdict")


def concluded_between(
    engine: Engine, config: Config, start: float, end: float
) -> list[ExperimentResult]:
    """Experiments concluded in [start, end), the earliest first; each has `to_dict()`."""
    del config  # the stored analysis is what was concluded; settings may have changed since
    query = (
        select(experiments.c.name, experiments.c.result)
        .where(experiments.c.concluded_at >= start, experiments.c.concluded_at < end)
        .order_by(experiments.c.concluded_at, experiments.c.id)
    )
    with engine.connect() as conn:
        rows: Iterable[Any] = conn.execute(query).all()
        return [ExperimentResult.from_dict(json.loads(row.result)) for row in rows if row.result]
