"""GitHub and Linear issue creation and sync against a local recorder of their APIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from prodloop.config import Config
from prodloop.errors import ValidationError
from prodloop.feedback.backlog import TrackerError
from prodloop.feedback.backlog.links import (
    create_backlog_issue,
    get_backlog_item,
    link_backlog,
    sync_backlog,
)
from prodloop.feedback.clusters import recluster
from prodloop.feedback.items import load_feedback
from prodloop.feedback.triage import triage_feedback
from prodloop.store import connect
from tests.feedback.helpers import T0, board_config, thumbs_down
from tests.feedback.samples import PDF_EXPORT
from tests.feedback.tracker_recorder import (
    GITHUB_ISSUES,
    GITHUB_TOKEN,
    LINEAR_PATH,
    REPO,
    TEAM_ID,
    TRACKER_ENV,
    Reply,
    TrackerRecorder,
    backlog_yaml,
    tracker_server,
)

SCRIPT = '<script>alert("x")</script> the PDF export fails & nothing happens'


@pytest.fixture
def recorder() -> Iterator[TrackerRecorder]:
    with tracker_server() as server:
        yield server


class Clock:
    """A manual clock whose sleep moves it forward and remembers each wait."""

    def __init__(self, now: float) -> None:
        self.t = now
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


def _setup(tmp_path: Path, url: str, **environ: str) -> tuple[Config, Engine]:
    config = board_config(f"sqlite:///{tmp_path / 'p.db'}", "feedback:" + backlog_yaml(url)
                          .replace("\n  backlog", "\n  clustering: {method: tfidf}"
                                   "\n  backlog", 1), **environ)  # fmt: skip
    return config, connect(config.store.url)


def test_github_issue_is_created_with_the_documented_payload(
    tmp_path: Path, recorder: TrackerRecorder
) -> None:
    config, engine = _setup(tmp_path, recorder.url, **TRACKER_ENV)
    ids = [thumbs_down(engine, config, text, at=T0 + i) for i, text in enumerate(PDF_EXPORT[:4])]
    first = thumbs_down(engine, config, SCRIPT, at=T0 + 10)
    recluster(engine, config, T0 + 60)
    clock = Clock(T0 + 100)
    with httpx.Client() as http:
        item, created = create_backlog_issue(engine, config, first, "github", by="ana",
                                             now=clock.now(), http=http, sleep=clock.sleep,
                                             clock=clock.now)  # fmt: skip
    assert recorder.problems() == []
    (sent,) = recorder.at(GITHUB_ISSUES)
    assert sent.method == "POST" and sent.status == 201
    assert sent.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.body["labels"] == ["feedback", "bug"]
    assert (
        sent.body["title"].startswith("[feedback] <script>") and "(5 reports)" in sent.body["title"]
    )
    body = sent.body["body"]
    assert "Reported 5 times" in body and "- Negative: 5 of 5" in body
    # The comment's markup is escaped in the issue, shown as text, never run.
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in body and "<script>" not in body
    assert "&amp; nothing happens" in body
    assert all(f"feedback #{i}" in body for i in ids[-3:])

    assert (created.backlog_id, created.url) == ("GH-41", f"https://github.com/{REPO}/issues/41")
    assert (item.state, item.backlog_id) == ("planned", "GH-41")
    with engine.connect() as conn:
        stored = get_backlog_item(conn, "GH-41")
    assert stored is not None
    assert (stored.tracker, stored.external_id, stored.url) == ("github", "41", created.url)
    assert clock.waits == []


def test_github_rate_limit_is_waited_out_then_retried(
    tmp_path: Path, recorder: TrackerRecorder
) -> None:
    config, engine = _setup(tmp_path, recorder.url, **TRACKER_ENV)
    fid = thumbs_down(engine, config, "pdf export fails")
    clock = Clock(T0)
    recorder.queue(
        GITHUB_ISSUES,
        Reply(403, {"message": "API rate limit exceeded"},
              {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0 + 20))}),
        Reply(429, {"message": "You have exceeded a secondary rate limit"}, {"retry-after": "3"}),
    )  # fmt: skip
    with httpx.Client() as http:
        item, created = create_backlog_issue(engine, config, fid, "github", by="ana",
                                             now=clock.now(), http=http, sleep=clock.sleep,
                                             clock=clock.now)  # fmt: skip
    assert [r.status for r in recorder.at(GITHUB_ISSUES)] == [403, 429, 201]
    assert clock.waits == [21.0, 3.0]  # until the reset (plus a second), then Retry-After
    assert item.backlog_id == created.backlog_id == "GH-41"

    # A limit that stays exhausted is given up on after three attempts, with nothing linked.
    other = thumbs_down(engine, config, "login loop")
    limited = Reply(429, {"message": "secondary rate limit"}, {"retry-after": "1"})
    recorder.queue(GITHUB_ISSUES, limited, limited, limited)
    with httpx.Client() as http, pytest.raises(TrackerError, match="after 3 attempts"):
        create_backlog_issue(engine, config, other, "github", by="ana", now=clock.now(),
                             http=http, sleep=clock.sleep, clock=clock.now)  # fmt: skip
    # A reset an hour away is not slept through: the error says when to try again.
    reset = str(int(clock.t + 3600))
    recorder.queue(GITHUB_ISSUES, Reply(403, {"message": "API rate limit exceeded"},
                   {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}))  # fmt: skip
    with httpx.Client() as http, pytest.raises(TrackerError, match="exhausted for 3601s"):
        create_backlog_issue(engine, config, other, "github", by="ana", now=clock.now(),
                             http=http, sleep=clock.sleep, clock=clock.now)  # fmt: skip
    assert load_feedback(engine, other).state == "new"


def test_github_refusals_and_missing_token(tmp_path: Path, recorder: TrackerRecorder) -> None:
    config, engine = _setup(tmp_path, recorder.url, T_GITHUB_TOKEN="wrong", T_LINEAR_KEY="x")
    fid = thumbs_down(engine, config, "pdf export fails")
    clock = Clock(T0)
    with httpx.Client() as http, pytest.raises(TrackerError, match=r"\(401\): the token is not"):
        create_backlog_issue(engine, config, fid, "github", by="ana", now=T0, http=http,
                             sleep=clock.sleep, clock=clock.now)  # fmt: skip
    config, engine = _setup(tmp_path, recorder.url)
    with httpx.Client() as http, pytest.raises(ValidationError) as missing:
        create_backlog_issue(engine, config, fid, "linear", by="ana", now=T0, http=http,
                             sleep=clock.sleep, clock=clock.now)  # fmt: skip
    assert str(missing.value) == (
        "feedback.backlog.linear.token: environment variable T_LINEAR_KEY is not set"
    )
    unconfigured = board_config(f"sqlite:///{tmp_path / 'p.db'}")
    with httpx.Client() as http, pytest.raises(ValidationError, match="GitHub is not configured"):
        create_backlog_issue(engine, unconfigured, fid, "github", by="ana", now=T0, http=http,
                             sleep=clock.sleep, clock=clock.now)  # fmt: skip
    assert load_feedback(engine, fid).state == "new"
    assert len(recorder.received) == 1


def test_linear_issue_create_with_rate_limit_then_success(
    tmp_path: Path, recorder: TrackerRecorder
) -> None:
    config, engine = _setup(tmp_path, recorder.url, **TRACKER_ENV)
    fid = thumbs_down(engine, config, "Login keeps redirecting me back to the login page")
    clock = Clock(T0)
    reset_ms = int((T0 + 4) * 1000)
    recorder.queue(LINEAR_PATH, Reply(
        400,
        {"errors": [{"message": "Rate limit exceeded",
                     "extensions": {"code": "RATELIMITED"}}]},
        {"x-ratelimit-requests-remaining": "0", "x-ratelimit-requests-reset": str(reset_ms)},
    ))  # fmt: skip
    with httpx.Client() as http:
        item, created = create_backlog_issue(engine, config, fid, "linear", by="ana",
                                             now=clock.now(), http=http, sleep=clock.sleep,
                                             clock=clock.now)  # fmt: skip
    assert recorder.problems() == []
    limited, sent = recorder.at(LINEAR_PATH)
    assert (limited.status, sent.status) == (400, 200)
    assert clock.waits == [5.0]
    assert sent.headers["authorization"] == TRACKER_ENV["T_LINEAR_KEY"]  # no Bearer for a key
    assert "issueCreate(input: $input)" in sent.body["query"]
    data = sent.body["variables"]["input"]
    assert data["teamId"] == TEAM_ID and data["title"].startswith("[feedback] Login keeps")
    assert "> Login keeps redirecting me back to the login page" in data["description"]
    assert created.backlog_id == "LIN-ENG-7" and created.url.endswith("/issue/ENG-7")
    assert (item.state, item.backlog_id) == ("planned", "LIN-ENG-7")


def test_sync_closes_shipped_feedback(tmp_path: Path, recorder: TrackerRecorder) -> None:
    config, engine = _setup(tmp_path, recorder.url, **TRACKER_ENV)
    clock = Clock(T0)
    on_github = [thumbs_down(engine, config, "pdf export fails", at=T0 + i) for i in range(2)]
    on_linear = thumbs_down(engine, config, "login loop", at=T0 + 3)
    typed_in = thumbs_down(engine, config, "dark mode please", at=T0 + 4)
    wont = thumbs_down(engine, config, "make it purple", at=T0 + 5)
    with httpx.Client() as http:
        create_backlog_issue(engine, config, on_github[0], "github", by="ana", now=T0,
                             http=http, sleep=clock.sleep, clock=clock.now)  # fmt: skip
        _, linear = create_backlog_issue(engine, config, on_linear, "linear", by="ana", now=T0,
                                         http=http, sleep=clock.sleep, clock=clock.now)  # fmt: skip
        create_backlog_issue(engine, config, wont, "github", by="ana", now=T0, http=http,
                             sleep=clock.sleep, clock=clock.now)  # fmt: skip
    triage_feedback(engine, on_github[1], "triaged", by="ana", now=T0)
    link_backlog(engine, on_github[1], "GH-41", by="ana", now=T0)
    link_backlog(engine, typed_in, "ROADMAP-7", by="ana", now=T0)  # no tracker to ask

    with httpx.Client() as http:
        assert [o.closed_as for o in sync_backlog(engine, config, T0 + 60, http=http,
                sleep=clock.sleep, clock=clock.now)] == [None, None, None]  # fmt: skip
    recorder.github_issues[41].update(state="closed", state_reason="completed")
    recorder.github_issues[42].update(state="closed", state_reason="not_planned")
    next(iter(recorder.linear_issues.values()))["state"] = {"name": "Done", "type": "completed"}
    with httpx.Client() as http:
        outcomes = sync_backlog(engine, config, T0 + 120, http=http, sleep=clock.sleep,
                                clock=clock.now)  # fmt: skip
    assert recorder.problems() == []
    assert [o.to_dict() for o in outcomes] == [
        {"backlog_id": "GH-41", "state": "closed", "closed_as": "shipped",
         "feedback_ids": on_github, "error": None},
        {"backlog_id": "GH-42", "state": "closed", "closed_as": "wont_fix",
         "feedback_ids": [wont], "error": None},
        {"backlog_id": linear.backlog_id, "state": "Done", "closed_as": "shipped",
         "feedback_ids": [on_linear], "error": None},
    ]  # fmt: skip
    assert [load_feedback(engine, i).state for i in (*on_github, on_linear, wont, typed_in)] == [
        "shipped", "shipped", "shipped", "wont_fix", "planned"
    ]  # fmt: skip
    with engine.connect() as conn:
        stored = get_backlog_item(conn, "GH-41")
    assert stored is not None and (stored.state, stored.synced_at) == ("closed", T0 + 120)
    gets = [r for r in recorder.received if r.method == "GET"]
    assert {r.path for r in gets} == {f"{GITHUB_ISSUES}/41", f"{GITHUB_ISSUES}/42"}
    # Nothing waits any more: the next sync asks nobody.
    count = len(recorder.received)
    with httpx.Client() as http:
        assert sync_backlog(engine, config, T0 + 180, http=http, sleep=clock.sleep,
                            clock=clock.now) == []  # fmt: skip
    assert len(recorder.received) == count
