"""The surfaces people touch: `prodloop feedback …` and /api/v1/feedback."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.feedback.items import load_feedback
from prodloop.store import connect
from tests.api.support import ENVIRON, INGEST_KEY, running_control_plane
from tests.cli.conftest import run_cli
from tests.feedback.helpers import T0, add_feedback, thumbs_down
from tests.feedback.samples import LOGIN_LOOP, PDF_EXPORT
from tests.feedback.tracker_recorder import (
    GITHUB_ISSUES,
    TRACKER_ENV,
    backlog_yaml,
    tracker_server,
)

SCRIPT = "<script>alert('hi')</script> the answer was <b>wrong</b>"


def _feedback_yaml(url: str) -> str:
    return "feedback:\n  clustering: {method: tfidf}" + backlog_yaml(url)


def test_cli_lists_shows_triages_links_closes_and_syncs(tmp_path: Path) -> None:
    with tracker_server() as recorder:
        config_file = tmp_path / "prodloop.yaml"
        config_file.write_text(
            f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n" + _feedback_yaml(recorder.url)
        )
        config = parse_config(config_file.read_text(), environ=TRACKER_ENV)
        engine = connect(config.store.url)
        start = time.time() - 3600  # the CLI groups the comments of the last 90 days
        script = thumbs_down(engine, config, SCRIPT, at=start)
        pdf = [thumbs_down(engine, config, text, at=start + 1 + i) for i, text in
               enumerate(PDF_EXPORT[:5])]  # fmt: skip
        login = [add_feedback(engine, config, comment=text, rating=4.0, rating_kind="stars",
                              at=start + 10 + i)
                 for i, text in enumerate(LOGIN_LOOP[:3])]  # fmt: skip

        def cli(*args: str, **env: str) -> tuple[int, str, str]:
            done = run_cli("feedback", *args, "--config", str(config_file),
                           env={"USER": "ana", **TRACKER_ENV, **env})  # fmt: skip
            return done.returncode, done.stdout, done.stderr

        code, out, _ = cli("list", "--json")
        listed = json.loads(out)
        assert code == 0 and [i["id"] for i in listed] == [*reversed(login), *reversed(pdf),
                                                           script]  # fmt: skip
        assert listed[-1]["comment"] == SCRIPT  # stored and shown as the text that was sent

        code, out, _ = cli("triage", str(script), "--state", "triaged", "--note", "seen it")
        assert code == 0 and out.strip() == f"feedback {script} is triaged"
        code, out, _ = cli("show", str(script))
        assert code == 0 and SCRIPT in out and "new → triaged (ana): seen it" in out
        code, _, err = cli("close", str(script), "--as", "shipped")
        assert code == 2
        assert f"feedback {script} cannot go from triaged to shipped" in err
        code, _, err = cli("show", "99")
        assert code == 2 and "error: ID: no feedback 99" in err

        code, out, err = cli("clusters", "--min-size", "2", "--json")
        assert code == 0, err
        groups = json.loads(out)
        assert sorted(sorted(c["feedback_ids"]) for c in groups) == [pdf, login]

        code, out, err = cli("link", str(pdf[0]), "--create", "github")
        assert code == 0, err
        assert "created GH-41: https://github.com/acme/assistant/issues/41" in out
        (sent,) = recorder.at(GITHUB_ISSUES)
        assert "(5 reports)" in sent.body["title"]
        code, _, err = cli("link", str(pdf[1]), "--create", "github", T_GITHUB_TOKEN="")
        assert code == 2
        assert (
            "feedback.backlog.github.token: environment variable T_GITHUB_TOKEN is not set" in err
        )

        recorder.github_issues[41].update(state="closed", state_reason="completed")
        code, out, err = cli("sync")
        assert code == 0, err
        assert out.strip() == f"GH-41 is closed: feedback {pdf[0]} now shipped"
        assert load_feedback(engine, pdf[0]).state == "shipped"


def test_api_needs_a_token_and_triages(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 60)
    with tracker_server() as recorder, running_control_plane(
        tmp_path, control_yaml=_feedback_yaml(recorder.url), clock=clock,
        environ={**ENVIRON, **TRACKER_ENV},
    ) as plane:  # fmt: skip
        engine, config = plane.engine, plane.config
        script = thumbs_down(engine, config, SCRIPT, at=T0)
        other = add_feedback(engine, config, comment="login loop", category="bug", at=T0 + 1)
        routes = [
            ("GET", "/api/v1/feedback", None),
            ("GET", f"/api/v1/feedback/{script}", None),
            ("GET", "/api/v1/feedback/clusters", None),
            ("POST", f"/api/v1/feedback/{script}/triage", {"state": "triaged", "by": "x"}),
            ("POST", f"/api/v1/feedback/{script}/link", {"backlog": "GH-1", "by": "x"}),
            ("POST", f"/api/v1/feedback/{script}/close", {"as": "wont_fix", "by": "x"}),
        ]
        with plane.client(token=None) as anonymous, plane.client(token=INGEST_KEY) as ingest:
            for method, path, body in routes:
                assert anonymous.request(method, path, json=body).status_code == 401, path
                answer = ingest.request(method, path, json=body)
                assert answer.status_code == 403, path
                assert "write-only" in answer.json()["error"]["message"]
        assert load_feedback(engine, script).state == "new"

        with plane.client() as http:
            listed = http.get("/api/v1/feedback", params={"rating": "down"})
            assert listed.status_code == 200
            assert listed.headers["content-type"] == "application/json"
            (item,) = listed.json()["feedback"]
            assert item["id"] == script and item["comment"] == SCRIPT  # JSON text, as sent

            triaged = http.post(f"/api/v1/feedback/{script}/triage",
                                json={"state": "triaged", "by": "ana", "note": "ok"})  # fmt: skip
            assert triaged.status_code == 200
            assert [h["to_state"] for h in triaged.json()["history"]] == ["new", "triaged"]
            assert triaged.json()["history"][1]["at"] == T0 + 60

            bad = http.post(f"/api/v1/feedback/{script}/close", json={"as": "shipped", "by": "a"})
            assert bad.status_code == 409
            assert bad.json()["error"] == {
                "message": f"feedback {script} cannot go from triaged to shipped "
                "(from triaged: planned, duplicate, wont_fix)",
                "field": "as",
            }
            for path, body, status, field in [
                (f"/api/v1/feedback/{script}/triage", {"state": "done", "by": "a"}, 422, "state"),
                (f"/api/v1/feedback/{script}/triage", {"state": "triaged"}, 422, "by"),
                (f"/api/v1/feedback/{script}/link", {"by": "a"}, 422, "backlog"),
                ("/api/v1/feedback/999/close", {"as": "wont_fix", "by": "a"}, 404, "id"),
            ]:
                answer = http.post(path, json=body)
                assert answer.status_code == status, (path, answer.text)
                assert answer.json()["error"]["field"] == field
            assert http.get("/api/v1/feedback/999").status_code == 404
            assert http.get("/api/v1/feedback", params={"rating": "9"}).status_code == 422

            created = http.post(f"/api/v1/feedback/{script}/link",
                                json={"create": "github", "by": "ana"})  # fmt: skip
            assert created.status_code == 200, created.text
            assert created.json()["created"]["backlog_id"] == "GH-41"
            assert created.json()["state"] == "planned"
            (sent,) = recorder.at(GITHUB_ISSUES)
            assert "&lt;script&gt;" in sent.body["body"] and "<script>" not in sent.body["body"]

            linked = http.post(f"/api/v1/feedback/{other}/link",
                               json={"backlog": "LIN-ENG-3", "by": "ana"})  # fmt: skip
            assert linked.json()["backlog_id"] == "LIN-ENG-3"
            closed = http.post(f"/api/v1/feedback/{other}/close",
                               json={"as": "shipped", "by": "ana", "note": "in v3"})  # fmt: skip
            assert closed.json()["state"] == "shipped"

            groups = http.get("/api/v1/feedback/clusters").json()["clusters"]
            assert sorted(c["count"] for c in groups) == [1, 1]
            assert {c["examples"][0]["comment"] for c in groups} == {SCRIPT, "login loop"}
