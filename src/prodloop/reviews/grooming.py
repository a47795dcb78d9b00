"""Backlog grooming: feedback clusters, post-mortem action items, roadmap and tracker items
ranked by RICE (reach × impact × confidence / effort, Intercom's scales).

Where each figure comes from:

- a feedback cluster: reach = distinct users behind its open feedback of the last 30
  days (anonymous feedback counts one each), impact from the share of it that is
  negative, confidence from the cluster's size;
- a post-mortem action item (``<incidents.postmortem_dir>/*.md``): reach = the requests
  the incident affected, impact from its severity;
- a roadmap item (``grooming.roadmap_file``): the figures people estimated;
- a tracker item (``backlog_items``) with open feedback linked to it: as a cluster.

Feedback and post-mortem items take ``grooming.default_effort`` person-weeks. An item
whose backlog ID appears twice is ranked once (roadmap, then post-mortem, then cluster,
then tracker); one whose tracker issue is closed is left out.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.feedback.items import OPEN_STATES
from prodloop.incidents.postmortem import TO_FILL
from prodloop.store.schema import backlog_items, feedback, feedback_clusters

WINDOW_S = 30 * 86_400.0
IMPACTS = (0.25, 0.5, 1.0, 2.0, 3.0)  # minimal, low, medium, high, massive
SEVERITY_IMPACT = {"SEV1": 3.0, "SEV2": 2.0, "SEV3": 1.0}
POSTMORTEM_CONFIDENCE = 0.8  # the reach is measured; that the action prevents a repeat is not
DONE_STATES = frozenset({"closed", "done", "completed", "canceled", "cancelled"})
ROADMAP_FIELDS = ("title", "reach", "impact", "confidence", "effort", "backlog_id")
_HEADER = re.compile(r"^Incident \S+ · (?P<severity>[^·]+?) · ")
_AFFECTED = re.compile(r"^- Requests affected: (?P<count>\d+)")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True, slots=True)
class RankedItem:
    """One candidate with its RICE figures and where they came from."""

    rank: int
    source: str  # feedback | postmortem | roadmap | tracker
    title: str
    backlog_id: str | None
    reach: float
    reach_unit: str  # users | requests | estimated
    impact: float
    confidence: float
    effort: float
    score: float
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rice(reach: float, impact: float, confidence: float, effort: float) -> float:
    """Reach × impact × confidence / effort."""
    return reach * impact * confidence / effort


def impact_of_negative_share(share: float) -> float:
    """Intercom's impact scale from how unhappy the feedback is."""
    if share >= 0.75:
        return 3.0
    if share >= 0.5:
        return 2.0
    if share >= 0.25:
        return 1.0
    return 0.5 if share > 0 else 0.25


def confidence_of_size(size: int) -> float:
    """High (100 %) from ten reports, medium (80 %) from three, low (50 %) below."""
    if size >= 10:
        return 1.0
    return 0.8 if size >= 3 else 0.5


