"""What people touch: `prodloop analytics …` and /api/v1/analytics/…"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from unittest.mock import patch

import pytest
from PIL import Image

from prodloop.cli.main import main
from prodloop.clock import ManualClock
from prodloop.config import parse_config
from prodloop.store import connect
from tests.analytics.support import (
    SINCE_ISO,
    UNTIL_ISO,
    D,
    T,
    event,
    funnel_log,
    funnel_requests,
    insert_events,
    insert_requests,
)
from tests.api.support import INGEST_KEY, running_control_plane
from tests.cli.conftest import run_cli

RANGE = ("--since", SINCE_ISO, "--until", UNTIL_ISO)


def _clicks() -> list[dict[str, object]]:
    rows = [event("$click", f"u{i}", T + i * 60, path="/chat", x=0.5, y=0.5) for i in range(20)]
    # one rage click: 5 clicks in 0.8 s on a button
    rows += [
        event("$click", "angry", T + 3600 + i * 0.2, path="/chat", x=0.9, y=0.1, session_id="s1")
        for i in range(5)
    ]
    return rows


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "prodloop.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'p.db'}\n")
    engine = connect(parse_config(path.read_text(), environ={}).store.url)
    insert_events(engine, funnel_log() + _clicks())
    insert_requests(engine, funnel_requests())
    engine.dispose()
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`prodloop ARGS` through the console script's entry point, in this process: the
    same parsing and error mapping as run_cli without paying the interpreter start-up."""
    capsys.readouterr()
    code = 0
    with patch.object(sys, "argv", ["prodloop", *args]):
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_funnel_table(config_file: Path) -> None:
    done = run_cli("analytics", "funnel", "--steps", "signup,first_question,thumbs_up",
                   *RANGE, "--config", str(config_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("funnel (sequential, window 14d), first steps 2026-01-05 00:00")
    assert lines[1].split() == ["step", "users", "from", "first", "from", "previous", "median",
                                "time", "drop-off"]  # fmt: skip
    assert lines[3].split() == ["1.", "signup", "8", "100.0%", "100.0%", "-", "0"]
    assert lines[4].split() == ["2.", "first_question", "6", "75.0%", "75.0%", "1.0h", "2"]
    assert lines[5].split() == ["3.", "thumbs_up", "4", "50.0%", "66.7%", "2.5h", "2"]


def test_cli_funnel_json_with_a_breakdown(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "analytics", "funnel", "--steps",
                          "signup,first_question,thumbs_up", "--order", "strict", "--breakdown",
                          "version", "--json", *RANGE, "--config", str(config_file))  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert [s["count"] for s in result["steps"]] == [8, 5, 2] and result["order"] == "strict"
    groups = {g["value"]: [s["count"] for s in g["steps"]] for g in result["groups"]}
    assert groups == {"(none)": [4, 2, 1], "v1": [2, 2, 0], "v2": [1, 1, 1], "v3": [1, 0, 0]}
    flag = ("--breakdown", "flag:new-prompt")
    code, out, _ = _cli(capsys, "analytics", "funnel", "--steps", "signup,first_question",
                        *flag, *RANGE, "--config", str(config_file))  # fmt: skip
    assert code == 0 and "by flag:new-prompt:" in out
    assert out.splitlines()[-1].split() == ["off", "2.", "first_question", "1", "100.0%",
                                            "100.0%", "2.0h", "0"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--steps", "signup"), "--steps"),
        (("--steps", "a,b", "--order", "random"), "--order"),
        (("--steps", "a,b", "--window", "two weeks"), "--window"),
        (("--steps", "a,b", "--window", "0d"), "--window"),
        (("--steps", "a,b", "--breakdown", "country"), "--breakdown"),
        (("--steps", "a,a", "--order", "any"), "--steps"),
        (("--steps", "a,b", "--since", "yesterday"), "--since"),
        (("--steps", "a,b", "--since", "1d", "--until", "2d"), "--until"),
    ],
)
def test_cli_funnel_bad_input_exits_2_naming_the_option(
    config_file: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], option: str
) -> None:
    code, out, err = _cli(capsys, "analytics", "funnel", *args, "--config", str(config_file))
    assert code == 2 and out == ""
    assert f"error: {option}:" in err


def test_cli_one_bad_option_in_a_real_process(config_file: Path) -> None:
    done = run_cli("analytics", "funnel", "--steps", "a,b", "--order", "random",
                   "--config", str(config_file))  # fmt: skip
    assert done.returncode == 2 and "error: --order: unknown order 'random'" in done.stderr


