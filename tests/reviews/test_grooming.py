"""Backlog grooming: RICE over feedback clusters, post-mortem actions, roadmap and tracker."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from prodloop.config import Config, parse_config
from prodloop.incidents.lifecycle import Incident
from prodloop.incidents.postmortem import (
    ActionItem,
    Figures,
    PostmortemData,
    render_postmortem,
)
from prodloop.reviews.grooming import RoadmapError, groom, load_roadmap, rice
from prodloop.store import connect
from prodloop.store.schema import backlog_items, feedback, feedback_clusters
from tests.cli.conftest import run_cli

DAY = 86400.0

ROADMAP = """\
- title: SSO for teams
  reach: 500
  impact: 2
  confidence: 0.8
  effort: 4
- title: Usage dashboard
  reach: 3000
  impact: 1
  confidence: 0.5
  effort: 2
  backlog_id: LIN-ENG-3
- title: Export to Notion
  reach: 900
  impact: 3
  confidence: 1
  effort: 1
  backlog_id: GH-9
"""


def _postmortem(config: Config, folder: Path, now: float) -> None:
    """A post-mortem as `prodloop postmortem draft` writes it, with three action items."""
    incident = Incident(
        id=4, service="chat", title="PDF worker stuck", severity="SEV2", status="resolved",
        impact="degraded", assignee="ana", is_drill=False, runbook=None,
        detected_at=now - 5 * DAY, acknowledged_at=now - 5 * DAY + 60,
        mitigation_started_at=None, mitigated_at=now - 5 * DAY + 900, first_update_at=None,
        reminded_at=None, deadline_acted_at=None, resolved_at=now - 5 * DAY + 1800,
        created_at=now - 5 * DAY, updated_at=now - 5 * DAY,
    )  # fmt: skip
    figures = Figures(
        impact_started_at=now - 5 * DAY, ended_at=now - 5 * DAY + 1800, duration_s=1800.0,
        requests=50_000, requests_affected=1200, budget_consumed={}, time_to_detect_s=0.0,
        time_to_acknowledge_s=60.0, time_to_mitigate_s=900.0, time_to_resolve_s=1800.0,
        time_to_first_update_s=None,
    )  # fmt: skip
    actions = [
        ActionItem("Add a timeout to the PDF worker", "ana", "GH-11"),
        ActionItem("Alert on queue depth | backlog", "bo", ""),
        ActionItem("Retire the old exporter", "cy", "GH-9"),  # closed in the tracker
    ]
    data = PostmortemData(incident, [], [], [], figures, actions)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-11-22-pdf-worker-stuck.md").write_text(render_postmortem(data, config))
    # A draft nobody filled in yet has no action items to rank.
    empty = PostmortemData(incident, [], [], [], figures, [])
    (folder / "2026-11-01-draft.md").write_text(render_postmortem(empty, config))


def _feedback(engine: Engine, now: float) -> None:
    rows: list[dict[str, Any]] = []

    def add(
        cluster: int | None,
        user: str | None,
        negative: bool,
        *,
        days_ago: float = 1.0,
        state: str = "new",
        backlog: str | None = None,
        comment: str = "",
    ) -> None:
        rows.append({"created_at": now - days_ago * DAY, "updated_at": now, "source": "widget",
                     "rating": 0.0 if negative else 1.0, "rating_kind": "thumbs",
                     "is_negative": negative, "user_id": user, "cluster_id": cluster,
                     "state": state, "backlog_id": backlog,
                     "comment": comment or ("x" if cluster else "")})  # fmt: skip

    # Cluster 1: 12 recent reports from 8 users, 9 negative (75 %); older and shipped ones
    # are in the cluster but not in its reach.
    for i in range(12):
        add(1, f"u{i % 8}", i < 9)
    for i in range(3):
        add(1, f"old{i}", True, days_ago=40)
    add(1, "done", True, state="shipped")
    # Cluster 2: 4 reports, two of them anonymous, 1 negative; linked to GH-7.
    for user, negative in (("v1", True), ("v2", False), (None, False), (None, False)):
        add(2, user, negative, backlog="GH-7")
    # Tracker items with feedback linked: LIN-ENG-3 (on the roadmap too), GH-9 (closed).
    add(None, "w1", False, backlog="LIN-ENG-3")
    add(None, "w2", False, backlog="LIN-ENG-3")
    add(None, "w3", True, backlog="GH-9")
    with engine.begin() as conn:
        conn.execute(insert(feedback_clusters), [
            {"id": 1, "label": "PDF export times out", "method": "tfidf", "size": 16,
             "updated_at": now},
            {"id": 2, "label": "Login loops back to the sign-in page", "method": "tfidf",
             "size": 4, "updated_at": now},
        ])  # fmt: skip
        conn.execute(insert(feedback), rows)
        conn.execute(insert(backlog_items), [
            {"backlog_id": key, "tracker": tracker, "title": title, "state": state,
             "created_at": now - 20 * DAY}
            for key, tracker, title, state in (
                ("GH-7", "github", "Login loop on Safari", "open"),
                ("LIN-ENG-3", "linear", "Usage dashboard", "Todo"),
                ("GH-9", "github", "Export to Notion", "closed"),
            )
        ])  # fmt: skip


def _project(tmp_path: Path, roadmap: str = ROADMAP) -> tuple[Path, Config, Engine]:
    (tmp_path / "roadmap.yaml").write_text(roadmap)
    config_file = tmp_path / "prodloop.yaml"
    config_file.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n"
        f"grooming:\n  roadmap_file: {tmp_path / 'roadmap.yaml'}\n"
        f"incidents:\n  postmortem_dir: {tmp_path / 'postmortems'}\n"
    )
    config = parse_config(config_file.read_text())
    return config_file, config, connect(config.store.url)


EXPECTED = [
    # (title, source, backlog, reach, impact, confidence, effort, RICE)
    ("Add a timeout to the PDF worker", "postmortem", "GH-11", 1200, 2, 0.8, 1, 1920.0),
    ("Alert on queue depth | backlog", "postmortem", None, 1200, 2, 0.8, 1, 1920.0),
    ("Usage dashboard", "roadmap", "LIN-ENG-3", 3000, 1, 0.5, 2, 750.0),
    ("SSO for teams", "roadmap", None, 500, 2, 0.8, 4, 200.0),
    ("PDF export times out", "feedback", None, 8, 3, 1.0, 1, 24.0),
    ("Login loops back to the sign-in page", "feedback", "GH-7", 4, 1, 0.8, 1, 3.2),
]


def test_groom_ranks_every_source_by_rice_with_reach_from_the_data(tmp_path: Path) -> None:
    now = time.time()
    _, config, engine = _project(tmp_path)
    _postmortem(config, Path(config.incidents.postmortem_dir), now)
    _feedback(engine, now)
    ranked = groom(engine, config, now)
    assert [
        (i.title, i.source, i.backlog_id, i.reach, i.impact, i.confidence, i.effort, i.score)
        for i in ranked
    ] == EXPECTED
    assert [i.rank for i in ranked] == [1, 2, 3, 4, 5, 6]
    assert ranked[0].reach_unit == "requests" and ranked[4].reach_unit == "users"
    assert ranked[0].evidence == "2026-11-22-pdf-worker-stuck.md: 1200 requests affected (SEV2)"
    assert ranked[4].evidence == "cluster 1: 12 reports from 8 users in 30 days, 75% negative"
    assert ranked[5].to_dict()["score"] == pytest.approx(3.2)


def test_backlog_groom_through_the_cli(tmp_path: Path) -> None:
    now = time.time()
    config_file, config, engine = _project(tmp_path)
    _postmortem(config, Path(config.incidents.postmortem_dir), now)
    _feedback(engine, now)
    done = run_cli("backlog", "groom", "--json", "--top", "4", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(i["rank"], i["title"], i["score"]) for i in listed] == [
        (rank, row[0], row[-1]) for rank, row in enumerate(EXPECTED[:4], start=1)
    ]
    done = run_cli("backlog", "groom", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["#", "item", "source", "backlog", "reach", "impact", "conf.",
                                "effort", "RICE"]  # fmt: skip
    assert lines[2].split() == ["1", "Add", "a", "timeout", "to", "the", "PDF", "worker",
                                "postmortem", "GH-11", "1200", "requests", "2", "80%", "1",
                                "1920.0"]  # fmt: skip
    assert len(lines) == 2 + len(EXPECTED)

    (tmp_path / "roadmap.yaml").write_text(ROADMAP.replace("impact: 1\n", "impact: 1.5\n"))
    done = run_cli("backlog", "groom", "--config", str(config_file))
    assert done.returncode == 2
    where = f"{tmp_path / 'roadmap.yaml'}:8"
    assert f"error: {where}: [1].impact: must be one of 0.25, 0.5, 1, 2, 3" in done.stderr


def test_a_generated_roadmap_ranks_exactly_by_rice(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    items = [
        {"title": f"item {i:02d}", "reach": int(rng.integers(0, 5000)),
         "impact": float(rng.choice([0.25, 0.5, 1, 2, 3])),
         "confidence": float(rng.choice([0.5, 0.8, 1.0])), "effort": float(rng.integers(1, 9))}
        for i in range(40)
    ]  # fmt: skip
    _, config, engine = _project(tmp_path, json.dumps(items))
    ranked = groom(engine, config, time.time())
    scores = {
        item["title"]: rice(item["reach"], item["impact"], item["confidence"], item["effort"])
        for item in items
    }
    expected = sorted(scores, key=lambda t: (-scores[t], -next(
        i["reach"] for i in items if i["title"] == t), t))  # fmt: skip
    assert [i.title for i in ranked] == expected
    assert [i.score for i in ranked] == [scores[t] for t in expected]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- title: A\n  reach: 10\n  impact: 2\n  confidence: 0.5\n",
         "roadmap.yaml:1: [0].effort: is required"),
        ("- title: A\n  reach: -1\n  impact: 2\n  confidence: 0.5\n  effort: 1\n",
         "roadmap.yaml:2: [0].reach: must be a number of users (0 or more)"),
        ("- title: A\n  reach: 1\n  impact: 2\n  confidence: 80\n  effort: 1\n",
         "roadmap.yaml:4: [0].confidence: must be between 0 and 1"),
        ("- title: A\n  reach: 1\n  impact: 2\n  confidence: 0.8\n  effort: 0\n",
         "roadmap.yaml:5: [0].effort: must be a number of person-weeks above 0"),
        ("- title: A\n  reach: 1\n  impact: 2\n  confidence: 0.8\n  effort: 1\n  owner: me\n",
         "roadmap.yaml:6: [0].owner: unknown field"),
        ("title: A\n", "roadmap.yaml:1: must be a list of items"),
        ("- [unclosed\n", "roadmap.yaml:2: not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_roadmap_names_the_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "roadmap.yaml"
    path.write_text(text)
    with pytest.raises(RoadmapError) as refused:
        load_roadmap(path)
    assert str(refused.value).startswith(f"{tmp_path}/{message}")