class RoadmapError(ValidationError):
    """The roadmap file is malformed; the message names the file, the line and the field."""

    def __init__(self, message: str, *, path: str, line: int | None, field: str | None) -> None:
        super().__init__(message, field=field)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line is not None else "")
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True, slots=True)
class _Candidate:
    source: str
    title: str
    backlog_id: str | None
    reach: float
    reach_unit: str
    impact: float
    confidence: float
    effort: float
    evidence: str


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _roadmap_item(data: object, index: int, fail: Callable[[str, str], NoReturn]) -> _Candidate:
    where = f"[{index}]"
    if not isinstance(data, dict):
        fail("must be a mapping with title, reach, impact, confidence and effort", where)
    unknown = sorted(str(k) for k in data if k not in ROADMAP_FIELDS)
    if unknown:
        fail(f"unknown field (use {', '.join(ROADMAP_FIELDS)})", f"{where}.{unknown[0]}")
    for name in ROADMAP_FIELDS[:5]:
        if name not in data:
            fail("is required", f"{where}.{name}")
    title = data["title"]
    if not isinstance(title, str) or not title.strip():
        fail("must be a non-empty text", f"{where}.title")
    reach, impact = _number(data["reach"]), _number(data["impact"])
    confidence, effort = _number(data["confidence"]), _number(data["effort"])
    if reach is None or reach < 0:
        fail("must be a number of users (0 or more)", f"{where}.reach")
    if impact not in IMPACTS:
        fail("must be one of 0.25, 0.5, 1, 2, 3", f"{where}.impact")
    if confidence is None or not 0 <= confidence <= 1:
        fail("must be between 0 and 1", f"{where}.confidence")
    if effort is None or effort <= 0:
        fail("must be a number of person-weeks above 0", f"{where}.effort")
    backlog_id = data.get("backlog_id")
    if backlog_id is not None and (not isinstance(backlog_id, str) or not backlog_id.strip()):
        fail("must be a backlog ID like GH-123", f"{where}.backlog_id")
    return _Candidate("roadmap", title.strip(), backlog_id.strip() if backlog_id else None,
                      reach, "estimated", impact, confidence, effort,
                      "roadmap estimate")  # fmt: skip


def load_roadmap(path: Path) -> list[_Candidate]:
    """The roadmap file's items, validated; none when the file does not exist."""
    if not path.exists():
        return []
    name = str(path)
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        raise RoadmapError(f"not valid YAML: {problem}", path=name, line=line,
                           field=None) from exc  # fmt: skip
    if data is None:
        return []
    lines: dict[str, int] = {}
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"[{i}]"] = item.start_mark.line + 1
            if isinstance(item, yaml.MappingNode):
                for key, _ in item.value:
                    lines[f"[{i}].{key.value}"] = key.start_mark.line + 1

    def fail(message: str, field: str) -> NoReturn:
        line = lines.get(field, lines.get(field.split(".")[0]))
        raise RoadmapError(message, path=name, line=line, field=field)

    if not isinstance(data, list):
        raise RoadmapError("must be a list of items", path=name, line=1, field=None)
    return [_roadmap_item(item, i, fail) for i, item in enumerate(data)]


def _cells(row: str) -> list[str]:
    inner = row.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in _CELL_SPLIT.split(inner)]


def postmortem_actions(folder: Path, effort: float) -> list[_Candidate]:
    """Action items of every post-mortem in `folder`, with the incident's reach."""
    found: list[_Candidate] = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        lines = path.read_text(encoding="utf-8").splitlines()
        severity, affected, in_actions = "", 0, False
        for line in lines:
            if header := _HEADER.match(line):
                severity = header["severity"].strip().upper()
            elif count := _AFFECTED.match(line):
                affected = int(count["count"])
            elif line.startswith("## "):
                in_actions = line.strip() == "## Action items"
            elif in_actions and line.startswith("|"):
                cells = _cells(line)
                description = cells[0] if cells else ""
                if (description in ("", "Action item", "—", TO_FILL)
                        or set(description) <= set("-: ")):  # fmt: skip
                    continue
                backlog_id = cells[2] if len(cells) > 2 and cells[2] not in ("", "—") else None
                found.append(_Candidate(
                    "postmortem", description, backlog_id, float(affected), "requests",
                    SEVERITY_IMPACT.get(severity, 1.0), POSTMORTEM_CONFIDENCE, effort,
                    f"{path.name}: {affected} requests affected ({severity or 'no severity'})",
                ))  # fmt: skip
    return found


def _who(row: Any) -> str:
    return str(row.user_id or row.email or f"#{row.id}")