def test_cli_retention_and_events(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ("--config", str(config_file))
    code, out, err = _cli(capsys, "analytics", "retention", "--start-event", "signup",
                          "--return-event", "thumbs_up", "--json", "--since", SINCE_ISO,
                          "--until", "2026-01-19T00:00:00Z", *config)  # fmt: skip
    assert code == 0, err
    cohorts = json.loads(out)["cohorts"]
    # first signups in the week of T: full two one gap late retry reverse dup (before's
    # first signup is the week before); nobody gives a thumbs up the week after
    assert [c["retained"] for c in cohorts] == [[8, 0], [0, None]]
    code, out, _ = _cli(capsys, "analytics", "retention", "--since", SINCE_ISO, "--until",
                        "2026-01-19T00:00:00Z", *config)  # fmt: skip
    assert code == 0
    assert out.splitlines()[1].split() == ["cohort", "(week", "of)", "users", "week", "0",
                                           "week", "1"]  # fmt: skip
    code, _, err = _cli(capsys, "analytics", "retention", "--mode", "weekly", *config)
    assert code == 2 and "error: --mode:" in err

    code, out, _ = _cli(capsys, "analytics", "events", "--json", "--since", SINCE_ISO,
                        "--until", UNTIL_ISO, *config)  # fmt: skip
    counts = {e["event"]: (e["count"], e["users"]) for e in json.loads(out)}
    assert counts["$click"] == (25, 21) and counts["signup"] == (9, 8)
    # before's first signup is outside the range, its question inside
    assert counts["$pageview"] == (2, 2) and counts["first_question"] == (9, 8)
    code, out, _ = _cli(capsys, "analytics", "events", "--since", SINCE_ISO, "--until",
                        UNTIL_ISO, *config)  # fmt: skip
    assert out.splitlines()[2].split()[:3] == ["$click", "25", "21"]


def test_cli_heatmap(config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ("--config", str(config_file))
    done = run_cli("analytics", "heatmap", "--page", "/chat", "--width", "400", "--height",
                   "300", "--since", SINCE_ISO, "--until", UNTIL_ISO, *config,
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "25 clicks on /chat, 1 rage clicks" in done.stdout
    assert done.stdout.splitlines()[-1].split() == ["0.900", "0.100", "1", "1", "5"]
    assert Image.open(tmp_path / "heatmap-chat.png").size == (400, 300)
    output = tmp_path / "out" / "chat.png"
    output.parent.mkdir()
    code, out, _ = _cli(capsys, "analytics", "heatmap", "--page", "/chat", "--output",
                        str(output), "--json", "--since", SINCE_ISO, *config)  # fmt: skip
    assert code == 0 and json.loads(out)["clicks"] == 25
    assert Image.open(output).size == (1280, 800)
    code, _, err = _cli(capsys, "analytics", "heatmap", "--page", "/chat", "--width", "10",
                        *config)  # fmt: skip
    assert code == 2 and "'--width'" in err


def test_api_needs_a_token_and_answers_the_same_numbers(tmp_path: Path) -> None:
    with running_control_plane(tmp_path, clock=ManualClock(T + 30 * D)) as plane:
        insert_events(plane.engine, funnel_log() + _clicks())
        insert_requests(plane.engine, funnel_requests())
        params = {"steps": "signup,first_question,thumbs_up", "since": "30d"}
        with plane.client(token=None) as anonymous:
            assert anonymous.get("/api/v1/analytics/funnel", params=params).status_code == 401
        with plane.client(token=INGEST_KEY) as ingest:
            for path in ("funnel", "retention", "heatmap.png", "events"):
                response = ingest.get(f"/api/v1/analytics/{path}", params={**params, "page": "/"})
                assert response.status_code == 403, path
        with plane.client() as http:
            response = http.get("/api/v1/analytics/funnel", params=params)
            assert response.status_code == 200, response.text
            assert [s["count"] for s in response.json()["steps"]] == [8, 6, 4]
            anyway = {**params, "order": "any", "breakdown": "flag:new-prompt"}
            response = http.get("/api/v1/analytics/funnel", params=anyway)
            body = response.json()
            assert [s["count"] for s in body["steps"]] == [9, 8, 5]
            assert body["breakdown"] == "flag:new-prompt"
            bad_params = [
                ({"order": "random"}, "order"),
                ({"window": "x"}, "window"),
                ({"steps": "signup"}, "steps"),
                ({"breakdown": "x:"}, "breakdown"),
            ]
            for bad, field in bad_params:
                response = http.get("/api/v1/analytics/funnel", params={**params, **bad})
                assert response.status_code == 422, bad
                assert response.json()["error"]["field"] == field

            response = http.get("/api/v1/analytics/retention", params={"since": "30d"})
            assert response.status_code == 200 and response.json()["mode"] == "first-time"
            assert response.json()["cohorts"][0]["week_start"] == T

            response = http.get("/api/v1/analytics/heatmap.png",
                                params={"page": "/chat", "since": "30d", "width": 320,
                                        "height": 240})  # fmt: skip
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/png"
            assert response.headers["x-prodloop-clicks"] == "25"
            assert Image.open(io.BytesIO(response.content)).size == (320, 240)
            response = http.get("/api/v1/analytics/heatmap", params={"page": "/chat",
                                                                     "since": "30d"})  # fmt: skip
            assert response.json()["rage_clicks"] == 1
            assert response.json()["rage_spots"][0]["clicks"] == 5
            response = http.get("/api/v1/analytics/heatmap.png", params={"page": "/chat",
                                                                         "width": 9})  # fmt: skip
            assert response.status_code == 422

            response = http.get("/api/v1/analytics/events", params={"since": "30d"})
            assert {e["event"]: e["count"] for e in response.json()["events"]}["$click"] == 25