def _from_feedback(engine: Engine, now: float, effort: float) -> tuple[list[_Candidate], ...]:
    """Candidates from clusters and from tracker items, out of recent open feedback."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(feedback.c.id, feedback.c.user_id, feedback.c.email, feedback.c.is_negative,
                   feedback.c.cluster_id, feedback.c.backlog_id).where(
                feedback.c.created_at >= now - WINDOW_S,
                feedback.c.created_at <= now,
                feedback.c.state.in_(OPEN_STATES),
                feedback.c.duplicate_of.is_(None),
            )
        ).all()  # fmt: skip
        clusters = {int(c.id): c for c in conn.execute(select(feedback_clusters)).all()}
        trackers = {b.backlog_id: b for b in conn.execute(select(backlog_items)).all()}
    by_cluster: dict[int, list[Any]] = {}
    by_backlog: dict[str, list[Any]] = {}
    for row in rows:
        if row.cluster_id is not None and int(row.cluster_id) in clusters:
            by_cluster.setdefault(int(row.cluster_id), []).append(row)
        if row.backlog_id:
            by_backlog.setdefault(str(row.backlog_id), []).append(row)
    from_clusters = []
    for cluster_id, members in sorted(by_cluster.items()):
        cluster = clusters[cluster_id]
        links = Counter(str(m.backlog_id) for m in members if m.backlog_id)
        from_clusters.append(_feedback_candidate(
            "feedback", str(cluster.label), links.most_common(1)[0][0] if links else None,
            members, int(cluster.size), effort, f"cluster {cluster_id}",
        ))  # fmt: skip
    from_trackers = [
        _feedback_candidate("tracker", str(trackers[key].title or key), key, members,
                            len(members), effort, f"{trackers[key].tracker} issue")
        for key, members in sorted(by_backlog.items())
        if key in trackers
    ]  # fmt: skip
    return from_clusters, from_trackers


def _feedback_candidate(
    source: str,
    title: str,
    backlog_id: str | None,
    members: list[Any],
    size: int,
    effort: float,
    what: str,
) -> _Candidate:
    users = len({_who(m) for m in members})
    negative = sum(1 for m in members if m.is_negative) / len(members)
    return _Candidate(
        source, title, backlog_id, float(users), "users", impact_of_negative_share(negative),
        confidence_of_size(size), effort,
        f"{what}: {len(members)} reports from {users} users in 30 days, "
        f"{negative * 100:.0f}% negative",
    )  # fmt: skip


def _done_backlog_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {
            str(backlog_id)
            for backlog_id, state in conn.execute(
                select(backlog_items.c.backlog_id, backlog_items.c.state)
            )
            if str(state).lower() in DONE_STATES
        }


def groom(engine: Engine, config: Config, now: float) -> list[RankedItem]:
    """The ranked backlog, best first (ties: larger reach, then title); each item has
    `to_dict()`. RoadmapError when the roadmap file is malformed."""
    effort = config.grooming.default_effort
    roadmap = load_roadmap(Path(config.grooming.roadmap_file))
    actions = postmortem_actions(Path(config.incidents.postmortem_dir), effort)
    clusters, trackers = _from_feedback(engine, now, effort)
    done = _done_backlog_ids(engine)
    seen: set[str] = set()
    kept: list[_Candidate] = []
    for candidate in [*roadmap, *actions, *clusters, *trackers]:
        if candidate.backlog_id is not None:
            if candidate.backlog_id in done or candidate.backlog_id in seen:
                continue
            seen.add(candidate.backlog_id)
        kept.append(candidate)
    scored = sorted(
        ((rice(c.reach, c.impact, c.confidence, c.effort), c) for c in kept),
        key=lambda pair: (-pair[0], -pair[1].reach, pair[1].title),
    )
    return [
        RankedItem(rank=i, source=c.source, title=c.title, backlog_id=c.backlog_id,
                   reach=c.reach, reach_unit=c.reach_unit, impact=c.impact,
                   confidence=c.confidence, effort=c.effort, score=score, evidence=c.evidence)
        for i, (score, c) in enumerate(scored, start=1)
    ]  # fmt: skip
